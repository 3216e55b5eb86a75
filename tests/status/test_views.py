"""The status views on in-memory state: what each view says, and that its HTML and JSON agree."""

import json
import re
from datetime import timedelta

from aibtrigger.domain.lineage import LineageGraph
from aibtrigger.domain.model import BuildStatus, FailureExcerpt, RunState, RunSubState
from aibtrigger.domain.planner_types import BUILD, SKIP, WAIT, Decision
from aibtrigger.domain.records import Claim, RunRecord, TemplateSummary
from aibtrigger.status import gather, web
from aibtrigger.status.html_page import Links
from aibtrigger.status.lineage_view import NODE_W
from aibtrigger.status.model import STATES, template_state
from aibtrigger.status.timeline import LOG_TAIL_LINES
from tests.status.conftest import make_deps
from tests.status.population import NOW, catalog

HTML_ROW = re.compile(r'<tr class="st-(\w+)" data-template="([^"]+)">.*?data-k="state_label">([^<]*)<')


def state(**given):
    args = {"paused": False, "summary": TemplateSummary("t"), "claim": None, "last": None, "decision": None}
    return template_state(**{**args, **given})


def run(template="t", state=RunState.SUCCEEDED, age_minutes=60, **extra):
    started = NOW - timedelta(minutes=age_minutes)
    fields = dict(
        run_id=f"{template}.{started:%Y%m%dT%H%M%SZ}.abcdef",
        template=template,
        request_ids=("r",),
        reasons=("because",),
        requested_by=("alice",),
        created_at=started,
        state=state,
        started_at=started,
        ended_at=started + timedelta(minutes=20) if state and state.is_terminal else None,
    )
    return RunRecord(**{**fields, **extra})


def decision(action, not_before=None):
    return Decision("t", action, ("a reason",), 0, "sweep", not_before=not_before)


def test_each_state_and_which_wins():
    claim = Claim(template="t", run_id="t.1", request_id="r", state="running", claimed_at=NOW)
    failing = TemplateSummary("t", consecutive_failures=2)
    assert state(claim=claim, summary=TemplateSummary("t", disabled=True)) == "building"
    assert state(summary=TemplateSummary("t", disabled=True, consecutive_failures=5), paused=True) == "disabled"
    assert state(paused=True, summary=failing) == "paused"
    assert state(summary=failing, decision=decision(WAIT)) == "failing"
    assert state(summary=failing, staged=True) == "failing"  # the staged version waits meanwhile
    assert state(paused=True, staged=True) == "paused"
    assert state(staged=True, decision=decision(WAIT)) == "staged"
    assert state(staged=True, decision=decision(BUILD), last=run()) == "staged"
    assert state(staged=True, last=run()) == "staged"
    assert state(last=run(state=RunState.TIMED_OUT)) == "failing"
    assert state(last=run(state=RunState.CANCELED), decision=decision(SKIP)) == "current"  # a person's choice
    assert state(decision=decision(WAIT)) == "waiting"
    assert state(decision=decision(WAIT, not_before=NOW), last=run()) == "current"  # a window, not a parent
    assert state(decision=decision(BUILD), last=run()) == "due"
    assert state(decision=decision(SKIP)) == "new"
    assert state(decision=decision(SKIP), last=run()) == "current"


def test_overview_lists_the_catalog_in_order_with_counts_sub_states_and_newer_sources(deps200):
    view = gather.overview(deps200)
    assert [row.name for row in view.templates] == [t.name for t in deps200.catalog.templates]
    assert sum(view.counts.values()) == 200 and set(view.counts) <= set(STATES)
    building = [row for row in view.templates if row.state == "building"]
    assert len(building) == 10 and {row.sub_state for row in building} == {"Customizing"}
    assert all(row.run_id.endswith(".live00") for row in building)
    root = view.templates[0]  # its sku saw a newer version than the one it was built from
    assert (root.built_from, root.observed, root.newer_observed) == ("22.04.202411050", "22.04.202411200", True)
    assert view.templates[5].newer_observed is False  # sku 5: nothing newer
    assert next(r for r in view.templates if r.name.startswith("web-tier")).observed is None  # no gallery sweep


def test_overview_html_and_json_show_the_same_states(deps200, links):
    data = json.loads(web.overview(deps200, accept="application/json", links=links).body)
    html = web.overview(deps200, accept="text/html,*/*", links=links).body
    shown = {name: (cls, label) for cls, name, label in HTML_ROW.findall(html)}
    assert shown == {t["name"]: (t["state"], t["state_label"]) for t in data["templates"]}
    for state, count in data["counts"].items():
        assert f'data-count="{state}">{count}<' in html


def test_overview_of_200_templates_stays_under_150_kb_even_with_a_function_key(deps200, links):
    from aibtrigger.status.html_page import Links

    body = web.overview(deps200, accept=None, links=Links("/api/status", "k" * 56)).body
    assert len(body.encode()) < 150_000


def test_read_only_views_offer_no_action_and_the_template_page_its_posts(deps200, links):
    for reply in (web.overview(deps200, accept=None, links=links), web.lineage(deps200, accept=None, links=links)):
        assert "<form" not in reply.body and "<button" not in reply.body
    page = web.template(deps200, "ubuntu-2204-hardened-000", accept=None, links=links).body
    assert page.count("<form") == 2  # request a build; roll back (it distributes to a gallery; nothing staged)
    assert '<form method="post" action="/api/status/templates/ubuntu-2204-hardened-000/build?code=key%261"' in page
    assert '<form method="post" action="/api/status/templates/ubuntu-2204-hardened-000/rollback?code=key%261"' in page


def test_links_carry_the_function_key_and_escape_it(deps200, links):
    html = web.overview(deps200, accept=None, links=links).body
    assert 'href="/api/status/lineage?code=key%261"' in html
    assert 'href="/api/status/templates/ubuntu-2204-hardened-000?code=key%261"' in html


def test_lineage_draws_every_edge_with_parents_above_and_no_overlap(deps200, links):
    view = gather.lineage(deps200)
    graph = LineageGraph.from_catalog(deps200.catalog)
    assert {(e.parent, e.child) for e in view.edges} == {(p, c) for c in graph.names for p in graph.parents(c)}
    at = {n.name: n for n in view.nodes}
    assert all(at[e.parent].y < at[e.child].y for e in view.edges)
    for depth in {n.depth for n in view.nodes}:
        xs = sorted(n.x for n in view.nodes if n.depth == depth)
        assert all(b - a >= NODE_W for a, b in zip(xs, xs[1:], strict=False))
    assert max(n.x for n in view.nodes) + NODE_W <= view.width
    html = web.lineage(deps200, accept=None, links=links).body
    assert html.count('<path class="edge') == len(view.edges) == 150
    assert html.count('<a class="node') == 200


def test_a_running_cascade_is_highlighted():
    deps = make_deps(catalog(8), populated=False)
    parent = "ubuntu-2204-hardened-000"
    deps.store.create_claim(
        Claim(template=parent, run_id=f"{parent}.1", request_id="r", state="starting", claimed_at=NOW)
    )
    deps.store.put_observed(
        "gallery|/subscriptions/s/resourcegroups/images/providers/microsoft.compute/galleries/"
        "golden/images/ubuntu-2204-hardened-000",
        "1.0.0",
    )
    view = gather.lineage(deps)
    states = {n.name: n.state for n in view.nodes}
    active = {(e.parent, e.child) for e in view.edges if e.active}
    assert states[parent] == "building"
    # 000 -> web-tier 002 -> payments 006, and 000 -> web-tier 004 (its child 005 is paused). 001 was never
    # built and nothing builds it by itself (a sweep promises no first build): its line waits for nothing.
    assert states["payments-service-005"] == "paused"
    assert {states[n] for n in ("web-tier-nginx-003", "payments-service-007")} == {"new"}
    assert active == {
        (parent, "web-tier-nginx-002"),
        (parent, "web-tier-nginx-004"),
        ("web-tier-nginx-002", "payments-service-006"),
    }
    html = web.lineage(deps, accept=None, links=Links("/api/status")).body
    assert html.count('class="edge active"') == 3


def test_template_page_timeline_failure_current_build_and_verdict(links):
    deps = make_deps(catalog(4), populated=False)
    name = "ubuntu-2204-hardened-000"
    failed = run(
        name,
        RunState.FAILED,
        300,
        excerpt=FailureExcerpt("exit 100", "shell #1", 100, ("E: no such package", "GET ?sig=LEAKED")),
    )
    ok = run(name, RunState.SUCCEEDED, 200, requested_by=("aibtrigger:source", "bob"))
    live = run(name, RunState.RUNNING, 5, sub_state=RunSubState.CUSTOMIZING)
    for record in (failed, ok, live):
        deps.store.save_run(record)
    deps.store.create_claim(
        Claim(template=name, run_id=live.run_id, request_id="r", state="running", claimed_at=live.created_at)
    )
    deps.backend.start_run(name)  # the backend is further on than the last poll recorded:
    deps.backend.status[name] = BuildStatus(RunState.RUNNING, RunSubState.VALIDATING, live.started_at)
    deps.backend.logs[name] = "\n".join(f"line {i}" for i in range(100)) + "\nurl?sig=SECRET123&x=1\n"
    page = gather.template_page(deps, name)
    assert [r.run_id for r in page.runs] == [live.run_id, ok.run_id, failed.run_id]
    assert [r.signal for r in page.runs] == ["manual", "source, manual", "manual"]
    assert page.runs[1].duration_seconds == 20 * 60
    assert (page.failure.run_id, page.failure.exit_status) == (failed.run_id, 100)
    assert page.failure.lines == ("E: no such package", "GET ?sig=***")
    assert page.current.sub_state == "Validating" and len(page.current.log_tail) == LOG_TAIL_LINES
    assert page.current.log_tail[-1] == "url?sig=***&x=1" and page.current.log_tail[0] == "line 61"
    assert page.verdict.action in (BUILD, SKIP, WAIT) and page.verdict.reasons
    assert page.children == ("web-tier-nginx-001",) and page.parents == ()
    html = web.template(deps, name, accept=None, links=links).body
    assert "SECRET123" not in html and "LEAKED" not in html
    assert "E: no such package" in html and f'data-run="{live.run_id}"' in html


def test_a_claim_before_its_run_is_recorded_shows_starting_without_log(links):
    deps = make_deps(catalog(2), populated=False)
    name = "ubuntu-2204-hardened-000"
    deps.store.create_claim(Claim(template=name, run_id=f"{name}.x", request_id="r", state="starting", claimed_at=NOW))
    deps.backend.logs[name] = "the previous run's log"
    page = gather.template_page(deps, name)
    assert (page.current.state, page.current.log_tail, page.template.sub_state) == ("Starting", (), "Starting")


def test_names_reasons_and_logs_are_escaped(links):
    deps = make_deps(catalog(2), populated=False)
    name = "ubuntu-2204-hardened-000"
    deps.store.save_run(run(name, RunState.FAILED, 30, reasons=("<script>alert(1)</script>",), message="a&b"))
    html = web.template(deps, name, accept=None, links=links).body
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "a&amp;b" in html


def test_unknown_template_is_404_in_html_and_json(deps200, links):
    assert web.template(deps200, "nope", accept=None, links=links).status == 404
    reply = web.template(deps200, "nope", accept="application/json", links=links)
    assert reply.status == 404 and json.loads(reply.body) == {"error": "template 'nope' is not in the catalog"}


def test_json_of_the_template_page_is_its_view_model(deps200, links):
    from aibtrigger.status.model import to_jsonable

    name = "payments-service-199"
    data = json.loads(web.template(deps200, name, accept="application/json", links=links).body)
    assert data == json.loads(json.dumps(to_jsonable(gather.template_page(deps200, name))))
    assert data["template"]["name"] == name and len(data["runs"]) == 6


def building(name="ubuntu-2204-hardened-000", backend_status=None):
    """A template whose recorded run is Running/Building; the backend says `backend_status`."""
    deps = make_deps(catalog(2), populated=False)
    live = run(name, RunState.RUNNING, 5, sub_state=RunSubState.BUILDING)
    deps.store.save_run(live)
    deps.store.create_claim(
        Claim(template=name, run_id=live.run_id, request_id="r", state="running", claimed_at=live.created_at)
    )
    if backend_status is not None:
        deps.backend.status[name] = backend_status(live)
    return deps, name


def test_the_backend_status_of_another_run_is_not_shown_as_the_current_build():
    before = NOW - timedelta(hours=2)  # the previous build, still what the backend reports
    deps, name = building(backend_status=lambda _: BuildStatus(RunState.CANCELED, None, before, before))
    page = gather.template_page(deps, name)
    assert (page.current.state, page.current.sub_state, page.template.sub_state) == ("Running", "Building", "Building")


def test_a_backend_that_cannot_answer_leaves_the_recorded_state():
    deps, name = building()
    deps.backend.templates.discard(name)  # get_status raises TemplateNotFoundError
    assert gather.template_page(deps, name).current.sub_state == "Building"


def test_the_overview_asks_the_backend_once_per_build_however_many_look():
    deps, name = building(backend_status=lambda r: BuildStatus(RunState.CANCELING, None, r.started_at))
    reads = []
    get_status = deps.backend.get_status
    deps.backend.get_status = lambda template: reads.append(template) or get_status(template)
    for _ in range(5):
        row = next(r for r in gather.overview(deps).templates if r.name == name)
        assert row.sub_state == "Canceling"  # the backend's word, the record still says Building
    assert reads == [name]
