"""The lineage as a drawing: parents above children, one row per depth, as plain data. Pure.

Roots are placed side by side, those with descendants first; each lower node goes under the mean
position of its parents (the barycentre, the usual first step of a layered graph drawing), or just
right of its row's previous node when that place is taken, so most edges run down, not across.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 168, 40, 16, 56, 8


@dataclass(frozen=True)
class Node:
    name: str
    state: str
    state_label: str
    depth: int
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    parent: str
    child: str
    active: bool  # part of a running cascade: both ends in it (see _cascade)


@dataclass(frozen=True)
class Lineage:
    generated_at: datetime
    width: int
    height: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def layout(graph, rows: dict, now: datetime) -> Lineage:
    """`graph`: the catalog's LineageGraph; `rows`: name -> TemplateRow (for the state)."""
    layers: list[list[str]] = []
    for name in sorted(graph.names):
        depth = graph.depth(name)
        layers.extend([] for _ in range(depth + 1 - len(layers)))
        layers[depth].append(name)
    step = NODE_W + GAP_X
    x: dict[str, float] = {}
    for depth, layer in enumerate(layers):
        if depth == 0:  # roots: families first, side by side, in the order of their first descendant
            layer.sort(key=lambda n: (min(graph.descendants(n), default="~"), n))
            x.update((name, float(MARGIN + index * step)) for index, name in enumerate(layer))
            continue
        wanted = {name: _mean([x[p] for p in graph.parents(name)]) for name in layer}
        layer.sort(key=lambda n: (wanted[n], n))
        free = float(MARGIN)
        for name in layer:  # under its parents, or right of the node placed before it
            x[name] = max(wanted[name], free)
            free = x[name] + step
    nodes = tuple(
        Node(name, rows[name].state, rows[name].state_label, depth, round(x[name]), MARGIN + depth * (NODE_H + GAP_Y))
        for depth, layer in enumerate(layers)
        for name in layer
    )
    cascade = _cascade(graph, {n.name: n.state for n in nodes})
    edges = tuple(
        Edge(parent, child, parent in cascade and child in cascade)
        for child in sorted(graph.names)
        for parent in sorted(graph.parents(child))
    )
    width = MARGIN + max((n.x + NODE_W for n in nodes), default=NODE_W)
    height = 2 * MARGIN + len(layers) * (NODE_H + GAP_Y) - GAP_Y
    return Lineage(now, width, max(height, NODE_H), nodes, edges)


def _cascade(graph, state: dict[str, str]) -> set[str]:
    """The running cascades: each building template, with its descendants that wait for a parent
    (a template waiting behind a parent that is only due, not building, is not part of one)."""
    building = {name for name, s in state.items() if s == "building"}
    return building | {name for name, s in state.items() if s == "waiting" and graph.ancestors(name) & building}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
