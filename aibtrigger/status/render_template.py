"""One template as HTML: its facts, the build running now with its live log tail, its staged versions,
the dry run's verdict, the request-a-build form, the rollback form, the last failure, and the timeline
of runs (bar length: duration).

The forms are the page's only actions, each a POST behind the same authorization as its HTTP endpoint:
request a build, the function key (as POST /api/requests); promote, reject and roll back, the master
key (as POST /api/runs/{id}/promote; render_promotion.py).
"""

from __future__ import annotations

from aibtrigger.status.html_page import Links, duration, e, page, when
from aibtrigger.status.promotion_view import Outcome
from aibtrigger.status.render_promotion import outcome_notice, rollback_form, staged_section
from aibtrigger.status.timeline import CurrentBuild, Failure, RunBar, TemplatePage, Verdict

_VERDICT = {"build": "Would build now", "skip": "Would not build now", "wait": "Would wait"}


def render_template(
    view: TemplatePage,
    links: Links,
    *,
    queued: str | None = None,
    error: str | None = None,
    outcome: Outcome | None = None,
) -> str:
    t = view.template
    notice = (
        f'<p class="notice" role="status">Build requested (request {e(queued)}): it shows here once it '
        f"starts, or its outcome says why not (<code>aibtrigger outcomes</code>).</p>"
        if queued
        else ""
    )
    notice += outcome_notice(outcome)
    notice += f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    facts = (
        f'<dl class="facts" id="facts"><dt>Source</dt><dd>{e(t.source)}</dd>'
        f'<dt>Built from</dt><dd data-k="built_from">{e(t.built_from)}</dd>'
        f'<dt>Newest seen</dt><dd><span data-k="observed">{e(t.observed)}</span> '
        f'<span class="newer" data-k="newer_observed">{"newer" if t.newer_observed else ""}</span></dd>'
        f'<dt>Last result</dt><dd><span data-k="last_result">{e(t.last_result)}</span> '
        f'<span class="muted" data-k="last_at">{when(t.last_at)}</span></dd>'
        f"<dt>Parents</dt><dd>{_family(view.parents, links)}</dd>"
        f"<dt>Children</dt><dd>{_family(view.children, links)}</dd></dl>"
    )
    body = (
        f'<h1>{e(t.name)} <span id="state" class="badge st-{t.state}" data-k="state_label">'
        f"{e(t.state_label)}</span></h1>{notice}{facts}{_current(view.current)}{staged_section(view.staged, links)}"
        f"{_verdict(view.verdict, building=view.current is not None)}"
        f"{_request_form(t.name, links)}{rollback_form(t.name, view.rollback_images, links)}"
        f"{_failure(view.failure)}{_timeline(view.runs)}"
    )
    latest = view.runs[0].run_id if view.runs else ""
    staged = " ".join(version.run_id for version in view.staged)
    return page(
        title=t.name,
        view="template",
        links=links,
        generated_at=view.generated_at,
        body=body,
        attrs=f' data-latest="{e(latest)}" data-staged="{e(staged)}"' + _self(t.name, links, refused=bool(error)),
    )


def _self(name: str, links: Links, *, refused: bool) -> str:
    """A refused form's page answers the POST: its address is the form's, which only takes POSTs. The
    live script then reads, and reloads, the template's own address (never the POST again)."""
    return f' data-self="{e(links.template(name))}"' if refused else ""


def _family(names: tuple[str, ...], links: Links) -> str:
    return ", ".join(f'<a href="{e(links.template(name))}">{e(name)}</a>' for name in names) or "none"


def _current(build: CurrentBuild | None) -> str:
    if build is None:
        return '<h2>Building now</h2><p class="muted">Nothing is building.</p>'
    tail = "\n".join(build.log_tail) or "(no log lines yet)"
    return (
        f'<section id="current" data-run="{e(build.run_id)}" aria-labelledby="h-current">'
        f'<h2 id="h-current">Building now</h2><dl class="facts"><dt>Run</dt><dd>{e(build.run_id)}</dd>'
        f'<dt>State</dt><dd aria-live="polite"><span data-k="state">{e(build.state)}</span> '
        f'<span data-k="sub_state">{e(build.sub_state)}</span></dd>'
        f'<dt>Elapsed</dt><dd data-k="elapsed_seconds">{duration(build.elapsed_seconds)}</dd></dl>'
        f'<h3 id="h-log">Log, last lines</h3><pre id="log" tabindex="0" aria-labelledby="h-log">{e(tail)}</pre>'
        f"</section>"
    )


def _verdict(verdict: Verdict | None, *, building: bool) -> str:
    if verdict is None:
        return ""
    reasons = "".join(f"<li>{e(r)}</li>" for r in verdict.reasons)
    after = f" (not before {when(verdict.not_before)})" if verdict.not_before else ""
    joins = (
        '<p class="muted">A build is running: a request now joins its one follow-up, built after it.</p>'
        if building and verdict.action == "build"
        else ""
    )
    return (
        f'<section aria-labelledby="h-verdict"><h2 id="h-verdict">Dry run</h2>'
        f"<p><strong>{_VERDICT.get(verdict.action, e(verdict.action))}</strong>{after}, wave {verdict.wave} "
        f"of the lineage, because:</p><ul>{reasons}</ul>{joins}</section>"
    )


def _request_form(name: str, links: Links) -> str:
    return (
        f'<section aria-labelledby="h-request"><h2 id="h-request">Request a build</h2>'
        f'<form method="post" action="{e(links.build(name))}"><div><label for="reason">Reason (optional)</label>'
        f'<input id="reason" name="reason" maxlength="1000" placeholder="why it should build now"></div>'
        f'<button type="submit">Request a build of {e(name)}</button></form></section>'
    )


def _failure(failure: Failure | None) -> str:
    if failure is None:
        return ""
    step = f", in step {e(failure.step)}" if failure.step else ""
    status = f", exit status {failure.exit_status}" if failure.exit_status is not None else ""
    excerpt = "\n".join(failure.lines)
    lines = f'<pre tabindex="0" aria-label="Log excerpt">{e(excerpt)}</pre>' if excerpt else ""
    return (
        f'<section id="failure" aria-labelledby="h-failure"><h2 id="h-failure">Last failure</h2>'
        f"<p>{e(failure.result)} {when(failure.ended_at)}{step}{status}: <strong>{e(failure.reason)}</strong></p>"
        f'<p class="muted">Run {e(failure.run_id)}</p>{lines}</section>'
    )


def _timeline(runs: tuple[RunBar, ...]) -> str:
    if not runs:
        return '<h2>Runs</h2><p class="muted">No runs recorded yet.</p>'
    longest = max(run.duration_seconds for run in runs) or 1.0
    items = "".join(_bar(run, longest) for run in runs)
    return (
        f'<section aria-labelledby="h-runs"><h2 id="h-runs">Runs ({len(runs)}, newest first)</h2>'
        f'<p class="muted">Bar length: duration; colour: result.</p><ol class="timeline">{items}</ol></section>'
    )


def _bar(run: RunBar, longest: float) -> str:
    width = max(0.5, 100 * run.duration_seconds / longest)
    promotion = f"<span>versions {e(run.promotion.replace('_', ' '))}</span>" if run.promotion else ""
    return (
        f'<li class="r-{e(run.result)}" data-run="{e(run.run_id)}"><div class="run-head"><b>{e(run.result)}</b>'
        f"<span>{duration(run.duration_seconds)}</span><span>{when(run.started_at or run.created_at)}</span>"
        f"<span>signal: {e(run.signal)}</span>{promotion}"
        f'<span class="muted">{e(run.run_id)}</span></div>'
        f'<div class="bar" style="width:{width:.1f}%"></div>'
        f'<p class="src">{e("; ".join(run.reasons))}{" — " + e(run.message) if run.message else ""}</p></li>'
    )
