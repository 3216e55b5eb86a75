"""Prune against a world that moves while it works (tests/lineage_world.py): a rollback between the
listing and the deletions, a child pinned to a version, a child building from one."""

from __future__ import annotations

from aibtrigger.service_layer.promotions import rollback
from aibtrigger.service_layer.retention import prune
from aibtrigger.service_layer.versions import template_versions
from tests.lineage_world import IMAGES, World, gallery, marketplace, template

BASE = IMAGES + "base/versions/"


def build_base(world: World, version: str) -> None:
    world.patch("jammy", version)
    world.sweep()
    world.requests()
    world.settle("base")
    world.deliver_all_events()
    world.requests()
    while world.building():
        world.settle(world.building()[0])
        world.deliver_all_events()
        world.requests()


def three_versions_of_base() -> World:
    """base 1.0.1 and 1.0.2 ten and twenty days old, 1.0.3 (latest) new; `keep: 1, min_age_days: 7`."""
    world = World(
        [
            template("base", marketplace("jammy"), retention={"keep": 1, "min_age_days": 7}),
            template("web", gallery("base")),
        ]
    )
    for version in ("1.0.0", "1.0.1"):
        build_base(world, version)
        world.clock.advance(seconds=10 * 86400)
    build_base(world, "1.0.2")
    assert world.latest("base") == BASE + "1.0.3"
    return world


def test_a_rollback_between_listing_and_deleting_does_not_leave_latest_empty(monkeypatch):
    world = three_versions_of_base()
    gallery_port, listed = world.deps.gallery, []

    def list_then_roll_back(image):
        found = type(gallery_port).list_versions(gallery_port, image)
        if "/base" in image and not listed:
            listed.append(image)  # prune has its plan: 1.0.1 and 1.0.2 superseded; now 1.0.3 is rolled back
            rollback("base", world.deps, by="alice", why="bad")
        return found

    monkeypatch.setattr(gallery_port, "list_versions", list_then_roll_back)
    [report] = prune(world.deps, ["base"])
    assert world.latest("base") == BASE + "1.0.2"  # what latest fell back to is still there
    assert [v.version for v in report.deleted] == ["1.0.1"]  # superseded then and now: it goes
    assert report.to_dict()["skipped"] == [
        {
            "version_id": BASE + "1.0.2",
            "version": "1.0.2",
            "reason": "changed since listed (now kept, current_latest: the current latest: what `latest` "
            "resolves to): left for the next prune",
        }
    ]
    assert report.errors == []
    deleted = [e["subject"] for e in world.deps.publisher.events if e["type"] == "aibtrigger.version.deleted"]
    assert deleted == [BASE + "1.0.1"]


def test_a_version_a_child_is_pinned_to_stays_while_the_pin_does():
    world = World(
        [template("base", marketplace("jammy"), retention={"keep": 1}), template("web", gallery("base", "1.0.1"))]
    )
    build_base(world, "1.0.0")
    build_base(world, "1.0.1")
    assert world.latest("base") == BASE + "1.0.2"
    [report] = prune(world.deps, ["base"])
    assert [(v.version, v.rule) for v in report.kept] == [("1.0.1", "pinned"), ("1.0.2", "current_latest")]
    assert report.deleted == [] and BASE.lower() + "1.0.1" in world.sources.gallery
    rows = {row["version"]: row["retention"]["rule"] for row in template_versions(world.deps, "base")}
    assert rows == {"1.0.1": "pinned", "1.0.2": "current_latest"}  # `versions` says what prune does


def test_the_version_an_active_build_of_a_child_reads_stays_until_it_ends():
    world = World([template("base", marketplace("jammy"), retention={"keep": 1}), template("web", gallery("base"))])
    build_base(world, "1.0.0")
    world.request("web", force=True)  # web builds from base 1.0.1 ...
    assert world.building() == ["web"] and world.builds("web")[-1].source_version == "1.0.1"
    world.patch("jammy", "1.0.1")  # ... while base makes 1.0.2
    world.sweep()
    world.requests()
    world.settle("base")
    assert world.latest("base") == BASE + "1.0.2"
    [report] = prune(world.deps, ["base"])
    assert [(v.version, v.rule, v.reason) for v in report.kept][0] == (
        "1.0.1",
        "in_use",
        "an active build of web builds from it",
    )
    assert report.deleted == []
    world.settle("web")  # its build ended: nothing reads 1.0.1 any more
    [report] = prune(world.deps, ["base"])
    assert [v.version for v in report.deleted] == ["1.0.1"]
