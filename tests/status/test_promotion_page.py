"""Staged versions on the status page: the overview's state, the template page's section, and its
promote, reject and rollback forms (admin level), on the lineage world through the real service layer."""

from __future__ import annotations

import json

import pytest

from aibtrigger.domain.promotion import STAGED
from aibtrigger.status import gather, web
from aibtrigger.status.html_page import Links
from tests.lineage_world import World
from tests.unit.test_promotions import run_of, world_with

LINKS = Links("/api/status", "master&key")


def build_base(world: World, version: str) -> None:
    """The marketplace publishes `version`; base builds from it (its run is staged when gated)."""
    world.patch("jammy", version)
    world.sweep()
    world.requests()
    world.settle("base")
    world.deliver_all_events()
    world.requests()


@pytest.fixture
def manual() -> World:
    """base (manual promotion) promoted once, then built again: its newest run is staged."""
    world = world_with({"mode": "manual"})
    build_base(world, "1.0.1")
    return world


def row(world: World, name: str = "base"):
    return next(r for r in gather.overview(world.deps).templates if r.name == name)


# --- the overview ----------------------------------------------------------------------------------
def test_a_template_whose_newest_run_is_staged_is_shown_staged_and_counted(manual):
    assert run_of(manual).promotion["state"] == STAGED
    view = gather.overview(manual.deps)
    states = {r.name: (r.state, r.state_label) for r in view.templates}
    assert states["base"] == ("staged", "Staged for promotion")
    assert states["web"][0] != "staged"
    assert view.counts["staged"] == 1
    data = json.loads(web.overview(manual.deps, accept="application/json", links=LINKS).body)
    assert data["counts"]["staged"] == 1
    assert next(t for t in data["templates"] if t["name"] == "base")["state"] == "staged"
    html = web.overview(manual.deps, accept=None, links=LINKS).body
    assert '<tr class="st-staged" data-template="base">' in html and 'data-count="staged">1<' in html


def test_an_earlier_staged_run_keeps_the_template_staged_after_a_newer_one_is_promoted(manual):
    from aibtrigger.service_layer.promotions import promote

    earlier = run_of(manual).run_id
    manual.clock.advance(hours=1)
    build_base(manual, "1.0.2")
    newer = run_of(manual)
    assert newer.run_id != earlier and newer.promotion["state"] == STAGED
    promote(newer.run_id, manual.deps, by="alice", why="the newer one")
    assert row(manual).state == "staged"  # the earlier one still waits for a decision
    promote(earlier, manual.deps, by="alice", why="that one too")
    assert row(manual).state != "staged"


def test_promoting_the_staged_run_ends_the_staged_state(manual):
    from aibtrigger.service_layer.promotions import promote

    promote(run_of(manual).run_id, manual.deps, by="alice", why="ok")
    assert row(manual).state not in ("staged", "failing")
