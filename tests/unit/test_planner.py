"""The planner, table-driven: each reason and each policy, for each signal."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from aibtrigger.catalog import TemplateDefinition, parse_catalog
from aibtrigger.domain.planner import needs_auto_disable, plan
from aibtrigger.domain.planner_index import PlannerIndex
from aibtrigger.domain.planner_types import (
    BUILD,
    SKIP,
    WAIT,
    Manual,
    ParentSucceeded,
    ScheduleTick,
    SourceChanged,
    Sweep,
    TemplateHistory,
    gallery_key,
    platform_key,
    source_key,
    upstream_id,
)
from aibtrigger.errors import UnknownTemplateError

UTC = UTC
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # Wednesday noon
YESTERDAY = NOW - timedelta(days=1)
IMAGES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/golden/images/"
OFFER, SKU = "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"
LABEL = f"Canonical:{OFFER}:{SKU}"
JAMMY = platform_key("westeurope", "Canonical", OFFER, SKU)
OLD, NEW = "22.04.202410020", "22.04.202411050"


def platform(version="latest", sku=SKU):
    return {"type": "PlatformImage", "publisher": "Canonical", "offer": OFFER, "sku": sku, "version": version}


def from_image(image, version="latest"):
    return {"type": "SharedImageVersion", "imageVersionId": f"{IMAGES}{image}/versions/{version}"}


def entry(name, source=None, outputs=None, **policy):
    """A catalog entry: a real definition, and a policy carrying the fields the planner reads."""
    outputs = [name] if outputs is None else outputs
    definition = TemplateDefinition.model_validate(
        {
            "source": source or platform(),
            "distribute": [{"type": "SharedImage", "galleryImageId": IMAGES + o, "runOutputName": o} for o in outputs],
        }
    )
    fields = dict(
        paused=False, schedule=None, only_if_changed=False, maintenance_window=None, max_consecutive_failures=5
    )
    return SimpleNamespace(
        name=name, location="westeurope", definition=definition, policy=SimpleNamespace(**{**fields, **policy})
    )


def catalog(*entries):
    return SimpleNamespace(templates=list(entries))


def built(version, at=YESTERDAY, **more):
    return TemplateHistory(last_success_at=at, last_success_source_version=version, **more)


def run(cat, signal, history=None, observed=None, now=NOW):
    return plan(cat, observed=observed or {}, history=history or {}, now=now, signal=signal)


def only(decisions):
    assert len(decisions) == 1, decisions
    return decisions[0]


def summary(decisions):
    return [(d.template, d.action, d.wave) for d in decisions]


# --- rules 1 and 2: source versions (tracking latest, pinned) ------------------------------------------
@pytest.mark.parametrize(
    "source, history, observed, action, reason",
    [
        (
            platform(),
            built(OLD),
            NEW,
            BUILD,
            f"{LABEL} went {OLD} -> {NEW} in westeurope; last successful build used {OLD}",
        ),
        (
            platform(),
            built(NEW),
            NEW,
            SKIP,
            f"up to date: {LABEL} in westeurope is {NEW}; last successful build used {NEW}",
        ),
        (
            platform(),
            built(NEW),
            OLD,
            SKIP,  # observed older than used (a withdrawn version): nothing newer
            f"up to date: {LABEL} in westeurope is {OLD}; last successful build used {NEW}",
        ),
        (platform(), built("9.0.9"), "10.0.0", BUILD, f"{LABEL} went 9.0.9 -> 10.0.0 in westeurope"),  # numeric
        # A sweep promises no first build: nothing starts one by itself (a new version, a tick or a person does).
        (platform(), None, NEW, SKIP, f"never built; {LABEL} in westeurope is at {NEW}"),
        (platform(), None, None, SKIP, "never built"),
        (platform(), built(OLD), None, SKIP, f"no version of {LABEL} in westeurope observed yet"),
        (platform(), built(None), NEW, SKIP, "the last successful build (2026-11-17 12:00) did not record its source"),
        (
            platform(OLD),
            built(OLD),
            NEW,
            SKIP,
            f"pinned to {OLD}; newer version {NEW} available ({LABEL} in westeurope)",
        ),
        (platform(OLD), built(OLD), OLD, SKIP, f"pinned to {OLD}"),
        (platform(OLD), None, NEW, SKIP, f"pinned to {OLD}; newer version {NEW}"),  # pinned never triggers
        (
            from_image("other", "1.0.2"),
            built("1.0.2"),
            "1.0.3",
            SKIP,
            "pinned to 1.0.2; newer version 1.0.3 available (gallery image golden/other)",
        ),
        (
            from_image("other"),
            built("1.0.2"),
            "1.0.3",
            BUILD,
            "gallery image golden/other went 1.0.2 -> 1.0.3; last successful build used 1.0.2",
        ),
        (
            from_image("other"),
            built(IMAGES + "other/versions/1.0.3"),
            IMAGES + "other/versions/1.0.3",
            SKIP,
            "up to date: gallery image golden/other is 1.0.3; last successful build used 1.0.3",
        ),
        (
            {"type": "ManagedImage", "imageId": "/subscriptions/s/images/m"},
            None,
            None,
            SKIP,
            "source is a managed image (it has no versions to track)",
        ),
    ],
)
def test_source_rules_in_a_sweep(source, history, observed, action, reason):  # as `aibtrigger plan` shows them
    t = entry("t", source)
    key = source_key(t)
    decision = only(
        run(catalog(t), Sweep(NOW), {"t": history} if history else {}, {key: observed} if observed and key else {})
    )
    assert decision.action == action
    assert decision.reasons[0].startswith(reason), decision.reasons


def test_a_build_carries_the_upstream_change_it_is_for():
    decision = only(run(catalog(entry("t")), Sweep(NOW), {"t": built(OLD)}, {JAMMY: NEW}))
    assert decision.evidence["upstream"] == upstream_id(JAMMY, NEW)
    assert (decision.evidence["observed"], decision.evidence["used"]) == (NEW, OLD)
    json.dumps(decision.to_dict())  # decisions are recorded and published as JSON


def test_a_self_sourced_template_builds_on_request():
    """Whether a new version of its own image is its own output is told by the version's provenance, in
    the service layer (tests/unit/test_lineage_sequences.py); the planner builds it on request."""
    cat = catalog(entry("golden", from_image("golden")), entry("child", from_image("golden")))
    history = {"golden": built("1.0.1"), "child": built("1.0.1")}
    assert only(run(cat, Manual("golden", "please", "me"), history)).action == BUILD


# --- SourceChanged: the users of that source, and the cascade below them ---------------------------------
FAMILY = catalog(
    entry("ubuntu-base"),
    entry("other-sku", platform(sku="20_04")),
    entry("web-tier", from_image("ubuntu-base")),
    entry("shop", from_image("web-tier")),
    entry("pinned-app", from_image("ubuntu-base", "1.0.1")),
)
FAMILY_BUILT = {
    "ubuntu-base": built(OLD),
    "other-sku": built(OLD),
    "web-tier": built("1.0.2"),
    "shop": built("3.0.0"),
    "pinned-app": built("1.0.1"),
}


def test_source_changed_decides_its_users_and_lists_the_cascade_in_waves():
    decisions = run(FAMILY, SourceChanged(JAMMY, OLD, NEW), FAMILY_BUILT)
    assert summary(decisions) == [("ubuntu-base", BUILD, 0), ("web-tier", WAIT, 1), ("shop", WAIT, 2)]
    assert decisions[0].reasons == (f"{LABEL} went {OLD} -> {NEW} in westeurope; last successful build used {OLD}",)
    assert decisions[1].reasons[0].startswith("waits for ubuntu-base to rebuild first (cascade from " + LABEL)
    assert decisions[2].reasons[0].startswith("waits for web-tier to rebuild first")


def test_a_duplicate_source_change_builds_nothing_and_cascades_nothing():
    history = {**FAMILY_BUILT, "ubuntu-base": built(NEW)}
    decisions = run(FAMILY, SourceChanged(JAMMY, OLD, NEW), history)
    assert summary(decisions) == [("ubuntu-base", SKIP, 0)]


def test_a_source_nobody_uses_decides_nothing():
    assert run(FAMILY, SourceChanged(platform_key("northeurope", "x", "y", "z"), None, "1.0"), FAMILY_BUILT) == []


def test_a_user_whose_parent_is_building_waits_for_it():
    cat = catalog(entry("base"), entry("child", from_image("base")))
    history = {"base": built(OLD, active=True), "child": built("1.0.2")}
    decision = only(run(cat, SourceChanged(gallery_key(IMAGES + "base"), "1.0.2", "1.0.3"), history))
    assert decision.action == WAIT and "waits for base, still building" in decision.reasons[-1]


# --- rule 4: lineage cascade on a parent's success ----------------------------------------------------------
V103 = IMAGES + "ubuntu-base/versions/1.0.3"
UPSTREAM = upstream_id(JAMMY, NEW)


@pytest.mark.parametrize(
    "child_history, action, reason",
    [
        (built("1.0.2"), BUILD, f"parent ubuntu-base succeeded: new version {V103}"),
        (None, BUILD, f"parent ubuntu-base succeeded: new version {V103}"),
        (
            built("1.0.3"),
            SKIP,
            "up to date: gallery image golden/ubuntu-base is 1.0.3; last successful build used 1.0.3",
        ),
        # Rebuilt for the same upstream change from an older version of the parent: the newer one still counts
        # (the credited cascade used to say "already rebuilt" and skip the version carrying the patch).
        (built("1.0.2", last_success_upstream=UPSTREAM), BUILD, f"parent ubuntu-base succeeded: new version {V103}"),
    ],
)
def test_parent_succeeded(child_history, action, reason):
    history = {**FAMILY_BUILT, "web-tier": child_history} if child_history else {"ubuntu-base": built(NEW)}
    decisions = run(FAMILY, ParentSucceeded("ubuntu-base", V103, UPSTREAM, JAMMY), history)
    web = next(d for d in decisions if d.template == "web-tier")
    assert (web.action, web.reasons[0], web.wave) == (action, reason, 1)
    assert web.evidence["upstream"] == UPSTREAM  # the child's build carries the cascade on
    shop = [d for d in decisions if d.template == "shop"]
    assert [d.action for d in shop] == ([WAIT] if action == BUILD else [])  # listed in wave 2 only behind a build
    pinned = next(d for d in decisions if d.template == "pinned-app")
    assert pinned.action == SKIP and pinned.reasons[0] == (
        "pinned to 1.0.1; newer version 1.0.3 available (parent ubuntu-base succeeded)"
    )


def test_an_output_image_the_child_does_not_use_builds_nothing():
    cat = catalog(entry("base", outputs=["base", "base-fips"]), entry("web", from_image("base")))
    assert run(cat, ParentSucceeded("base", IMAGES + "base-fips/versions/2.0.0", UPSTREAM), {"web": built("1.0")}) == []


# Two templates distribute to the same gallery image "shared": "app" has two parents.
def diamond(**p2_policy):
    return catalog(
        entry("p1", outputs=["shared"]),
        entry("p2", outputs=["shared"], **p2_policy),
        entry("p3", platform(sku="other"), outputs=["shared"]),
        entry("app", from_image("shared")),
    )


SHARED_105 = IMAGES + "shared/versions/1.0.5"


@pytest.mark.parametrize(
    "p2_history, p2_policy, root, action",
    [
        (built(OLD), {}, JAMMY, WAIT),  # p2 is downstream of the change and has not rebuilt for it yet
        (built(NEW, last_upstream=UPSTREAM, last_success_upstream=UPSTREAM), {}, JAMMY, BUILD),  # p2 done
        (built(OLD, last_upstream=UPSTREAM, consecutive_failures=1), {}, JAMMY, BUILD),  # p2 failed: no wait
        (built(OLD, active=True), {}, None, WAIT),  # root unknown: only a running parent holds it back
        (built(OLD), {}, None, BUILD),
        (built(OLD), {"paused": True}, JAMMY, BUILD),  # a paused parent will not rebuild
        (built(OLD, consecutive_failures=5), {}, JAMMY, BUILD),  # nor a disabled one
    ],
)
def test_a_child_of_several_parents_waits_for_those_rebuilding_for_the_same_change(p2_history, p2_policy, root, action):
    history = {"p1": built(NEW), "p2": p2_history, "p3": built("1"), "app": built("1.0.4")}
    decisions = run(diamond(**p2_policy), ParentSucceeded("p1", SHARED_105, UPSTREAM, root), history)
    app = only(decisions)
    assert app.action == action
    if action == WAIT:
        assert app.reasons[1] == f"waits for p2, also rebuilding for {UPSTREAM}: builds once, after the last"


def test_a_child_of_several_parents_builds_once_after_the_last_of_them():
    history = {"p1": built(OLD), "p2": built(OLD), "p3": built("1"), "app": built("1.0.4")}
    first = run(diamond(), SourceChanged(JAMMY, OLD, NEW), history)
    assert summary(first) == [("p1", BUILD, 0), ("p2", BUILD, 0), ("app", WAIT, 1)]
    done = dict(last_upstream=UPSTREAM, last_success_upstream=UPSTREAM)
    history |= {"p1": built(NEW, **done)}
    after_p1 = only(run(diamond(), ParentSucceeded("p1", SHARED_105, UPSTREAM, JAMMY), history))
    history |= {"p2": built(NEW, **done)}
    after_p2 = only(run(diamond(), ParentSucceeded("p2", IMAGES + "shared/versions/1.0.6", UPSTREAM, JAMMY), history))
    assert (after_p1.action, after_p2.action) == (WAIT, BUILD)


# --- rule 3: schedules ---------------------------------------------------------------------------------------
DAILY = "0 0 3 * * *"
TICK = "2026-11-18T03:00:00+00:00"


@pytest.mark.parametrize(
    "policy, history, observed, action, reasons",
    [
        (
            {},
            built(NEW, last_schedule_tick=YESTERDAY.replace(hour=3)),
            {JAMMY: NEW},
            BUILD,
            (f"scheduled refresh (tick {TICK})",),
        ),
        (
            {"only_if_changed": True},
            built(NEW, last_schedule_tick=YESTERDAY),
            {JAMMY: NEW},
            SKIP,
            (f"scheduled tick {TICK}: nothing changed since the last successful build ({YESTERDAY.isoformat()})",),
        ),
        (
            {"only_if_changed": True},
            built(OLD, last_schedule_tick=YESTERDAY),
            {JAMMY: NEW},
            BUILD,
            (f"scheduled refresh (tick {TICK}): its lineage changed", f"{LABEL} went {OLD} -> {NEW} in westeurope"),
        ),
        ({"only_if_changed": True}, None, {JAMMY: NEW}, BUILD, (f"scheduled refresh (tick {TICK}): never built",)),
        ({"only_if_changed": True, "paused": True}, built(OLD), {JAMMY: NEW}, SKIP, ("paused",)),
    ],
)
def test_schedule_tick(policy, history, observed, action, reasons):
    cat = catalog(entry("t", schedule=DAILY, **policy), entry("unscheduled"))
    decision = only(run(cat, ScheduleTick(NOW), {"t": history} if history else {}, observed))
    assert (decision.action, decision.reasons[: len(reasons)]) == (action, reasons)
    assert decision.evidence["tick"] == TICK  # the caller records the tick as handled, build or skip


@pytest.mark.parametrize(
    "last_tick, decided",
    [
        (NOW.replace(hour=3), 0),  # today's tick already handled
        (NOW - timedelta(days=7), 1),  # a week of downtime: handled once
    ],
)
def test_missed_ticks_are_handled_once(last_tick, decided):
    cat = catalog(entry("t", schedule=DAILY))
    assert len(run(cat, ScheduleTick(NOW), {"t": built(NEW, last_schedule_tick=last_tick)}, {JAMMY: NEW})) == decided


@pytest.mark.parametrize(
    "base_history, child_lineage, action",
    [
        # The ancestor's source moved on since its last build: it rebuilds first, the child after its new
        # version (building now would use the stale parent image, then build again after it).
        (built(OLD), {}, WAIT),
        (built(NEW), {}, SKIP),
        (built(NEW), {JAMMY: OLD}, BUILD),  # the child's own record of its lineage is preferred
    ],
)
def test_only_if_changed_looks_at_the_whole_lineage(base_history, child_lineage, action):
    cat = catalog(entry("base"), entry("child", from_image("base"), schedule=DAILY, only_if_changed=True))
    history = {
        "base": base_history,
        "child": built("1.0.2", last_schedule_tick=YESTERDAY, last_success_lineage=child_lineage),
    }
    decision = only(run(cat, ScheduleTick(NOW), history, {JAMMY: NEW, gallery_key(IMAGES + "base"): "1.0.2"}))
    assert decision.action == action
    if action == WAIT:
        assert decision.reasons[0].startswith("waits for base to rebuild first") and "tick" not in decision.evidence


@pytest.mark.parametrize("signal", [SourceChanged(JAMMY, OLD, NEW), Sweep(NOW)])
def test_only_if_changed_templates_build_on_their_schedule_not_on_the_change(signal):
    cat = catalog(entry("t", schedule=DAILY, only_if_changed=True))
    history = {"t": built(OLD, last_schedule_tick=NOW.replace(hour=3))}
    decision = only(run(cat, signal, history, {JAMMY: NEW}))
    assert decision.action == SKIP
    assert decision.reasons[-1] == (
        "only_if_changed: waits for the scheduled refresh (next tick 2026-11-19T03:00:00+00:00)"
    )


@pytest.mark.parametrize(
    "policy, history, action, reasons",
    [
        (
            {},
            built(NEW),
            BUILD,
            (
                f"scheduled refresh (tick {TICK})",
                f"up to date: {LABEL} in westeurope is {NEW}; last successful build used {NEW}",
            ),
        ),
        (
            {},
            built(OLD),
            BUILD,
            (
                f"{LABEL} went {OLD} -> {NEW} in westeurope; last successful build used {OLD}",
                f"scheduled refresh (tick {TICK})",
            ),
        ),
        (
            {"only_if_changed": True},
            built(OLD),
            BUILD,
            (f"scheduled refresh (tick {TICK}): its lineage changed", f"{LABEL} went {OLD} -> {NEW} in westeurope"),
        ),
        (
            {"only_if_changed": True},
            built(NEW),
            SKIP,
            (f"scheduled tick {TICK}: nothing changed since the last successful build ({YESTERDAY.isoformat()})",),
        ),
    ],
)
def test_sweep_weighs_a_due_tick_with_the_source(policy, history, action, reasons):
    cat = catalog(entry("t", schedule=DAILY, **policy))
    history = replace(history, last_schedule_tick=YESTERDAY)
    decision = only(run(cat, Sweep(NOW), {"t": history}, {JAMMY: NEW}))
    assert (decision.action, decision.reasons) == (action, reasons)
    assert decision.evidence["tick"] == TICK


# --- rule 5: policies -------------------------------------------------------------------------------------------
WEEKEND = {"days": ["Sat", "Sun"], "start": "02:00", "end": "06:00", "timezone": "UTC"}
SATURDAY_2AM = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
DISABLED = "disabled after 5 consecutive failures; a successful manual build lifts it"


@pytest.mark.parametrize(
    "policy, history, signal, action, reason",
    [
        ({"paused": True}, built(OLD), Sweep(NOW), SKIP, "paused"),
        ({"paused": True}, built(OLD), SourceChanged(JAMMY, OLD, NEW), SKIP, "paused"),
        ({"paused": True}, built(OLD), Manual("t", "hotfix", "ops@x"), SKIP, "paused"),  # pausing is deliberate
        ({}, built(OLD, consecutive_failures=5), Sweep(NOW), SKIP, DISABLED),
        (
            {},
            built(OLD, consecutive_failures=2, disabled=True),
            SourceChanged(JAMMY, OLD, NEW),
            SKIP,
            "disabled after 2 consecutive failures; a successful manual build lifts it",
        ),
        ({"max_consecutive_failures": 3}, built(OLD, consecutive_failures=3), Sweep(NOW), SKIP, "disabled after 3"),
        ({"max_consecutive_failures": 0}, built(OLD, consecutive_failures=50), Sweep(NOW), BUILD, f"{LABEL} went"),
        ({}, built(OLD, consecutive_failures=4), Sweep(NOW), BUILD, f"{LABEL} went"),
        ({"maintenance_window": WEEKEND}, built(OLD), Sweep(NOW), WAIT, f"{LABEL} went"),
        ({"maintenance_window": WEEKEND}, built(NEW), Sweep(NOW), SKIP, "up to date"),  # a skip needs no window
    ],
)
def test_policies(policy, history, signal, action, reason):
    decision = only(run(catalog(entry("t", **policy)), signal, {"t": history}, {JAMMY: NEW}))
    assert decision.action == action
    assert decision.reasons[0].startswith(reason), decision.reasons


def test_manual_builds_a_disabled_template_and_says_a_success_lifts_it():
    decision = only(
        run(
            catalog(entry("t")),
            Manual("t", "fixed the script", "ana@x"),
            {"t": built(OLD, consecutive_failures=5, disabled=True)},
        )
    )
    assert decision.action == BUILD
    assert decision.reasons == (
        "manual request by ana@x: fixed the script",
        "disabled after 5 consecutive failures; built anyway on manual request (a success lifts it)",
    )


@pytest.mark.parametrize(
    "now, signal, action, not_before",
    [
        (NOW, SourceChanged(JAMMY, OLD, NEW), WAIT, SATURDAY_2AM),  # kept, re-queued to the window's start
        (SATURDAY_2AM, SourceChanged(JAMMY, OLD, NEW), BUILD, None),
        (NOW, Manual("t", "now please", "ana@x"), BUILD, None),  # a person asking now is not held to the window
    ],
)
def test_maintenance_window(now, signal, action, not_before):
    decision = only(run(catalog(entry("t", maintenance_window=WEEKEND)), signal, {"t": built(OLD)}, now=now))
    assert (decision.action, decision.not_before) == (action, not_before)
    if action == WAIT:
        assert decision.reasons[-1] == (
            "outside maintenance window Sat,Sun 02:00-06:00 UTC; waits until 2026-11-21T02:00:00+00:00"
        )
    if isinstance(signal, Manual):
        assert decision.reasons[-1] == (
            "outside maintenance window Sat,Sun 02:00-06:00 UTC: manual requests are not held to it"
        )


@pytest.mark.parametrize(
    "history, limit, expected",
    [
        (TemplateHistory(consecutive_failures=5), 5, True),
        (TemplateHistory(consecutive_failures=4), 5, False),
        (TemplateHistory(consecutive_failures=5, disabled=True), 5, False),  # already disabled: publish once
        (TemplateHistory(consecutive_failures=9), 0, False),  # 0: never auto-disable
        (TemplateHistory(consecutive_failures=2), 2, True),
    ],
)
def test_needs_auto_disable(history, limit, expected):
    assert needs_auto_disable(history, limit) is expected


def test_manual_for_a_template_not_in_the_catalog_is_refused():
    with pytest.raises(UnknownTemplateError, match="'nope' is not in the catalog"):
        run(FAMILY, Manual("nope", "x", "y"))


# --- rule 6: the sweep, dry run of `aibtrigger plan` --------------------------------------------------------
def test_sweep_decides_every_template_in_waves():
    observed = {
        JAMMY: NEW,
        platform_key("westeurope", "Canonical", OFFER, "20_04"): OLD,
        gallery_key(IMAGES + "ubuntu-base"): "1.0.2",
        gallery_key(IMAGES + "web-tier"): "3.0.0",
    }
    decisions = run(FAMILY, Sweep(NOW), FAMILY_BUILT, observed)
    assert summary(decisions) == [
        ("other-sku", SKIP, 0),
        ("ubuntu-base", BUILD, 0),
        ("pinned-app", SKIP, 1),
        ("web-tier", WAIT, 1),
        ("shop", WAIT, 2),
    ]
    assert decisions[3].reasons == ("waits for ubuntu-base to rebuild first (lineage)",)
    assert all(d.signal == f"sweep at {NOW.isoformat()}" for d in decisions)


def test_sweep_holds_a_child_while_its_parent_builds_and_keeps_its_own_reason():
    cat = catalog(entry("base"), entry("child", from_image("base")))
    history = {"base": built(NEW, active=True), "child": built("1.0.1")}
    child = run(cat, Sweep(NOW), history, {JAMMY: NEW, gallery_key(IMAGES + "base"): "1.0.2"})[1]
    assert child.action == WAIT
    assert child.reasons == (
        "waits for base to rebuild first (lineage)",
        "gallery image golden/base went 1.0.1 -> 1.0.2; last successful build used 1.0.1",
    )


def test_sweep_leaves_an_only_if_changed_tick_unhandled_while_waiting_for_a_parent():
    cat = catalog(entry("base"), entry("child", from_image("base"), schedule=DAILY, only_if_changed=True))
    history = {"base": built(OLD), "child": built("1.0.1", last_schedule_tick=YESTERDAY)}
    child = run(cat, Sweep(NOW), history, {JAMMY: NEW, gallery_key(IMAGES + "base"): "1.0.1"})[1]
    assert child.action == WAIT and "tick" not in child.evidence


def test_plan_reads_the_catalog_model_as_it_is_today():
    """Policy fields the catalog does not define yet read as their defaults."""
    definition = {
        "source": platform(),
        "distribute": [{"type": "SharedImage", "runOutputName": "base", "galleryImageId": IMAGES + "base"}],
    }
    child = {
        **definition,
        "source": from_image("base"),
        "distribute": [{"type": "SharedImage", "runOutputName": "web", "galleryImageId": IMAGES + "web"}],
    }
    cat = parse_catalog(
        {
            "templates": [
                {"name": "base", "definition": definition},
                {"name": "web", "definition": child, "policy": {"paused": True}},
            ]
        }
    )
    decisions = run(cat, Sweep(NOW), {"base": built(OLD, consecutive_failures=4)}, {JAMMY: NEW})
    assert summary(decisions) == [("base", BUILD, 0), ("web", SKIP, 1)]
    assert decisions[1].reasons[0] == "paused"


def test_the_index_is_built_once_and_can_be_passed_in():
    index = PlannerIndex.from_catalog(FAMILY)
    assert index.users[JAMMY] == ("ubuntu-base",)
    via_index = plan(index, observed={JAMMY: NEW}, history=FAMILY_BUILT, now=NOW, signal=SourceChanged(JAMMY, OLD, NEW))
    assert via_index == run(FAMILY, SourceChanged(JAMMY, OLD, NEW), FAMILY_BUILT)


def test_a_sweep_tells_what_the_service_does_now():
    """`aibtrigger plan` said `build` for a template building now and for one that had only failed:
    a sweep now says what the service does (issue 18)."""
    t = entry("t")
    building = only(run(catalog(t), Sweep(NOW), {"t": TemplateHistory(active=True)}, {JAMMY: NEW}))
    assert building.action == WAIT and building.reasons[0].startswith("building now")
    failed = only(
        run(catalog(t), Sweep(NOW), {"t": TemplateHistory(consecutive_failures=4, last_upstream="x@1")}, {JAMMY: NEW})
    )
    assert failed.action == SKIP and failed.reasons[0].startswith("never succeeded (4 failed)")
    assert "`aibtrigger request t` builds it" in failed.reasons[-1]
