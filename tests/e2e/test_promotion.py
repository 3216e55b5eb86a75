"""Promotion end to end through `aibtrigger dev` with full local builds (issue 14): a staged version
keeps its child waiting until a person promotes it; a failing check keeps a version staged and says
why; a rollback makes `latest` fall back and the child rebuild from it; prune shows, then deletes,
what its retention policy lets go."""

from __future__ import annotations

import base64
import json
import re

import pytest

from aibtrigger.adapters.local.gallery import LocalGallery
from aibtrigger.adapters.local.layout import blob_service
from aibtrigger.domain.model import RunState
from aibtrigger.names import RESULTS_QUEUE
from tests.e2e.conftest import GALLERY, PROMOTION_SKU

pytestmark = pytest.mark.e2e


def runs(stack, name):
    return stack.deps.store.list_runs(name, limit=50)


def succeeded(stack, name):
    return [r for r in runs(stack, name) if r.state is RunState.SUCCEEDED]


def build(stack, name) -> object:
    """Request a build, wait for its end; returns its run record."""
    out = stack.cli("request", name, "--force", "--wait", "--timeout", "240").stdout
    [run_id] = re.findall(r"^run (\S+) ended ", out, flags=re.M)
    return stack.wait(lambda: (r := stack.deps.store.get_run(run_id)) and r.published and r, what=f"{name} recorded")


def events(stack, kind: str) -> list[dict]:
    """The published events of that kind; a read hides what it saw for a second (read with stack.wait)."""
    from azure.storage.queue import QueueClient

    client = QueueClient.from_connection_string(stack.azurite.connection_string, RESULTS_QUEUE)
    found = [json.loads(base64.b64decode(m.content)) for m in client.receive_messages(visibility_timeout=1)]
    return [e for e in found if e["type"] == f"aibtrigger.version.{kind}"]


def test_stage_promote_check_rollback_and_prune(stack):
    gallery = LocalGallery(blob_service(stack.azurite.connection_string))
    image = GALLERY + "p-base"

    first = build(stack, "p-base")
    [v1] = first.artifact_ids
    assert first.promotion["state"] == "staged" and gallery.get_version(v1)["excludeFromLatest"] is True
    stack.settle()
    assert not runs(stack, "p-child"), "a staged version cascades to nobody"

    stack.cli("promote", first.run_id, "--reason", "looked at it", "--by", "alice")
    child_first = stack.wait(lambda: succeeded(stack, "p-child"), timeout=240, what="p-child built")[0]
    assert gallery.latest_version(image) == v1.rsplit("/", 1)[-1]
    assert child_first.inputs["version"] == v1.rsplit("/", 1)[-1]

    stack.cli("marketplace", "publish", "--sku", PROMOTION_SKU)
    second = build(stack, "p-base")
    [v2] = second.artifact_ids
    stack.cli("promote", second.run_id)
    stack.wait(lambda: len(succeeded(stack, "p-child")) == 2, timeout=240, what="p-child rebuilt from v2")
    stack.settle(timeout=240)
    assert succeeded(stack, "p-child")[0].inputs["version"] == v2.rsplit("/", 1)[-1]

    out = stack.cli("rollback", "p-base", "--reason", "boot loop").stdout
    assert f"{v2.rsplit('/', 1)[-1]} -> {v1.rsplit('/', 1)[-1]}" in out
    assert gallery.latest_version(image) == v1.rsplit("/", 1)[-1]
    stack.wait(lambda: len(succeeded(stack, "p-child")) == 3, timeout=240, what="p-child rebuilt from the fallback")
    stack.settle(timeout=240)
    assert succeeded(stack, "p-child")[0].inputs["version"] == v1.rsplit("/", 1)[-1]
    promoted = stack.wait(
        lambda: len(found := {e["data"]["run_id"]: e["data"]["by"] for e in events(stack, "promoted")}) >= 2 and found,
        what="the promoted events",
    )
    assert promoted.get(first.run_id) == "alice" and second.run_id in promoted
    rolled_back = stack.wait(lambda: events(stack, "rolled_back"), what="the rolled_back event")
    assert [e["data"]["run_id"] for e in rolled_back] == [second.run_id]

    checked = build(stack, "p-checked")
    staged = stack.wait(
        lambda: (r := stack.deps.store.get_run(checked.run_id)).promotion.get("checks") and r,
        timeout=120,
        what="p-checked's check run by the reconciler",
    )
    [result] = staged.promotion["checks"].values()
    assert not result["passed"] and "test -f /etc/nginx/nginx.conf` exited 1" in result["detail"]
    assert staged.promotion["state"] == "staged"
    rejected = stack.wait(
        lambda: [e for e in events(stack, "rejected") if e["data"]["run_id"] == checked.run_id],
        what="the rejected event",
    )
    assert "nginx-installed" in rejected[0]["data"]["why"]

    dry = json.loads(stack.cli("prune", "p-base", "--dry-run", "--json").stdout)
    assert v2 in json.dumps(dry) and gallery.get_version(v2) is not None
    stack.cli("prune", "p-base")
    assert gallery.get_version(v2) is None and gallery.get_version(v1) is not None
