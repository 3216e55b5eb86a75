"""Rebuild decisions through real sequences (issue 11), each a named regression test.

A diamond: `app` is built from the image `web` and `api` both distribute to; both are children of
`base`, which tracks the marketplace. Driven through the real service layer on the in-memory fakes
(tests/lineage_world.py): sweeps, requests, polls, gallery events and reconciliation passes.
"""

import pytest

from aibtrigger.domain.model import RunState
from tests.lineage_world import World, diamond, gallery, marketplace, template

OLD, NEW = "22.04.1", "22.04.2"


def built_diamond(*, tagging: bool = True, **api_policy) -> World:
    """Everything built once, by the service, from 22.04.1; no event pending."""
    world = World(diamond(**api_policy), tagging=tagging)
    world.patch("jammy", OLD)
    world.request("base")
    world.settle("base")
    world.requests()
    for name in world.building():
        world.settle(name)
    world.requests()
    if world.building() == ["app"]:
        world.settle("app")
    world.deliver_all_events()
    world.requests()
    world.reconcile()
    world.started.clear()
    return world


def patched(world: World) -> World:
    """The marketplace patch: base rebuilds and succeeds; web and api are then building."""
    world.patch("jammy", NEW)
    world.sweep()
    world.requests()
    assert world.building() == ["base"]
    world.settle("base")
    world.requests()
    world.deliver_all_events()
    world.requests()
    assert world.building() == ["api", "web"]
    return world


def assert_app_built_once_after(world: World, last_parent: str) -> None:
    [app] = world.builds("app")
    assert app.at > max(s.at for s in world.started if s.template == last_parent)
    assert app.source_version == world.source_now("app")  # from the newest image of its parents


def quiesce(world: World, rounds: int = 4) -> None:
    """Deliver everything pending and reconcile until nothing moves, finishing builds as successes."""
    for _ in range(rounds):
        world.deliver_all_events()
        world.requests()
        for name in world.building():
            world.settle(name)
        world.requests()
        world.reconcile()
        world.requests()


def test_the_first_cascade_through_a_diamond_builds_app_once_after_both_parents():
    world = World(diamond())
    world.patch("jammy", OLD)
    world.request("base")
    world.settle("base")
    world.requests()
    assert world.building() == ["api", "web"]
    world.settle("web")
    world.requests()
    assert world.building() == ["api"]  # app waits for api: the same cascade
    world.settle("api")
    world.requests()
    assert world.building() == ["app"]
    quiesce(world)
    assert [s.template for s in world.started] == ["base", "web", "api", "app"] or [
        s.template for s in world.started
    ] == ["base", "api", "web", "app"]


@pytest.mark.parametrize("tagging", [True, False], ids=["tagged", "untagged"])
@pytest.mark.parametrize("order", [("web", "api"), ("api", "web")])
def test_diamond_events_delivered_as_they_come_build_app_once_after_the_last_parent(order, tagging):
    world = patched(built_diamond(tagging=tagging))
    first, last = order
    world.settle(first)
    world.deliver_all_events()  # its version's event comes while the other parent is still building
    world.requests()
    assert world.builds("app") == []
    world.settle(last)
    world.deliver_all_events()
    world.requests()
    assert_app_built_once_after(world, last)
    quiesce(world)
    assert len(world.builds("app")) == 1
    assert [len(world.builds(n)) for n in ("base", "web", "api")] == [1, 1, 1]


@pytest.mark.parametrize("tagging", [True, False], ids=["tagged", "untagged"])
def test_diamond_both_parents_events_arrive_while_both_are_still_claimed(tagging):
    world = patched(built_diamond(tagging=tagging))
    world.finish("web")
    world.finish("api")  # both wrote their versions; neither run is recorded as ended yet
    world.deliver_all_events()  # each says "wait for the other": nobody used to plan app again
    world.requests()
    assert world.builds("app") == []
    world.polls()  # both runs end: the last one to be released plans app
    world.requests()
    assert_app_built_once_after(world, "api")
    quiesce(world)
    assert len(world.builds("app")) == 1


@pytest.mark.parametrize("outcome", [RunState.FAILED, RunState.TIMED_OUT])
def test_diamond_last_parent_fails_app_builds_once_from_the_other(outcome):
    world = patched(built_diamond())
    world.settle("web")
    world.deliver_all_events()
    world.requests()
    world.settle("api", outcome)
    world.requests()
    assert_app_built_once_after(world, "api")
    quiesce(world)
    assert len(world.builds("app")) == 1 and len(world.builds("api")) == 1  # the failed input is not retried


def test_diamond_last_parent_paused_app_builds_once_after_the_other():
    world = built_diamond()
    world.catalog = world.deps.catalog = _with_policy(world.catalog, "api", paused=True)
    world.patch("jammy", NEW)
    world.sweep()
    world.requests()
    world.settle("base")
    world.deliver_all_events()
    world.requests()
    assert world.building() == ["web"]
    world.settle("web")
    world.deliver_all_events()
    world.requests()
    assert_app_built_once_after(world, "web")
    quiesce(world)
    assert len(world.builds("app")) == 1 and world.builds("api") == []


def test_diamond_the_reconciler_builds_app_when_every_edge_was_lost():
    world = patched(built_diamond())
    world.finish("web")
    world.finish("api")
    world.deps.queue.sent.clear()  # the polls are lost
    world.events.clear()  # and so are the gallery events
    world.reconcile()  # takes the runs over from their dead chains: they end, app is planned
    world.deps.queue.sent.clear()  # even that request is lost
    assert world.builds("app") == []
    for _ in range(2):
        world.reconcile()
    assert len(world.builds("app")) == 1
    quiesce(world)
    assert len(world.builds("app")) == 1


def test_a_version_event_processed_after_the_producers_hand_off_is_credited_to_the_run_that_made_it():
    """Event Grid retries while the version is not ready; by then `web` has handed off to a follow-up
    for another change. The version's own provenance names its cascade, not the claim's."""
    world = built_diamond()
    world.patch("jammy", NEW)
    world.sweep()
    world.requests()
    world.settle("base")
    world.requests()
    world.events.clear()
    [v_web] = world.finish("web")
    world.request("web")  # a person asks again while it builds: the follow-up
    world.polls()  # web ends, hands off to its follow-up (another upstream: manual)
    world.requests()
    assert world.deps.store.get_claim("web").upstream is None
    world.deliver(v_web)  # the late event of the version carrying the patch
    assert world.deps.store.list_outcomes("app")[0].detail.endswith(
        f"(upstream platform/westeurope/canonical/ubuntu/jammy@{NEW})"
    )  # its own cascade, not the claim's


def test_a_late_event_of_an_older_version_builds_nothing_twice():
    world = patched(built_diamond())
    [v_web] = world.settle("web")
    [v_api] = world.settle("api")
    world.requests()
    [app] = world.builds("app")
    world.settle("app")
    world.events.clear()
    world.deliver(v_api)
    world.deliver(v_web)  # older, delivered last, and again
    world.deliver(v_web)
    world.requests()
    quiesce(world)
    assert world.builds("app") == [app]


def _with_policy(catalog, name, **policy):
    from aibtrigger.catalog import parse_catalog

    raw = catalog.model_dump(mode="json", by_alias=True, exclude_none=True)
    for entry in raw["templates"]:
        if entry["name"] == name:
            entry["policy"] = {**entry.get("policy", {}), **policy}
    return parse_catalog(raw)


# --- schedules, excluded versions, self-sourced templates ---------------------------------------------------
DAILY = "0 0 3 * * *"


def scheduled_pair(base_schedule=DAILY, **child_policy) -> World:
    world = World(
        [
            template("base", marketplace("jammy"), schedule=base_schedule),
            template("web", gallery("base"), schedule=DAILY, **child_policy),
        ]
    )
    world.patch("jammy", OLD)
    world.sweep()
    world.tick()  # today's ticks, handled with the first builds
    quiesce(world)
    assert [s.template for s in world.started] == ["base", "web"]
    world.started.clear()
    return world


def test_a_schedule_tick_builds_the_parent_first_and_the_child_once_from_its_new_version():
    world = scheduled_pair()
    world.clock.advance(days=1)
    decisions = {d.template: d.action for d in world.tick()}
    assert decisions == {"base": "build", "web": "wait"}
    world.requests()
    assert world.building() == ["base"]  # not the child from the stale parent image at the same time
    [new_base] = world.settle("base")
    world.requests()
    quiesce(world)
    assert [s.template for s in world.started] == ["base", "web"]
    assert world.builds("web")[0].source_version == new_base.rsplit("/", 1)[-1]


def test_only_if_changed_does_not_rebuild_a_child_at_every_tick_while_its_ancestor_fails():
    world = scheduled_pair(base_schedule=None, only_if_changed=True)
    world.patch("jammy", NEW)
    world.sweep()
    world.requests()
    world.settle("base", RunState.FAILED)  # the ancestor lags behind its source from now on
    for _ in range(3):
        world.clock.advance(days=1)
        world.tick()
        quiesce(world, rounds=1)
    assert world.builds("web") == []


def test_a_version_excluded_from_latest_is_not_latest_and_triggers_nothing():
    world = built_diamond()
    excluded = world.publish_by_hand("apps", exclude_from_latest=True)
    assert world.deliver(excluded) == "planned"
    quiesce(world)
    assert world.started == []
    assert world.deps.store.get_observed().get("gallery|" + (excluded.rsplit("/versions/", 1)[0]).lower()) != "1.0.5"


def test_a_self_sourced_template_is_allowed_and_never_triggered_by_its_own_output():
    world = World([template("golden", gallery("golden"))])  # it patches its own previous image
    world.publish_by_hand("golden")  # 1.0.1, made outside the service: a fresh root change
    world.deliver()
    world.requests()
    assert world.building() == ["golden"]
    world.settle("golden")  # writes 1.0.2, tagged as its own
    quiesce(world)
    assert len(world.builds("golden")) == 1
    world.publish_by_hand("golden")  # someone publishes 1.0.3 by hand: that is new input
    quiesce(world)
    assert [s.source_version for s in world.builds("golden")] == ["1.0.1", "1.0.3"]


def test_show_and_runs_expose_the_exact_source_version_the_fingerprint_and_the_provenance(capsys):
    from aibtrigger.console import print_run, print_runs, run_dict

    world = patched(built_diamond())
    [version] = world.settle("web")
    [run] = [r for r in world.deps.store.list_runs("web") if r.state is RunState.SUCCEEDED][:1]
    shown = run_dict(run)
    assert shown["source_version"] == "1.0.2" and shown["inputs"]["version"] == "1.0.2"
    assert (
        shown["fingerprint"] == run.fingerprint == world.sources.get_version(version)["tags"]["aibtrigger.fingerprint"]
    )
    assert shown["provenance"] == {
        "run_id": run.run_id,
        "template": "web",
        "upstream": f"platform/westeurope/canonical/ubuntu/jammy@{NEW}",
        "source_version": "1.0.2",
        "fingerprint": run.fingerprint,
    }
    print_run(run, [])
    print_runs([run])
    out = capsys.readouterr().out
    assert f"fingerprint   {run.fingerprint}" in out and "provenance    run_id=" in out
    assert f"1.0.2                    {run.fingerprint}" in out


# --- found by the property test (tests/decisions_machine.py) ---------------------------------------------------
def test_a_request_made_on_a_lagging_view_does_not_retry_the_input_that_failed():
    """The sweep saw 1.0.1 of the switched source and queued a request; the reconciler's build used
    1.0.2 (the latest when it ran) and failed; the late request must not build 1.0.2 again."""
    world = World([template("t0", marketplace("jammy"))])
    world.patch("jammy", "1.0.1")
    world.patch("noble", "1.0.1")
    world.sweep()
    world.request("t0")
    world.settle("t0")
    world.deps.catalog = world.catalog = _with_source(world.catalog, "t0", marketplace("noble"))
    world.sweep()  # queues a request for noble 1.0.1
    world.patch("noble", "1.0.2")
    pending = [m for m in world.deps.queue.sent]
    world.deps.queue.sent.clear()
    world.reconcile()
    world.settle("t0", RunState.FAILED)  # built from 1.0.2
    world.deps.queue.sent.extend(pending)
    assert "skipped" in world.requests()
    assert len(world.builds("t0")) == 2


def test_an_only_if_changed_tick_queued_while_building_does_not_retry_the_input_that_failed():
    world = World([template("t0", marketplace("jammy"), schedule=DAILY, only_if_changed=True)])
    world.patch("jammy", "1.0.1")
    world.sweep()
    world.request("t0")
    world.settle("t0")
    world.patch("jammy", "1.0.2")
    world.clock.advance(days=1)
    world.tick()
    world.requests()
    world.clock.advance(days=1)
    world.tick()  # while it builds 1.0.2: its lineage still looks changed
    world.settle("t0", RunState.FAILED)
    world.requests()
    for _ in range(2):
        world.clock.advance(days=1)
        world.tick()
        quiesce(world, rounds=1)
    assert len(world.builds("t0")) == 2


def test_a_cascade_request_delivered_while_a_parent_builds_again_waits_for_that_build():
    world = built_diamond()
    world.sweep()
    world.request("web", force=True)
    world.settle("web")
    world.deliver_all_events()  # app's build for web's new version is queued...
    world.request("api", force=True)  # ...when api starts building
    world.requests()
    assert world.builds("app") == []
    skips = [o for o in world.deps.store.list_outcomes("app") if ":after:api." in o.request_id]
    assert skips and all(o.detail.startswith("waits for api, building") for o in skips)  # web's end and its event
    world.settle("api")
    world.requests()
    assert len(world.builds("app")) == 1  # once, after api, from the newest image


def test_provenance_names_the_fingerprint_of_the_exact_source_version():
    from aibtrigger.domain.fingerprint import fingerprint
    from aibtrigger.domain.provenance import with_exact_source

    inputs = {"definition": "d", "source": "gallery/x", "version": "1.0.3"}
    made = with_exact_source({"run_id": "r", "fingerprint": fingerprint(inputs), "inputs": inputs}, "/x/versions/1.0.4")
    assert made["source_version"] == "1.0.4" and made["fingerprint"] == fingerprint({**inputs, "version": "1.0.4"})


def _with_source(catalog, name, source):
    from aibtrigger.catalog import parse_catalog

    raw = catalog.model_dump(mode="json", by_alias=True, exclude_none=True)
    for entry in raw["templates"]:
        if entry["name"] == name:
            entry["definition"]["source"] = source
    return parse_catalog(raw)


def test_a_tick_that_waited_behind_a_failed_build_does_not_retry_its_inputs_when_the_source_was_never_observed():
    """Switched to a source no sweep has read yet: the service knows its version only from the build
    that used it. A tick that joined that build's follow-up must not build the failed input again."""
    world = World([template("t0", marketplace("jammy"), schedule=DAILY, only_if_changed=True)])
    world.patch("jammy", "1.0.1")
    world.patch("noble", "1.0.1")
    world.sweep()
    world.request("t0")
    world.settle("t0")
    world.patch("jammy", "1.0.2")
    world.clock.advance(days=1)
    world.tick()
    world.clock.advance(days=1)
    world.tick()  # two ticks queued
    world.deps.catalog = world.catalog = _with_source(world.catalog, "t0", marketplace("noble"))
    world.requests()  # the first builds noble 1.0.1, the second waits in its follow-up
    world.finish("t0", RunState.FAILED)
    world.reconcile()
    assert len(world.builds("t0")) == 2 and world.building() == []


def test_a_source_switched_back_and_forth_in_the_catalog_is_rebuilt_each_time():
    """The reconciler's request for "switched jammy -> noble" had the same id the second time: its first
    outcome stood, and the template was never rebuilt for the second switch."""
    world = World([template("t0", marketplace("jammy"))])
    world.patch("jammy", "1.0.1")
    world.patch("noble", "1.0.1")
    world.sweep()
    world.request("t0")
    world.settle("t0")
    for sku in ("noble", "jammy", "noble"):
        world.deps.catalog = world.catalog = _with_source(world.catalog, "t0", marketplace(sku))
        world.sweep()
        quiesce(world)
    assert [s.source_version for s in world.builds("t0")] == ["1.0.1"] * 4
    assert world.builds("t0")[-1].inputs_fingerprint in world.success_fingerprints("t0")


def test_a_hand_made_gallery_version_whose_event_is_lost_is_found_by_the_sweep():
    """Galleries are read like the marketplace: the lost event's build happens at the next sweep, once."""
    world = World([template("web", gallery("golden")), template("other", marketplace("noble"))])
    world.publish_by_hand("golden")
    world.deliver_all_events()
    world.request("web")
    world.settle("web")
    newer = world.publish_by_hand("golden")
    world.events.clear()  # Event Grid gave up on it
    world.sweep()
    world.requests()
    world.settle("web")
    world.sweep()
    world.deliver(newer)  # a late delivery after all: nothing more
    world.requests()
    assert [b.source_version for b in world.builds("web")] == ["1.0.1", "1.0.2"]


def test_a_waiting_child_claim_is_not_started_by_the_reconciler_while_its_parent_builds():
    """Found by the decisions machine: web's claim waited to start (its previous run's follow-up)
    when golden's scheduled refresh began; the reconciler's repair then started web from the golden
    image being replaced. A claim now waits for a building parent, as a request does."""
    from tests.decisions_machine import DecisionsMachine

    machine = DecisionsMachine()
    machine.build_the_lineage(pick=sorted(machine.lineages()).index("self-sourced"), scheduled={0})
    machine.someone_publishes_golden_by_hand()
    machine.a_gallery_event_arrives(keep=False, pick=0)
    machine.the_reconciler_runs()
    machine.a_day_passes_and_schedules_tick()
    machine.someone_publishes_golden_by_hand()
    machine.the_reconciler_runs()
    machine.the_reconciler_runs()
    machine.a_day_passes_and_schedules_tick()
    machine.the_reconciler_runs()
    machine.teardown()  # quiesces, and checks every build start on the way
    assert machine.violations == []
