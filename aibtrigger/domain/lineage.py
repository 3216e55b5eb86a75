"""The image lineage: which template's output is which template's source, derived from the definitions.

A template whose source is a gallery image (`SharedImageVersion`, any version) that another template
distributes to (`SharedImage` distributor) is that template's child. The edge exists whether the
child tracks `/versions/latest` or pins a version: the dependency is structural (a pinned child
still depends on its parent's image), only the cascade (planner) looks at pinning. Gallery image ids
are compared case-insensitively, as Azure resource ids are.

A template whose source is its own output image (it builds the next version of its image from an
earlier one) is *self-sourced*: that is no cycle, and it is not its own parent. A cycle needs two
templates or more.

Duck-typed on the catalog (`.templates`, each with `.name` and `.definition`), so it needs no
pydantic. Entries without a definition (aib backend, `resource_id` only) have no known lineage.
"""

from __future__ import annotations

from collections.abc import Iterable

from aibtrigger.errors import CatalogError


def gallery_source(definition) -> str | None:
    """The gallery image (lower-cased id, no `/versions/...`) a definition builds from, if any."""
    source = getattr(definition, "source", None)
    image = getattr(source, "gallery_image_id", None)
    return image.lower() if image else None


def gallery_outputs(definition) -> tuple[str, ...]:
    """The gallery images (lower-cased ids, no `/versions/...`) a definition distributes to."""
    return tuple(
        getattr(d, "gallery_image", d.galleryImageId).lower()
        for d in getattr(definition, "distribute", None) or ()
        if getattr(d, "type", None) == "SharedImage"
    )


def is_self_sourced(definition) -> bool:
    """Whether the definition builds from a version of a gallery image it distributes to."""
    source = gallery_source(definition)
    return source is not None and source in gallery_outputs(definition)


class LineageGraph:
    """Parents and children of each template; ancestry and depth computed on demand, then memoized."""

    def __init__(self, names: Iterable[str], edges: Iterable[tuple[str, str]]):
        self.names: tuple[str, ...] = tuple(names)
        parents: dict[str, set[str]] = {n: set() for n in self.names}
        children: dict[str, set[str]] = {n: set() for n in self.names}
        for parent, child in edges:
            parents[child].add(parent)
            children[parent].add(child)
        # Frozen once, handed out as they are: the planner asks for parents 10,000 times a sweep.
        self._parents = {n: frozenset(p) for n, p in parents.items()}
        self._children = {n: frozenset(c) for n, c in children.items()}
        self._ancestors: dict[str, frozenset[str]] = {}
        self._descendants: dict[str, frozenset[str]] = {}
        self._depth: dict[str, int] = {}

    @classmethod
    def from_catalog(cls, catalog) -> LineageGraph:
        producers: dict[str, list[str]] = {}
        for entry in catalog.templates:
            for image in gallery_outputs(entry.definition):
                producers.setdefault(image, []).append(entry.name)
        edges = [
            (parent, entry.name)
            for entry in catalog.templates
            for parent in producers.get(gallery_source(entry.definition) or "", ())
            if parent != entry.name
        ]  # self-sourced: not its own parent
        return cls((entry.name for entry in catalog.templates), edges)

    def parents(self, name: str) -> frozenset[str]:
        return self._parents[name]

    def children(self, name: str) -> frozenset[str]:
        return self._children[name]

    def ancestors(self, name: str) -> frozenset[str]:
        if name not in self._ancestors:
            self._ancestors[name] = _reach(name, self._parents)
        return self._ancestors[name]

    def descendants(self, name: str) -> frozenset[str]:
        if name not in self._descendants:
            self._descendants[name] = _reach(name, self._children)
        return self._descendants[name]

    def depth(self, name: str) -> int:
        """0 for a template with no parent; else one more than its deepest parent (longest path)."""
        if name not in self._depth:
            expanded, stack = set(), [name]  # iterative: a deep lineage must not hit the recursion limit
            while stack:
                current = stack.pop()
                if current in self._depth:
                    continue
                pending = [p for p in self._parents[current] if p not in self._depth]
                if not pending:
                    self._depth[current] = 1 + max((self._depth[p] for p in self._parents[current]), default=-1)
                elif current in expanded:  # back with parents still unresolved: they lead to itself
                    raise CatalogError(f"lineage cycle through {current!r}")
                else:
                    expanded.add(current)
                    stack.append(current)
                    stack.extend(pending)
        return self._depth[name]

    def waves(self, templates: Iterable[str]) -> list[list[str]]:
        """Topological layers of `templates`: each builds after every ancestor of it in the set.

        Wave 0 holds the templates with no ancestor among the set (not just no parent: with
        a -> b -> c and the set {a, c}, c still comes after a). Names are sorted within a wave.
        """
        members = set(templates)
        wave: dict[str, int] = {}
        for name in sorted(members, key=self.depth):  # an ancestor always has a smaller depth
            wave[name] = 1 + max((wave[a] for a in self.ancestors(name) if a in members), default=-1)
        layers: list[list[str]] = [[] for _ in range(1 + max(wave.values(), default=-1))]
        for name in sorted(wave):
            layers[wave[name]].append(name)
        return layers

    def find_cycle(self) -> list[str] | None:
        """One cycle as parent -> child names, closed (`[a, b, c, a]`); None when the graph is acyclic."""
        state: dict[str, int] = {}  # absent: unseen, 1: on the current path, 2: done
        for root in sorted(self.names):
            if root in state:
                continue
            path, stack = [root], [iter(sorted(self._children[root]))]
            state[root] = 1
            while stack:
                child = next(stack[-1], None)
                if child is None:
                    state[path.pop()] = 2
                    stack.pop()
                elif state.get(child) == 1:
                    return path[path.index(child) :] + [child]
                elif child not in state:
                    state[child] = 1
                    path.append(child)
                    stack.append(iter(sorted(self._children[child])))
        return None


def validate_lineage(catalog) -> LineageGraph:
    """The catalog's lineage graph; raises CatalogError naming the cycle when there is one."""
    graph = LineageGraph.from_catalog(catalog)
    cycle = graph.find_cycle()
    if cycle:
        raise CatalogError(
            "lineage cycle: "
            + " -> ".join(cycle)
            + " (each template's source is the gallery image the previous one distributes to)"
        )
    return graph


def _reach(start: str, links: dict[str, frozenset[str]]) -> frozenset[str]:
    seen: set[str] = set()
    stack = list(links[start])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(links[current])
    seen.discard(start)  # only a cycle would bring it back; find_cycle reports that
    return frozenset(seen)
