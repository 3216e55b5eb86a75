"""The lineage as a drawing: parents above children, one row per depth, as plain data. Pure.

Within a row, nodes are ordered by the mean position of their parents (one barycentre pass, the
usual first step of a layered graph drawing), so most edges run down rather than across.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 168, 40, 16, 56, 8
# A cascade is running where a build runs or a template waits for a parent in the same lineage.
ACTIVE_STATES = ("building", "waiting")


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
    active: bool  # part of a running cascade: both ends building or waiting


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
    position: dict[str, float] = {}
    for layer in layers:
        layer.sort(key=lambda n: (_mean(position[p] for p in graph.parents(n)), n))
        position.update((name, index) for index, name in enumerate(layer))
    nodes = tuple(Node(name, rows[name].state, rows[name].state_label, depth,
                       MARGIN + index * (NODE_W + GAP_X), MARGIN + depth * (NODE_H + GAP_Y))
                  for depth, layer in enumerate(layers) for index, name in enumerate(layer))
    state = {n.name: n.state for n in nodes}
    edges = tuple(Edge(parent, child, state[parent] in ACTIVE_STATES and state[child] in ACTIVE_STATES)
                  for child in sorted(graph.names) for parent in sorted(graph.parents(child)))
    width = 2 * MARGIN + max((len(layer) for layer in layers), default=0) * (NODE_W + GAP_X) - GAP_X
    height = 2 * MARGIN + len(layers) * (NODE_H + GAP_Y) - GAP_Y
    return Lineage(now, max(width, NODE_W), max(height, NODE_H), nodes, edges)


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else -1.0
