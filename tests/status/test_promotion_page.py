"""Staged versions on the status page: the overview's state, the template page's section, and its
promote, reject and rollback forms (admin level), on the lineage world through the real service layer."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from aibtrigger.domain.promotion import STAGED
from aibtrigger.service_layer.promotions import versions_of
from aibtrigger.status import gather, web
from aibtrigger.status.html_page import Links
from tests.lineage_world import IMAGES, World, marketplace, template
from tests.unit.test_promotions import Hook, run_of, world_with

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


# --- the template page's section -------------------------------------------------------------------
@pytest.fixture
def hook():
    found = Hook()
    yield found
    found.close()


def test_a_staged_run_shows_its_versions_soak_checks_history_and_next_step(hook):
    checks = [{"kind": "webhook", "name": "scan", "url": hook.url}, {"kind": "command", "run": "test -f /etc/motd"}]
    world = world_with({"mode": "after_checks", "soak_minutes": 60, "checks": checks})
    build_base(world, "1.0.1")
    run = run_of(world)
    [staged] = gather.template_page(world.deps, "base").staged
    since = datetime.fromisoformat(run.promotion["since"])
    assert staged.run_id == run.run_id and list(staged.versions) == versions_of(run) and staged.versions
    assert (staged.since, staged.soak_until) == (since, since + timedelta(minutes=60))
    labels = ("1. webhook: scan", "2. command: test -f /etc/motd")
    assert [(c.label, c.result) for c in staged.checks] == [(labels[0], "pending"), (labels[1], "pending")]
    assert staged.next_kind == "check" and staged.next_step.endswith(f"{labels[0]}, {labels[1]}.")

    world.reconcile()  # the checks run: the webhook passes, the command cannot run here
    world.reconcile()  # the failure is announced (once)
    [staged] = gather.template_page(world.deps, "base").staged
    assert [(c.result, c.detail) for c in staged.checks][0] == ("passed", "HTTP 200")
    assert staged.checks[1].result == "failed" and "only the local backend" in staged.checks[1].detail
    recorded = run_of(world).promotion["checks"][labels[0]]["at"]
    assert staged.checks[0].at == datetime.fromisoformat(recorded) and staged.checks[0].at > since
    [action] = staged.actions
    assert (action.action, action.state, action.by) == ("checks-failed", STAGED, "aibtrigger")
    assert action.why.startswith("a check failed: 2. command")
    assert staged.next_kind == "hold" and staged.next_step.startswith("Held: a check failed: 2. command")

    html = web.template(world.deps, "base", accept=None, links=LINKS).body
    section = html[html.index('<section id="staged"') : html.index("</section>", html.index('<section id="staged"'))]
    assert f'<article class="staged" data-run="{run.run_id}"' in section
    assert f"<code>{staged.versions[0]}</code>" in section
    assert f"<dt>Soak ends</dt><dd>{(since + timedelta(minutes=60)):%Y-%m-%d %H:%M} UTC</dd>" in section
    assert '<tr class="c-passed"><th scope="row">1. webhook: scan</th><td><b>passed</b></td>' in section
    assert "only the local backend" in section and "Held: a check failed" in section
    assert "<strong>checks-failed</strong> by aibtrigger (staged): a check failed" in section
    data = json.loads(web.template(world.deps, "base", accept="application/json", links=LINKS).body)
    assert data["staged"][0]["next_kind"] == "hold" and data["staged"][0]["checks"][1]["result"] == "failed"
    assert data["rollback_images"] == [IMAGES.lower() + "base"]


def test_the_next_step_of_a_soak_is_its_end_then_promotion():
    world = world_with({"mode": "after_checks", "soak_minutes": 90})
    build_base(world, "1.0.1")
    [staged] = gather.template_page(world.deps, "base").staged
    assert staged.checks == () and staged.next_kind == "wait"
    assert staged.next_step == f"Soaks until {staged.soak_until:%Y-%m-%d %H:%M} UTC, then the reconciler promotes it."
    world.clock.advance(minutes=90)
    [staged] = gather.template_page(world.deps, "base").staged
    assert staged.next_kind == "promote" and "no checks, soaked 90 min" in staged.next_step
    html = web.template(world.deps, "base", accept=None, links=LINKS).body
    assert "No post-build checks." in html and "Nobody has acted on it yet." in html


def test_a_manual_run_waits_for_a_person_and_offers_promote_reject_and_rollback_forms(manual):
    run_id = run_of(manual).run_id
    [staged] = gather.template_page(manual.deps, "base").staged
    assert (staged.next_kind, staged.soak_until) == ("hold", None)
    assert staged.next_step == "Waits for a person (manual promotion): promote it, or reject it."
    html = web.template(manual.deps, "base", accept=None, links=LINKS).body
    assert html.count("<form") == 4  # request a build, promote, reject, roll back
    assert f'<form method="post" action="/api/status/runs/{run_id}/promote?code=master%26key">' in html
    assert f'<form method="post" action="/api/status/runs/{run_id}/reject?code=master%26key">' in html
    assert '<form method="post" action="/api/status/templates/base/rollback?code=master%26key">' in html
    # every field labelled; the reasons of reject and rollback required, described by the admin hint
    for field in ("promote-reason-0", "reject-reason-0", "rollback-reason"):
        assert f'<label for="{field}">' in html and f'<input id="{field}" name="reason"' in html
    assert '<input id="reject-reason-0" name="reason" required' in html
    assert '<input id="rollback-reason" name="reason" required' in html
    assert (
        'id="hint-staged">Admin level' in html and "refuses them (401) from a page opened with a function key" in html
    )
    assert f'data-staged="{run_id}"' in html  # the live script reloads when this changes


def test_no_staged_section_once_nothing_is_staged_and_the_timeline_tells_each_runs_promotion(manual):
    from aibtrigger.service_layer.promotions import reject

    run_id = run_of(manual).run_id
    reject(run_id, manual.deps, by="alice", why="CVE-2026-1")
    page = gather.template_page(manual.deps, "base")
    assert page.staged == () and [r.promotion for r in page.runs] == ["rejected", "promoted"]
    html = web.template(manual.deps, "base", accept=None, links=LINKS).body
    assert 'id="staged"' not in html and "/reject?" not in html and "<span>versions rejected</span>" in html


def test_a_template_that_distributes_to_no_gallery_offers_no_rollback():
    vhd = template("vhd-only", marketplace("jammy"))
    vhd["definition"]["distribute"] = [{"type": "VHD", "runOutputName": "vhd"}]
    world = World([vhd])
    page = gather.template_page(world.deps, "vhd-only")
    assert page.rollback_images == () and page.staged == ()
    html = web.template(world.deps, "vhd-only", accept=None, links=LINKS).body
    assert html.count("<form") == 1 and 'id="rollback"' not in html


# --- the forms' POSTs --------------------------------------------------------------------------------
def post(action, deps, subject: str, form: bytes = b"", *, accept=None, by=None, **where):
    command = {"promote": web.promote, "reject": web.reject, "rollback": web.rollback}[action]
    return command(deps, subject, form=form, accept=accept, links=LINKS, by=by, **where)


def told(reply) -> dict:
    """The outcome the redirect carries, as the template page reads it."""
    assert reply.status == 303, reply.body
    location = urlsplit(reply.headers["Location"])
    assert location.path == "/api/status/templates/base"
    return dict(parse_qsl(location.query))


def page_after(world: World, reply) -> str:
    outcome = web.outcome_from(told(reply))
    return web.template(world.deps, "base", accept=None, links=LINKS, outcome=outcome).body


def last_action(world: World, run_id: str) -> dict:
    return world.deps.store.get_run(run_id).promotion["actions"][-1]


def test_promote_records_the_signed_in_user_redirects_with_the_outcome_and_a_repeat_changes_nothing(manual):
    run_id = run_of(manual).run_id
    reply = post("promote", manual.deps, run_id, b"reason=soaked+a+day", by="alice@contoso.com")
    assert told(reply) == {"code": "master&key", "done": "promoted", "subject": run_id}
    assert run_of(manual).promotion["state"] == "promoted"
    action = last_action(manual, run_id)
    assert (action["action"], action["by"], action["why"]) == ("promote", "alice@contoso.com", "soaked a day")
    html = page_after(manual, reply)
    assert f'<p class="notice" role="status">{run_id} promoted: its versions may now be' in html
    assert "data-self=" not in html  # a page answered to a GET reloads itself
    assert 'id="staged"' not in html

    again = post("promote", manual.deps, run_id, by="bob")
    assert told(again) == {"code": "master&key", "done": "promoted", "subject": run_id, "repeat": "1"}
    assert f"{run_id} was already promoted: nothing changed." in page_after(manual, again)
    assert last_action(manual, run_id)["by"] == "alice@contoso.com"  # the repeat recorded nothing


def test_promote_without_a_reason_or_a_signed_in_user_says_the_status_page_did_it(manual):
    run_id = run_of(manual).run_id
    assert post("promote", manual.deps, run_id).status == 303
    action = last_action(manual, run_id)
    assert (action["by"], action["why"]) == ("status page", "promoted on the status page")


def test_reject_needs_a_reason_then_a_promotion_is_refused_with_the_commands_reason(manual):
    run_id = run_of(manual).run_id
    refused = post("reject", manual.deps, run_id, b"reason=++")
    assert refused.status == 400 and refused.mimetype == "text/html"
    assert '<p class="error" role="alert">reason: required' in refused.body and 'id="staged"' in refused.body
    # answered to the POST: the live script reads the page's own address, never the form's again
    assert 'data-self="/api/status/templates/base?code=master%26key"' in refused.body
    assert run_of(manual).promotion["state"] == STAGED

    reply = post("reject", manual.deps, run_id, b"reason=CVE-2026-1234+in+openssl", by="alice")
    assert told(reply)["done"] == "rejected"
    assert (last_action(manual, run_id)["by"], last_action(manual, run_id)["why"]) == (
        "alice",
        "CVE-2026-1234 in openssl",
    )
    assert f"{run_id} rejected: its versions stay excluded" in page_after(manual, reply)
    assert told(post("reject", manual.deps, run_id, b"reason=again"))["repeat"] == "1"

    late = post("promote", manual.deps, run_id)
    assert late.status == 409
    assert f'role="alert">run {run_id} is rejected: it cannot be promoted' in late.body
    as_json = post("promote", manual.deps, run_id, accept="application/json")
    assert as_json.status == 409 and "is rejected" in json.loads(as_json.body)["error"]
    assert run_of(manual).promotion["state"] == "rejected"


def test_an_unknown_run_is_404_with_the_reason(manual):
    for action in ("promote", "reject"):
        reply = post(action, manual.deps, "base.nope", b"reason=x")
        assert reply.status == 404 and "no run &#x27;base.nope&#x27;" in reply.body


def test_rollback_needs_a_reason_refuses_to_empty_latest_and_falls_back_once_promoted(manual):
    assert post("rollback", manual.deps, "base").status == 400
    only = post("rollback", manual.deps, "base", b"reason=boot+loop")  # the staged version is not latest yet
    assert only.status == 409 and "is the only version" in only.body and 'role="alert"' in only.body
    run_id = run_of(manual).run_id
    post("promote", manual.deps, run_id)
    reply = post("rollback", manual.deps, "base", b"reason=boot+loop", by="carol")
    assert told(reply) == {"code": "master&key", "done": "rolled_back", "subject": "base"}
    assert run_of(manual).promotion["state"] == "rolled_back"
    assert (last_action(manual, run_id)["by"], last_action(manual, run_id)["why"]) == ("carol", "boot loop")
    assert "base rolled back: `latest` fell back" in page_after(manual, reply)
    assert post("rollback", manual.deps, "nope", b"reason=x").status == 404


def test_with_json_a_form_post_answers_what_was_done(manual):
    run_id = run_of(manual).run_id
    reply = post("promote", manual.deps, run_id, accept="application/json")
    assert reply.status == 200
    assert json.loads(reply.body) == {
        "subject": run_id,
        "state": "promoted",
        "changed": True,
        "detail": f"{', '.join(versions_of(run_of(manual)))} may now be `latest`",
    }


@pytest.mark.parametrize("action, form", [("promote", b""), ("reject", b"reason=x"), ("rollback", b"reason=x")])
def test_a_browser_post_from_another_site_is_refused_and_changes_nothing(manual, action, form):
    run_id = run_of(manual).run_id
    subject = "base" if action == "rollback" else run_id
    hosts = ("127.0.0.1:7071", None)
    reply = post(action, manual.deps, subject, form, origin="https://evil.example", hosts=hosts)
    assert reply.status == 403 and "refused" in reply.body
    assert run_of(manual).promotion == manual.deps.store.get_run(run_id).promotion
    assert run_of(manual).promotion["state"] == STAGED and run_of(manual).promotion["actions"] == []


@pytest.mark.parametrize(
    "params", [{}, {"done": "deleted", "subject": "x"}, {"done": "promoted"}, {"subject": "x", "repeat": "1"}]
)
def test_only_the_three_outcomes_are_told(params):
    assert web.outcome_from(params) is None


# --- the Functions: admin level, the signed-in user, the redirect ------------------------------------
def test_the_promotion_forms_post_to_admin_level_functions_and_the_rest_stays_at_function_level():
    """Read from each function's own builder: function_app.app, indexed twice in one process, refuses."""
    import azure.functions as func

    from aibtrigger.entrypoints import status, versions

    def trigger(module, name):
        return getattr(module, name).build().get_trigger()

    names = [name for name in vars(status) if name.startswith("status_")]
    assert {name: trigger(status, name).auth_level for name in names} == {
        "status_overview": func.AuthLevel.FUNCTION,
        "status_lineage": func.AuthLevel.FUNCTION,
        "status_template": func.AuthLevel.FUNCTION,
        "status_request_build": func.AuthLevel.FUNCTION,
        "status_promote_run": func.AuthLevel.ADMIN,
        "status_reject_run": func.AuthLevel.ADMIN,
        "status_rollback_template": func.AuthLevel.ADMIN,
    }
    for page, endpoint in (
        ("status_promote_run", "promote_run"),
        ("status_reject_run", "reject_run"),
        ("status_rollback_template", "rollback_template"),
    ):  # the same authorization as their HTTP endpoints
        assert trigger(status, page).auth_level == trigger(versions, endpoint).auth_level
    routes = [trigger(status, name).route for name in ("status_promote_run", "status_reject_run")]
    assert routes + [trigger(status, "status_rollback_template").route] == [
        "status/runs/{run_id}/promote",
        "status/runs/{run_id}/reject",
        "status/templates/{name}/rollback",
    ]


def test_the_function_records_the_signed_in_user_and_the_page_tells_the_outcome(manual, monkeypatch):
    import azure.functions as func

    from aibtrigger.entrypoints.status import status_promote_run, status_template

    monkeypatch.setattr("aibtrigger.bootstrap.get_deps", lambda: manual.deps)
    run_id = run_of(manual).run_id
    request = func.HttpRequest(
        method="POST",
        url=f"http://127.0.0.1:7071/api/status/runs/{run_id}/promote?code=mk",
        headers={
            "x-ms-client-principal-name": "alice@contoso.com",
            "origin": "http://127.0.0.1:7071",
            "content-type": "application/x-www-form-urlencoded",
        },
        params={"code": "mk"},
        route_params={"run_id": run_id},
        body=b"reason=looked+fine",
    )
    answer = status_promote_run.build().get_user_function()(request)
    location = answer.headers["Location"]
    assert answer.status_code == 303
    assert location == f"/api/status/templates/base?code=mk&done=promoted&subject={quote(run_id)}"
    assert (last_action(manual, run_id)["by"], last_action(manual, run_id)["why"]) == (
        "alice@contoso.com",
        "looked fine",
    )
    page = func.HttpRequest(
        method="GET",
        url="http://127.0.0.1:7071" + location,
        headers={},
        params=dict(parse_qsl(urlsplit(location).query)),
        route_params={"name": "base"},
        body=b"",
    )
    html = status_template.build().get_user_function()(page).get_body().decode()
    assert f'role="status">{run_id} promoted:' in html
