"""Stage, check, promote, reject, roll back: through the real service layer on the lineage world."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from aibtrigger.catalog import parse_catalog
from aibtrigger.domain.promotion import PROMOTED, PROMOTION_TAG, REJECTED, ROLLED_BACK, STAGED
from aibtrigger.errors import CatalogError
from aibtrigger.service_layer.promotions import PromotionError, promote, reject, rollback
from tests.lineage_world import World, gallery, marketplace, template


def world_with(promotion: dict | None = None) -> World:
    """`base` (from the marketplace, with the given promotion policy) and its child `web`, both built once."""
    base_policy = {"promotion": promotion} if promotion else {}
    world = World([template("base", marketplace("jammy"), **base_policy), template("web", gallery("base"))])
    world.patch("jammy", "1.0.0")
    world.request("base", force=True)
    world.settle("base")
    if promotion:
        promote(world.deps.store.list_runs("base")[0].run_id, world.deps, by="test", why="first version")
    world.deliver_all_events()
    world.requests()
    world.settle("web")
    world.deliver_all_events()
    world.requests()
    assert [b.template for b in world.started] == ["base", "web"]
    return world


def patch_and_build_base(world: World) -> str:
    world.patch("jammy", "1.0.1")
    world.sweep()
    world.requests()
    [version] = world.settle("base")
    world.deliver_all_events()
    world.requests()
    return version


def run_of(world: World, name: str = "base"):
    return world.deps.store.list_runs(name)[0]


def events_of(world: World, kind: str) -> list[dict]:
    return [e for e in world.deps.publisher.events if e["type"] == f"aibtrigger.version.{kind}"]


class Hook:
    """A real HTTP endpoint a webhook check posts to; answers `status`."""

    def __init__(self, status: int = 200):
        self.status, self.received = status, []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"vulnerability scan: 2 critical" if hook.status >= 300 else b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/scan"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def hook():
    found = Hook()
    yield found
    found.close()


# --- manual promotion ------------------------------------------------------------------------------
def test_a_manual_template_stages_its_version_and_the_child_waits_until_it_is_promoted():
    world = world_with({"mode": "manual"})
    version = patch_and_build_base(world)
    run = run_of(world)
    assert run.promotion["state"] == STAGED
    assert world.sources.gallery[version.lower()]["excludeFromLatest"] is True
    assert world.sources.gallery[version.lower()]["tags"][PROMOTION_TAG] == STAGED
    assert [e["data"]["versions"] for e in events_of(world, "staged")][-1] == [version]
    world.reconcile()
    world.requests()
    assert len(world.builds("web")) == 1, "a staged version cascades to nobody"

    done = promote(run.run_id, world.deps, by="alice", why="looked fine")
    world.requests()
    assert done.changed and done.state == PROMOTED
    assert world.sources.gallery[version.lower()]["excludeFromLatest"] is False
    assert world.latest("base") == version
    assert [b.source_version for b in world.builds("web")] == ["1.0.1", "1.0.2"]
    [action] = [a for a in run_of(world).promotion["actions"] if a["action"] == "promote"][-1:]
    assert (action["by"], action["why"]) == ("alice", "looked fine")
    assert events_of(world, "promoted")[-1]["data"]["by"] == "alice"


def test_promoting_twice_changes_nothing_and_builds_the_child_once():
    world = world_with({"mode": "manual"})
    patch_and_build_base(world)
    run_id = run_of(world).run_id
    promote(run_id, world.deps, by="alice", why="ok")
    again = promote(run_id, world.deps, by="bob", why="ok too")
    world.deliver_all_events()  # the gallery's own write event for the promotion comes too
    world.requests()
    world.settle("web")
    world.reconcile()
    world.requests()
    assert not again.changed and len(world.builds("web")) == 2


def test_a_promotion_interrupted_after_the_gallery_changed_is_completed_by_running_it_again():
    world = world_with({"mode": "manual"})
    version = patch_and_build_base(world)
    run_id = run_of(world).run_id
    store, real_save = world.deps.store, world.deps.store.save_run

    def failing_save(run):
        raise ConnectionError("table storage down")

    store.save_run = failing_save
    with pytest.raises(ConnectionError):
        promote(run_id, world.deps, by="alice", why="ok")
    store.save_run = real_save
    assert world.sources.gallery[version.lower()]["excludeFromLatest"] is False  # the gallery went first
    assert promote(run_id, world.deps, by="alice", why="ok").changed
    world.requests()
    assert run_of(world).promotion["state"] == PROMOTED and len(world.builds("web")) == 2


def test_reject_keeps_the_version_out_of_latest_for_good():
    world = world_with({"mode": "manual"})
    version = patch_and_build_base(world)
    run_id = run_of(world).run_id
    assert reject(run_id, world.deps, by="alice", why="CVE-2026-1234").state == REJECTED
    assert world.sources.gallery[version.lower()]["tags"][PROMOTION_TAG] == REJECTED
    assert world.latest("base") != version
    with pytest.raises(PromotionError, match="is rejected: it cannot be promoted"):
        promote(run_id, world.deps, by="bob", why="oops")
    assert events_of(world, "rejected")[-1]["data"]["why"] == "CVE-2026-1234"


def test_commands_name_what_is_wrong():
    world = world_with()
    with pytest.raises(PromotionError, match="no run 'nope'"):
        promote("nope", world.deps, by="a", why="b")
    with pytest.raises(PromotionError, match="was not staged"):
        promote(run_of(world).run_id, world.deps, by="a", why="b")


# --- checks ----------------------------------------------------------------------------------------
def test_after_checks_promotes_once_the_webhook_passed_and_the_soak_is_over(hook):
    world = world_with({"mode": "after_checks", "soak_minutes": 30, "checks": [{"kind": "webhook", "url": hook.url}]})
    version = patch_and_build_base(world)
    world.reconcile()
    world.requests()
    assert run_of(world).promotion["state"] == STAGED and len(world.builds("web")) == 1
    assert hook.received[-1]["versions"] == [version] and hook.received[-1]["provenance"]["template"] == "base"
    [result] = run_of(world).promotion["checks"].values()
    assert result["passed"] and result["detail"] == "HTTP 200"
    world.clock.advance(minutes=30)
    world.reconcile()
    world.requests()
    assert run_of(world).promotion["state"] == PROMOTED
    assert [b.source_version for b in world.builds("web")] == ["1.0.1", "1.0.2"]
    assert len(hook.received) == 1, "the checks ran once, not at every pass"


def test_a_failing_check_leaves_the_version_staged_and_says_why_once(hook):
    hook.status = 500
    world = world_with({"mode": "after_checks", "checks": [{"kind": "webhook", "name": "scan", "url": hook.url}]})
    for _ in range(3):
        world.reconcile()
    version = patch_and_build_base(world)
    for _ in range(3):
        world.reconcile()
    world.requests()
    run = run_of(world)
    assert run.promotion["state"] == STAGED and world.latest("base") != version
    rejected = [e for e in events_of(world, "rejected") if e["data"]["run_id"] == run.run_id]
    assert len(rejected) == 1
    assert "1. webhook: scan: HTTP 500: vulnerability scan: 2 critical" in rejected[0]["data"]["why"]
    assert len(world.builds("web")) == 1
    promote(run.run_id, world.deps, by="alice", why="false positive")  # a person may still decide otherwise
    assert world.latest("base") == version


def test_an_unreachable_webhook_fails_its_check_with_the_reason(hook):
    url = hook.url
    hook.close()
    world = world_with({"mode": "after_checks", "checks": [{"kind": "webhook", "url": url, "timeout_seconds": 2}]})
    patch_and_build_base(world)
    world.reconcile()
    [result] = run_of(world).promotion["checks"].values()
    assert not result["passed"] and f"no answer from {url}" in result["detail"]


def test_a_command_check_without_the_local_backend_fails_and_says_why():
    world = world_with({"mode": "after_checks", "checks": [{"kind": "command", "run": "test -f /etc/motd"}]})
    patch_and_build_base(world)
    world.reconcile()
    [result] = run_of(world).promotion["checks"].values()
    assert not result["passed"] and "only the local backend" in result["detail"]


# --- rollback --------------------------------------------------------------------------------------
def test_rollback_falls_back_to_the_previous_version_and_rebuilds_the_child_from_it_once():
    world = world_with()
    first = world.latest("base")
    second = patch_and_build_base(world)
    world.settle("web")
    assert [b.source_version for b in world.builds("web")] == ["1.0.1", "1.0.2"]

    done = rollback("base", world.deps, by="alice", why="boot loop on D-series")
    world.requests()
    assert done.state == ROLLED_BACK and world.latest("base") == first
    assert world.sources.gallery[second.lower()]["tags"][PROMOTION_TAG] == ROLLED_BACK
    assert [b.source_version for b in world.builds("web")] == ["1.0.1", "1.0.2", "1.0.1"]
    world.settle("web")
    for _ in range(3):  # the sweep must not see the rolled-back version as owed
        world.reconcile()
        world.requests()
    assert len(world.builds("web")) == 3
    assert run_of(world).promotion["state"] == ROLLED_BACK
    assert events_of(world, "rolled_back")[-1]["data"]["why"].startswith("boot loop on D-series")


def test_rollback_never_leaves_latest_empty():
    world = world_with()
    with pytest.raises(PromotionError, match="only version `latest` may resolve to"):
        rollback("base", world.deps, by="alice", why="bad")
    assert world.latest("base") is not None


def test_a_rolled_back_version_can_be_promoted_again():
    world = world_with({"mode": "manual"})
    patch_and_build_base(world)
    run_id = run_of(world).run_id
    promote(run_id, world.deps, by="alice", why="ok")
    world.requests()
    world.settle("web")
    rollback("base", world.deps, by="alice", why="bad")
    world.requests()
    world.settle("web")
    promote(run_id, world.deps, by="alice", why="it was the scale set, not the image")
    world.requests()
    assert [b.source_version for b in world.builds("web")] == ["1.0.1", "1.0.2", "1.0.1", "1.0.2"]


# --- the catalog -----------------------------------------------------------------------------------
def test_staging_needs_a_distributor_that_keeps_versions_out_of_latest():
    entry = template("base", marketplace("jammy"))
    entry["policy"] = {"promotion": {"mode": "manual"}}
    with pytest.raises(CatalogError, match='needs every SharedImage distributor to publish with "excludeFromLatest"'):
        parse_catalog({"templates": [entry]})


@pytest.mark.parametrize(
    "promotion, message",
    [
        ({"mode": "after_checks"}, "needs at least one check or a soak_minutes"),
        ({"mode": "immediate", "soak_minutes": 5}, "need mode after_checks or manual"),
        ({"mode": "later"}, "mode"),
    ],
)
def test_promotion_policies_that_cannot_work_are_refused(promotion, message):
    with pytest.raises(CatalogError, match=message):
        parse_catalog({"templates": [template("base", marketplace("jammy"), promotion=promotion)]})


def test_a_promotion_cascade_still_queued_when_rolled_back_builds_the_child_once_from_the_fallback():
    """Found by the promotion machine: the promotion's cascade request (it saw 1.0.2) arrives after the
    rollback; it must not build web from 1.0.1 as if 1.0.2 were new, then again for the rollback."""
    world = world_with({"mode": "manual"})
    patch_and_build_base(world)
    promote(run_of(world).run_id, world.deps, by="alice", why="ok")  # web's request is queued, not delivered
    rollback("base", world.deps, by="alice", why="bad")
    world.requests()
    world.reconcile()
    world.requests()
    assert world.building() == []
    assert [b.source_version for b in world.builds("web")] == ["1.0.1"], "web never left 1.0.1: nothing to rebuild"


def test_one_staged_runs_checks_per_reconciler_pass(hook):
    """Checks take up to their timeouts; a pass runs one run's, so it ends well within the function timeout."""
    world = world_with({"mode": "after_checks", "checks": [{"kind": "webhook", "url": hook.url}]})
    patch_and_build_base(world)
    world.patch("jammy", "1.0.2")
    world.sweep()
    world.requests()
    world.settle("base")
    staged = [r for r in world.deps.store.list_runs("base") if r.promotion and r.promotion["state"] == STAGED]
    assert len(staged) == 2
    world.deps.clock.advance(seconds=1)
    from aibtrigger.service_layer.promotions import advance_staged

    advance_staged(world.deps)
    checked = [r for r in world.deps.store.list_runs("base") if r.promotion and r.promotion.get("checks")]
    assert len(checked) == 1 and len(hook.received) == 1
    advance_staged(world.deps)
    assert len(hook.received) == 2


# --- found by the adversarial review ------------------------------------------------------------------
def test_a_partial_success_of_a_gated_template_is_staged_and_its_child_does_not_rebuild_in_a_loop():
    from aibtrigger.domain.model import RunOutput, RunState
    from aibtrigger.domain.provenance import provenance_tags, with_exact_source

    world = world_with({"mode": "manual"})
    world.patch("jammy", "1.0.1")
    world.sweep()
    world.requests()
    made = with_exact_source(world.backend.provenance["base"], world.backend.source_versions["base"])
    version = world._write_version("base", provenance_tags(made), exclude_from_latest=True)
    world.backend.finish("base", RunState.PARTIALLY_SUCCEEDED, outputs=[RunOutput("base", version)])
    world.polls()
    for _ in range(4):
        world.deliver_all_events()
        world.requests()
        world.reconcile()
    assert run_of(world).promotion["state"] == STAGED
    assert len(world.builds("web")) == 1, "nothing to build before the version is promoted"


def test_a_version_its_distributor_excludes_from_latest_is_never_observed():
    entry = template("base", marketplace("jammy"))
    entry["definition"]["distribute"][0]["excludeFromLatest"] = True  # AIB's own flag, promotion immediate
    world = World([entry, template("web", gallery("base"))])
    world.publish_by_hand("base")
    world.deliver_all_events()
    world.requests()
    world.settle("web")
    world.patch("jammy", "1.0.0")
    world.request("base", force=True)
    world.settle("base")
    for _ in range(4):
        world.deliver_all_events()
        world.requests()
        world.reconcile()
        world.requests()
        if world.building():
            world.settle(world.building()[0])
    assert len(world.builds("web")) == 1, "web has nothing new to build from: latest is still 1.0.1"


def test_reject_after_an_interrupted_promotion_takes_the_version_out_of_latest():
    world = world_with({"mode": "manual"})
    version = patch_and_build_base(world)
    world.deps.gallery.update_version(
        version, exclude_from_latest=False, tags={PROMOTION_TAG: PROMOTED}
    )  # then a crash
    reject(run_of(world).run_id, world.deps, by="bob", why="CVE")
    assert world.sources.gallery[version.lower()]["excludeFromLatest"] is True and world.latest("base") != version


def test_an_interrupted_reject_is_never_overruled_by_the_automatic_promotion():
    world = world_with({"mode": "after_checks", "soak_minutes": 60})
    version = patch_and_build_base(world)
    world.deps.gallery.update_version(version, tags={PROMOTION_TAG: REJECTED})  # reject's gallery step, then a crash
    world.clock.advance(minutes=61)
    world.reconcile()
    world.requests()
    assert world.sources.gallery[version.lower()]["excludeFromLatest"] is True
    assert len(world.builds("web")) == 1


def test_a_version_azure_published_into_latest_is_excluded_when_staged():
    """The image template in Azure drifted from the catalog (no excludeFromLatest): staging corrects it."""
    world = world_with({"mode": "manual"})
    write = world._write_version
    world._write_version = lambda image, tags, exclude_from_latest=False: write(image, tags)  # Azure's template
    version = patch_and_build_base(world)
    assert run_of(world).promotion["state"] == STAGED
    assert world.sources.gallery[version.lower()]["excludeFromLatest"] is True


def test_staging_interrupted_after_its_record_is_completed_by_the_reconciler():
    import aibtrigger.service_layer.promotions as promotions

    world = world_with({"mode": "manual"})
    world.patch("jammy", "1.0.1")
    world.sweep()
    world.requests()
    [version] = world.finish("base")
    real = promotions._publish

    def crash(*args, **kwargs):
        raise SystemExit("crash after the staged record was saved")

    promotions._publish = crash
    try:
        with pytest.raises(SystemExit):
            world.polls()
    finally:
        promotions._publish = real
    for _ in range(2):
        world.reconcile()
    assert [e["data"]["versions"] for e in events_of(world, "staged")][-1] == [version]
    assert world.sources.gallery[version.lower()]["tags"][PROMOTION_TAG] == STAGED


def test_a_promotion_interrupted_after_its_record_is_completed_by_a_repeat():
    import aibtrigger.service_layer.promotions as promotions

    world = world_with({"mode": "manual"})
    patch_and_build_base(world)
    run_id = run_of(world).run_id
    real = promotions._publish

    def crash(*args, **kwargs):
        raise SystemExit("crash after the promoted record was saved")

    promotions._publish = crash
    try:
        with pytest.raises(SystemExit):
            promote(run_id, world.deps, by="alice", why="ok")
    finally:
        promotions._publish = real
    assert not promote(run_id, world.deps, by="alice", why="again").changed
    world.requests()
    assert [e["data"]["run_id"] for e in events_of(world, "promoted")][-1] == run_id
    assert [b.source_version for b in world.builds("web")] == ["1.0.1", "1.0.2"]


def three_versions_of_base() -> World:
    """base (immediate) at 1.0.3 now, web built from each in turn."""
    world = world_with()
    for sku_version in ("1.0.1", "1.0.2"):
        world.patch("jammy", sku_version)
        world.sweep()
        world.requests()
        world.settle("base")
        world.deliver_all_events()
        world.requests()
        world.settle("web")
        world.deliver_all_events()
        world.requests()
    return world


def test_a_rollback_repeated_with_its_version_changes_nothing_more():
    world = three_versions_of_base()
    first = rollback("base", world.deps, by="alice", why="bad", version="1.0.3")
    again = rollback("base", world.deps, by="alice", why="bad", version="1.0.3")  # the client retried
    assert first.changed and not again.changed
    assert world.latest("base").endswith("/1.0.2")
    world.requests()
    assert [b.source_version for b in world.builds("web")][-1] == "1.0.2"


def test_a_rollback_interrupted_after_the_gallery_is_finished_by_a_repeat_naming_its_version():
    world = three_versions_of_base()
    target = world.latest("base")
    world.deps.gallery.update_version(target, exclude_from_latest=True, tags={PROMOTION_TAG: ROLLED_BACK})  # crash
    done = rollback("base", world.deps, by="alice", why="bad", version="1.0.3")
    world.requests()
    assert not done.changed and world.latest("base").endswith("/1.0.2")
    assert [b.source_version for b in world.builds("web")][-1] == "1.0.2", "the child rebuilt from the fallback"


def test_a_rollback_while_the_child_builds_from_the_rolled_back_version_rebuilds_it_after():
    world = three_versions_of_base()
    world.request("web", force=True)  # web is building from 1.0.3 right now
    rollback("base", world.deps, by="alice", why="bad")
    world.requests()
    world.settle("web")
    world.requests()
    for _ in range(2):
        world.reconcile()
        world.requests()
        if world.building():
            world.settle(world.building()[0])
    assert [b.source_version for b in world.builds("web")][-2:] == ["1.0.3", "1.0.2"]


def test_a_rollback_counts_a_latest_version_being_updated():
    world = three_versions_of_base()
    newest = world.latest("base")
    world.sources.gallery[newest.lower()]["provisioningState"] = "Updating"  # a tag change in flight
    done = rollback("base", world.deps, by="alice", why="bad")
    assert "1.0.3 -> 1.0.2" in done.detail


def test_a_rollback_refuses_a_latest_another_template_made():
    from tests.lineage_world import diamond

    world = World(diamond())
    world.patch("jammy", "1.0.0")
    world.request("base", force=True)
    for _ in range(10):
        world.deliver_all_events()
        world.requests()
        for name in world.building():
            world.settle(name)
    made_by = (world.sources.gallery[world.latest("apps").lower()]["tags"]).get("aibtrigger.template")
    other = "api" if made_by == "web" else "web"
    with pytest.raises(PromotionError, match=f"was made by {made_by}"):
        rollback(other, world.deps, by="alice", why="bad")


def test_a_webhook_that_trickles_its_answer_fails_at_its_timeout_in_all():
    import socket
    import time

    from aibtrigger.adapters.checks import post_webhook

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def trickle():
        connection, _ = listener.accept()
        connection.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\n\r\n":
            time.sleep(0.3)  # each read within any per-read timeout, the whole far beyond the check's
            connection.send(bytes([byte]))
        connection.close()

    threading.Thread(target=trickle, daemon=True).start()
    passed, detail = post_webhook(f"http://127.0.0.1:{listener.getsockname()[1]}/", {}, timeout=1.0)
    assert not passed and "within 1 s" in detail
    listener.close()


def test_a_version_that_cannot_be_read_never_keeps_its_run_from_finishing():
    from aibtrigger.errors import BackendError

    world = world_with()
    world.patch("jammy", "1.0.1")
    world.sweep()
    world.requests()

    def refused(version_id):
        raise BackendError("AuthorizationFailed: the identity cannot read gallery image versions")

    world.sources.get_version = refused
    world.settle("base")
    assert run_of(world).published and world.deps.store.get_claim("base") is None


def test_a_gallery_refusing_staging_for_longer_than_any_retry_never_blocks_and_staging_completes_after():
    """403 on every gallery change for hours: the run is still recorded, published and released, no child
    builds from it; once the gallery answers again, the reconciler's next pass finishes the staging."""
    from aibtrigger.errors import BackendError

    world = world_with({"mode": "manual"})
    gallery, real = world.deps.gallery, world.deps.gallery.update_version

    def refused(*args, **kwargs):
        raise BackendError("AuthorizationFailed: the identity cannot write gallery image versions")

    gallery.update_version = refused
    version = patch_and_build_base(world)
    for _ in range(10):  # ten passes, far past any message's retries
        world.clock.advance(hours=1)
        world.reconcile()
        world.requests()
    run = run_of(world)
    assert run.published and world.deps.store.get_claim("base") is None
    assert run.promotion["state"] == STAGED and not run.promotion.get("announced")
    assert len(world.builds("web")) == 1 and world.latest("base") != version
    gallery.update_version = real
    world.reconcile()
    assert run_of(world).promotion.get("announced")
    assert world.sources.gallery[version.lower()]["tags"][PROMOTION_TAG] == STAGED
    assert [e["data"]["versions"] for e in events_of(world, "staged")][-1] == [version]
