"""The lineage graph, derived from the definitions: parents, ancestry, waves, cycles."""

from types import SimpleNamespace

import pytest

from aibtrigger.catalog import TemplateDefinition
from aibtrigger.domain.lineage import LineageGraph, validate_lineage
from aibtrigger.errors import CatalogError

IMAGES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/golden/images/"
UBUNTU = {"type": "PlatformImage", "publisher": "Canonical", "offer": "ubuntu", "sku": "22_04", "version": "latest"}


def from_image(image, version="latest"):
    return {"type": "SharedImageVersion", "imageVersionId": f"{IMAGES}{image}/versions/{version}"}


def entry(name, source=UBUNTU, outputs=None):
    outputs = [name] if outputs is None else outputs
    definition = TemplateDefinition.model_validate(
        {
            "source": source,
            "distribute": [{"type": "SharedImage", "galleryImageId": IMAGES + o, "runOutputName": o} for o in outputs],
        }
    )
    return SimpleNamespace(name=name, location="westeurope", definition=definition)


def graph(*entries):
    return LineageGraph.from_catalog(SimpleNamespace(templates=list(entries)))


# base -> web -> shop ; base -> api ; (base, alt) -> both distribute to "shared" -> app
FAMILY = graph(
    entry("base"),
    entry("web", from_image("base")),
    entry("shop", from_image("WEB")),  # case-insensitive
    entry("api", from_image("base", "1.0.2")),  # pinned: still a child
    entry("alt", outputs=["shared"]),
    entry("other", outputs=["shared", "other"]),
    entry("app", from_image("shared")),
    entry("lonely", from_image("not-built-here")),
)


@pytest.mark.parametrize(
    "name, parents, children, ancestors, descendants",
    [
        ("base", set(), {"web", "api"}, set(), {"web", "api", "shop"}),
        ("web", {"base"}, {"shop"}, {"base"}, {"shop"}),
        ("shop", {"web"}, set(), {"web", "base"}, set()),
        ("api", {"base"}, set(), {"base"}, set()),
        ("app", {"alt", "other"}, set(), {"alt", "other"}, set()),
        ("lonely", set(), set(), set(), set()),  # its image is made outside the catalog
    ],
)
def test_relations(name, parents, children, ancestors, descendants):
    assert FAMILY.parents(name) == parents
    assert FAMILY.children(name) == children
    assert FAMILY.ancestors(name) == ancestors
    assert FAMILY.descendants(name) == descendants


@pytest.mark.parametrize("name, depth", [("base", 0), ("web", 1), ("shop", 2), ("app", 1), ("lonely", 0)])
def test_depth_is_the_longest_path_from_a_root(name, depth):
    assert FAMILY.depth(name) == depth


@pytest.mark.parametrize(
    "members, expected",
    [
        ({"base", "web", "shop", "api"}, [["base"], ["api", "web"], ["shop"]]),
        ({"base", "shop"}, [["base"], ["shop"]]),  # an ancestor outside the set still orders its descendants
        ({"shop", "app", "lonely"}, [["app", "lonely", "shop"]]),
        (set(), []),
    ],
)
def test_waves(members, expected):
    assert FAMILY.waves(members) == expected


def test_an_entry_without_definition_has_no_lineage():
    remote = SimpleNamespace(name="remote", definition=None)  # aib backend: only a resource_id
    g = LineageGraph.from_catalog(SimpleNamespace(templates=[entry("base"), remote]))
    assert g.parents("remote") == set() and g.children("base") == set()


@pytest.mark.parametrize(
    "entries, cycle",
    [
        ([entry("a", from_image("c")), entry("b", from_image("a")), entry("c", from_image("b"))], ["a", "b", "c", "a"]),
        ([entry("self", from_image("self"))], None),  # self-sourced: its next version from an earlier one
        ([entry("a", from_image("b"), outputs=["a", "b"]), entry("b", from_image("a"))], ["a", "b", "a"]),
        (
            [entry("root"), entry("x", from_image("y")), entry("y", from_image("x", "1.0.0"))],
            ["x", "y", "x"],
        ),  # pinned too
        ([entry("base"), entry("web", from_image("base"))], None),
    ],
)
def test_find_cycle(entries, cycle):
    assert graph(*entries).find_cycle() == cycle


@pytest.mark.parametrize("version", ["latest", "1.0.0"])
def test_a_self_sourced_template_is_not_its_own_parent_and_still_has_children(version):
    g = graph(entry("self", from_image("self", version)), entry("child", from_image("self")))
    assert g.parents("self") == set() and g.ancestors("self") == set()
    assert g.children("self") == {"child"} and g.depth("child") == 1
    assert g.find_cycle() is None


def test_a_versioned_output_is_the_gallery_image_it_writes_to():
    versioned = {"type": "SharedImage", "galleryImageId": IMAGES + "base/versions/2.0.0", "runOutputName": "base"}
    base = SimpleNamespace(
        name="base",
        location="westeurope",
        definition=TemplateDefinition.model_validate({"source": UBUNTU, "distribute": [versioned]}),
    )
    assert graph(base, entry("web", from_image("base"))).children("base") == {"web"}


def test_validate_lineage_names_the_cycle():
    catalog = SimpleNamespace(
        templates=[entry("a", from_image("c")), entry("b", from_image("a")), entry("c", from_image("b")), entry("free")]
    )
    with pytest.raises(CatalogError, match=r"lineage cycle: a -> b -> c -> a"):
        validate_lineage(catalog)


def test_validate_lineage_returns_the_graph_when_acyclic():
    catalog = SimpleNamespace(templates=[entry("base"), entry("web", from_image("base"))])
    assert validate_lineage(catalog).children("base") == {"web"}


def test_a_deep_chain_does_not_recurse():
    chain = [entry("t0")] + [entry(f"t{i}", from_image(f"t{i - 1}")) for i in range(1, 1500)]
    g = graph(*chain)
    assert g.depth("t1499") == 1499 and len(g.ancestors("t1499")) == 1499
