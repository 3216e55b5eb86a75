"""The diamond of issue 11, end to end through `aibtrigger dev` with full local builds: d-app is built
from the image d-web and d-api both distribute to, both children of d-base. After a marketplace
patch, d-base, d-web and d-api rebuild once each and d-app exactly once, after the last of them,
from the newest image; every version carries the provenance of the run that made it."""

import json

import pytest

from aibtrigger.domain.model import RunState
from aibtrigger.domain.provenance import provenance_of
from tests.e2e.conftest import DIAMOND_SKU

pytestmark = pytest.mark.e2e
NAMES = ("d-base", "d-web", "d-api", "d-app")


def succeeded(stack, name):
    return [r for r in stack.deps.store.list_runs(name, limit=50) if r.state is RunState.SUCCEEDED]


def test_a_patch_rebuilds_the_diamond_once_each_and_the_child_after_the_last_parent(stack):
    stack.cli("sweep")  # the first look: d-base is built, then its cascade
    stack.wait(lambda: succeeded(stack, "d-app"), timeout=240, what="the first build of d-app")
    stack.settle(timeout=240)
    before = {n: {r.run_id for r in stack.deps.store.list_runs(n, limit=50)} for n in NAMES}

    new = json.loads(stack.cli("marketplace", "publish", "--sku", DIAMOND_SKU, "--json").stdout)["version"]
    decisions = {d["template"]: d["action"] for d in json.loads(stack.cli("sweep", "--json").stdout)}
    assert decisions["d-base"] == "build" and decisions["d-app"] == "wait"
    stack.wait(
        lambda: [r for r in succeeded(stack, "d-app") if r.run_id not in before["d-app"]],
        timeout=240,
        what="d-app rebuilt",
    )
    stack.settle(timeout=240)

    fresh = {n: [r for r in stack.deps.store.list_runs(n, limit=50) if r.run_id not in before[n]] for n in NAMES}
    assert {n: len(runs) for n, runs in fresh.items()} == {n: 1 for n in NAMES}
    base, web, api, app = (fresh[n][0] for n in NAMES)
    assert all(r.state is RunState.SUCCEEDED for r in (base, web, api, app))
    assert base.source_version == new and base.upstream.endswith(f"@{new}")
    assert app.started_at >= max(web.ended_at, api.ended_at)
    newest = max(web.artifact_ids + api.artifact_ids, key=lambda v: [int(p) for p in v.rsplit("/", 1)[-1].split(".")])
    assert app.inputs["version"] == newest.rsplit("/", 1)[-1]
    for run in (web, api):
        [version_id] = run.artifact_ids
        tags = provenance_of(stack.deps.sources.get_version(version_id))
        assert tags["run_id"] == run.run_id and tags["upstream"] == base.upstream
        assert tags["fingerprint"] == run.fingerprint
    shown = json.loads(stack.cli("show", app.run_id, "--json").stdout)
    assert shown["source_version"].endswith("/versions/" + app.inputs["version"])  # as the backend reports it
    assert shown["fingerprint"] == app.fingerprint and shown["provenance"]["run_id"] == app.run_id
