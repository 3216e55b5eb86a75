"""The lineage as inline SVG: one row per depth, an edge from each parent's bottom to each child's
top, the running cascade drawn thick. Each node is a link (keyboard-focusable) to its template; the
same edges follow as a list for screen readers and narrow screens. Read-only: no action here."""

from __future__ import annotations

from aibtrigger.status.html_page import Links, e, page
from aibtrigger.status.lineage_view import NODE_H, NODE_W, Lineage, Node

_CHARS = 22  # what fits in a node at 12px; the full name is in the node's tooltip and label


def render_lineage(view: Lineage, links: Links) -> str:
    at = {n.name: n for n in view.nodes}
    edges = "".join(_edge(at[edge.parent], at[edge.child], edge.active) for edge in view.edges)
    nodes = "".join(_node(node, links) for node in view.nodes)
    listing = "".join(f"<li>{e(edge.parent)} → {e(edge.child)}</li>" for edge in view.edges)  # nodes link already
    body = (
        f'<h1>Lineage</h1><p class="muted">Parents above children: a child builds from the gallery image '
        f"its parent distributes to. A running cascade (building, or waiting for a parent) is drawn thick.</p>"
        f'<div class="scroll graph"><svg xmlns="http://www.w3.org/2000/svg" width="{view.width}" '
        f'height="{view.height}" viewBox="0 0 {view.width} {view.height}" role="group" '
        f'aria-label="Lineage of {len(view.nodes)} templates, {len(view.edges)} edges">'
        f'<g aria-hidden="true">{edges}</g>{nodes}</svg></div>'
        f"<details><summary>Edges as a list ({len(view.edges)})</summary><ul>{listing}</ul></details>"
    )
    return page(
        title="Lineage", view="lineage", links=links, generated_at=view.generated_at, body=body, current="lineage"
    )


def _edge(parent: Node, child: Node, active: bool) -> str:
    x1, y1 = parent.x + NODE_W // 2, parent.y + NODE_H
    x2, y2 = child.x + NODE_W // 2, child.y
    middle = (y1 + y2) // 2
    return (
        f'<path class="edge{" active" if active else ""}" data-edge="{e(parent.name)}&gt;{e(child.name)}" '
        f'd="M{x1} {y1}C{x1} {middle} {x2} {middle} {x2} {y2}"/>'
    )


def _node(node: Node, links: Links) -> str:
    name = node.name if len(node.name) <= _CHARS else node.name[: _CHARS - 1] + "…"
    return (
        f'<a class="node st-{node.state}" data-template="{e(node.name)}" href="{e(links.template(node.name))}" '
        f'aria-label="{e(node.name)}: {e(node.state_label)}"><title>{e(node.name)}</title>'
        f'<rect x="{node.x}" y="{node.y}" width="{NODE_W}" height="{NODE_H}"/>'
        f'<text x="{node.x + 8}" y="{node.y + 16}">{e(name)}</text>'
        f'<text class="sub" x="{node.x + 8}" y="{node.y + 32}" data-k="state_label">{e(node.state_label)}</text>'
        f"</a>"
    )
