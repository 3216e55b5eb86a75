"""Deciding what to rebuild, end to end through `aibtrigger dev`: marketplace patch -> sweep ->
ubuntu-base -> gallery event -> web-tier; a quiet sweep; schedules with only-if-changed; duplicates."""

import json
import time
import urllib.request

import pytest

from aibtrigger.domain.model import RunState
from aibtrigger.domain.records import Outcome
from tests.e2e.conftest import NIGHTLY_SKU

pytestmark = pytest.mark.e2e
GALLERY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images"
    "/providers/Microsoft.Compute/galleries/golden/images/"
)


def runs(stack, template):
    return stack.deps.store.list_runs(template, limit=100)


def test_a_marketplace_patch_rebuilds_ubuntu_base_then_web_tier_and_a_quiet_sweep_builds_nothing(stack):
    stack.cli("sweep")  # the first look at the sources: builds whatever is behind
    stack.settle()
    before = {t: len(runs(stack, t)) for t in ("ubuntu-base", "web-tier")}
    earlier = {r.run_id for r in runs(stack, "web-tier")}
    old = json.loads(stack.cli("marketplace", "list", "--json").stdout)[-1]
    new = json.loads(stack.cli("marketplace", "publish", "--json").stdout)["version"]
    swept = stack.cli("sweep", "--json")
    decisions = {d["template"]: d for d in json.loads(swept.stdout)}
    assert decisions["ubuntu-base"]["action"] == "build"
    assert decisions["web-tier"]["action"] == "wait" and decisions["web-tier"]["wave"] == 1

    base = stack.wait(
        lambda: next(
            (
                r
                for r in runs(stack, "ubuntu-base")
                if r.is_terminal and r.published and any(f"went {old} -> {new}" in x for x in r.reasons)
            ),
            None,
        ),
        what="ubuntu-base rebuilt for the patch",
    )
    assert base.state is RunState.SUCCEEDED and base.source_version == new
    [version_id] = base.artifact_ids
    web = stack.wait(
        lambda: next(
            (r for r in runs(stack, "web-tier") if r.run_id not in earlier and r.is_terminal and r.published), None
        ),
        what="web-tier rebuilt",
    )
    assert web.state is RunState.SUCCEEDED
    assert web.reasons == (f"parent ubuntu-base succeeded: new version {version_id}",)
    assert web.upstream == base.upstream and web.upstream.endswith(f"@{new}")
    stack.settle()

    assert json.loads(stack.cli("sweep", "--json").stdout) == []
    time.sleep(1)
    assert {t: len(runs(stack, t)) for t in ("ubuntu-base", "web-tier")} == {
        "ubuntu-base": before["ubuntu-base"] + 1,
        "web-tier": before["web-tier"] + 1,
    }

    # The same gallery event again (Event Grid delivers at least once): nothing changes.
    event = [
        {
            "id": f"dup-{version_id}",
            "topic": "/subscriptions/00000000-0000-0000-0000-000000000000",
            "subject": version_id,
            "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "eventTime": "2026-11-22T08:00:00Z",
            "dataVersion": "",
            "metadataVersion": "1",
            "data": {
                "operationName": "Microsoft.Compute/galleries/images/versions/write",
                "resourceUri": version_id,
                "status": "Succeeded",
            },
        }
    ]
    for _ in range(2):
        post_event(stack, event)
    stack.settle()
    assert len(runs(stack, "web-tier")) == before["web-tier"] + 1


def post_event(stack, events):
    request = urllib.request.Request(
        f"{stack.url}/runtime/webhooks/EventGrid?functionName=on_gallery_event",
        data=json.dumps(events).encode(),
        method="POST",
        headers={"aeg-event-type": "Notification", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202


def test_an_only_if_changed_schedule_skips_while_nothing_changed_and_builds_when_something_did(stack):
    def outcomes():
        return stack.deps.store.list_outcomes("nightly-example", limit=500)

    # Its first tick builds it (never built); after that, ticks every 2 s find nothing new.
    stack.wait(
        lambda: any(r.state is RunState.SUCCEEDED for r in runs(stack, "nightly-example")),
        what="nightly-example's first scheduled build",
    )
    built = len(runs(stack, "nightly-example"))
    stack.wait(
        lambda: any(o.outcome is Outcome.SKIPPED and "nothing changed" in " ".join(o.reasons) for o in outcomes()),
        what="a recorded skip",
    )
    assert len(runs(stack, "nightly-example")) == built
    new = json.loads(stack.cli("marketplace", "publish", "--sku", NIGHTLY_SKU, "--json").stdout)["version"]
    rebuilt = stack.wait(
        lambda: next((r for r in runs(stack, "nightly-example") if new in " ".join(r.reasons) and r.is_terminal), None),
        what="the scheduled rebuild after the change",
    )
    assert rebuilt.state is RunState.SUCCEEDED and "scheduled" in " ".join(rebuilt.reasons)
    shown = json.loads(stack.cli("show", rebuilt.run_id, "--json").stdout)
    assert shown["requests"][0]["outcome"] == "started" and "aibtrigger:schedule" in shown["requested_by"]


def test_plan_explains_every_template(stack):
    plan = json.loads(stack.cli("plan", "--json").stdout)
    names = {d["template"] for d in plan}
    assert {"ubuntu-base", "web-tier", "broken-example"} <= names
    assert all(d["reasons"] for d in plan)
    assert all(d["wave"] == 1 for d in plan if d["template"] == "web-tier")
