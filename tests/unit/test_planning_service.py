"""Signals -> planner -> requests, on in-memory fakes: sweeps, gallery events, schedules."""

import pytest

from aibtrigger.catalog import parse_catalog
from aibtrigger.domain.provenance import provenance_tags
from aibtrigger.domain.records import Outcome, TemplateSummary
from aibtrigger.names import REQUESTS_QUEUE
from aibtrigger.service_layer.events import handle_gallery_event
from aibtrigger.service_layer.planning import sweep_sources, tick_schedules
from tests.fakes import Clock, FakeSources, memory_deps

SUB = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/"


def platform_entry(name, sku, **policy):
    return {
        "name": name,
        "location": "westeurope",
        "policy": policy,
        "definition": {
            "source": {
                "type": "PlatformImage",
                "publisher": "Canonical",
                "offer": "ubuntu",
                "sku": sku,
                "version": "latest",
            },
            "distribute": [{"type": "SharedImage", "runOutputName": name, "galleryImageId": SUB + name}],
        },
    }


def child_entry(name, parent):
    return {
        "name": name,
        "definition": {
            "source": {"type": "SharedImageVersion", "imageVersionId": SUB + parent + "/versions/latest"},
            "distribute": [{"type": "SharedImage", "runOutputName": name, "galleryImageId": SUB + name}],
        },
    }


def make_deps(entries):
    clock, sources = Clock(), FakeSources()
    catalog = parse_catalog({"templates": entries})
    return memory_deps(catalog, clock, sources=sources)


def requested(deps):
    return sorted(p["template"] for p in deps.queue.payloads(REQUESTS_QUEUE))


def test_a_sweep_reads_each_distinct_source_once_however_many_templates_share_it():
    entries = [platform_entry(f"t{i:03}", f"sku{i % 7}") for i in range(300)]
    deps = make_deps(entries)
    for i in range(7):
        deps.sources.marketplace[("westeurope", "canonical", "ubuntu", f"sku{i}")] = "22.04.202411050"
    sweep_sources(deps)
    assert deps.sources.list_calls == 7
    assert len(requested(deps)) == 300  # never built: every template builds


def test_a_newer_version_rebuilds_its_users_with_the_evidence_and_a_second_sweep_builds_nothing():
    deps = make_deps([platform_entry("base", "jammy"), child_entry("web", "base"), platform_entry("other", "noble")])
    market = deps.sources.marketplace
    market[("westeurope", "canonical", "ubuntu", "jammy")] = "22.04.202410020"
    market[("westeurope", "canonical", "ubuntu", "noble")] = "24.04.1"
    for name, used in (("base", "22.04.202410020"), ("other", "24.04.1")):
        deps.store.put_summary(TemplateSummary(name, last_success_at=deps.clock(), last_success_source_version=used))
    sweep_sources(deps)
    assert requested(deps) == []  # first look: everything up to date
    market[("westeurope", "canonical", "ubuntu", "jammy")] = "22.04.202411050"
    decisions = {d.template: d for d in sweep_sources(deps)}
    assert requested(deps) == ["base"]
    assert decisions["web"].action == "wait" and decisions["web"].wave == 1
    [message] = deps.queue.payloads(REQUESTS_QUEUE)
    assert "went 22.04.202410020 -> 22.04.202411050 in westeurope" in message["reason"]
    assert message["signal"] == "source" and message["upstream"].endswith("@22.04.202411050")
    deps.queue.sent.clear()
    assert sweep_sources(deps) == [] and requested(deps) == []
    skipped = deps.store.list_outcomes("web")
    assert skipped and skipped[0].outcome is Outcome.SKIPPED


def test_a_version_made_outside_the_service_is_a_fresh_root_change():
    deps = make_deps([platform_entry("base", "jammy"), child_entry("web", "base")])
    version_id = SUB + "base/versions/1.0.4"  # no provenance tags, no run of ours names it: made by hand
    deps.sources.gallery[version_id.lower()] = {"id": version_id, "provisioningState": "Succeeded"}
    assert handle_gallery_event(**version_event(version_id), deps=deps) == "planned"
    [message] = deps.queue.payloads(REQUESTS_QUEUE)
    assert message["signal"] == "source" and message["upstream"] == "gallery/" + (SUB + "base").lower() + "@1.0.4"


def version_event(version_id, **changes):
    event = {
        "event_id": "ev-1",
        "event_type": "Microsoft.Resources.ResourceWriteSuccess",
        "subject": version_id,
        "data": {
            "operationName": "Microsoft.Compute/galleries/images/versions/write",
            "resourceUri": version_id,
            "status": "Succeeded",
        },
    }
    event.update(changes)
    return event


def test_a_gallery_version_made_by_a_parent_rebuilds_its_children_once_per_event():
    deps = make_deps([platform_entry("base", "jammy"), child_entry("web", "base")])
    version_id = SUB + "base/versions/1.0.4"
    tags = provenance_tags({"run_id": "base.20261122T080000Z.abc", "template": "base", "upstream": "platform/x@1"})
    deps.sources.gallery[version_id.lower()] = {"id": version_id, "provisioningState": "Succeeded", "tags": tags}
    assert handle_gallery_event(**version_event(version_id), deps=deps) == "planned"
    [message] = deps.queue.payloads(REQUESTS_QUEUE)
    assert message["template"] == "web" and f"parent base succeeded: new version {version_id}" in message["reason"]
    assert message["upstream"] == "platform/x@1"  # the cascade the version's own tags name
    assert handle_gallery_event(**version_event(version_id), deps=deps) == "duplicate"
    assert len(deps.queue.payloads(REQUESTS_QUEUE)) == 1


@pytest.mark.parametrize(
    "changes, why",
    [
        (
            {"event_type": "Microsoft.Resources.ResourceDeleteSuccess"},
            "is not Microsoft.Resources.ResourceWriteSuccess",
        ),
        (
            {"data": {"operationName": "Microsoft.Compute/virtualMachines/write"}},
            "is not a gallery image version write",
        ),
        (
            {
                "subject": SUB + "base/versions/../../../x",
                "data": {"operationName": "Microsoft.Compute/galleries/images/versions/write"},
            },
            "is not a gallery image version id",
        ),
    ],
)
def test_unrelated_events_are_recorded_as_ignored(changes, why):
    deps = make_deps([platform_entry("base", "jammy"), child_entry("web", "base")])
    assert handle_gallery_event(**version_event(SUB + "base/versions/1.0.4", **changes), deps=deps) == "ignored"
    [record] = deps.store.list_outcomes("")
    assert record.outcome is Outcome.IGNORED and why in record.detail
    assert deps.queue.sent == []


def test_an_unprovisioned_version_is_retried_not_acted_on():
    from aibtrigger.service_layer.planning import VersionNotReady

    deps = make_deps([platform_entry("base", "jammy"), child_entry("web", "base")])
    version_id = SUB + "base/versions/1.0.4"
    deps.sources.gallery[version_id.lower()] = {"id": version_id, "provisioningState": "Creating"}
    with pytest.raises(VersionNotReady):
        handle_gallery_event(**version_event(version_id), deps=deps)
    assert deps.store.list_outcomes("") == []  # not recorded: the redelivery is processed afresh


def test_missed_schedule_ticks_are_handled_once_and_only_if_changed_skips_when_nothing_changed():
    deps = make_deps([platform_entry("nightly", "jammy", schedule="0 0 3 * * *", only_if_changed=True)])
    deps.sources.marketplace[("westeurope", "canonical", "ubuntu", "jammy")] = "22.04.1"
    deps.store.put_summary(
        TemplateSummary("nightly", last_success_at=deps.clock(), last_success_source_version="22.04.1")
    )
    deps.clock.advance(days=3)  # three nightly ticks missed
    [decision] = tick_schedules(deps)
    assert decision.action == "skip" and requested(deps) == []
    assert tick_schedules(deps) == []  # handled: not again until the next tick
    deps.sources.marketplace[("westeurope", "canonical", "ubuntu", "jammy")] = "22.04.2"
    deps.clock.advance(days=1)
    [decision] = tick_schedules(deps)
    assert decision.action == "build" and requested(deps) == ["nightly"]


def test_one_unreadable_source_does_not_stop_the_sweep():
    from aibtrigger.errors import BackendError

    deps = make_deps([platform_entry("a", "jammy"), platform_entry("b", "noble")])
    deps.sources.marketplace[("westeurope", "canonical", "ubuntu", "noble")] = "24.04.1"
    original = deps.sources.latest_version

    def forbidden(location, publisher, offer, sku):
        if sku == "jammy":
            raise BackendError("403 AuthorizationFailed on jammy")
        return original(location, publisher, offer, sku)

    deps.sources.latest_version = forbidden
    sweep_sources(deps)
    assert requested(deps) == ["b"]
