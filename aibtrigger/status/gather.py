"""Reads what the views need, through the ports only (StateStore, LogStore via the backend, the catalog)
and the dry run; the views themselves are computed by the pure modules beside this one.

The overview costs a fixed number of listings (summaries, claims, observed sources, the dry run's)
plus one point read per run shown, a few at a time: no scan of the whole run history; a status
read per build in progress (live.py, kept a few seconds); and, per template whose promotion is gated
and whose last run is not staged, one listing of its recent runs (is an earlier one staged?).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from aibtrigger.domain.planner_index import index_for
from aibtrigger.domain.records import TemplateSummary
from aibtrigger.errors import AibTriggerError
from aibtrigger.service_layer.planning import dry_run
from aibtrigger.status.lineage_view import Lineage, layout
from aibtrigger.status.live import live_statuses
from aibtrigger.status.model import Overview, TemplateRow, count_states, is_staged, template_row
from aibtrigger.status.promotion_view import staged_version
from aibtrigger.status.timeline import TemplatePage, current_build, failure_of, run_bar, verdict_of

log = logging.getLogger(__name__)
RUNS_SHOWN = 30  # on a template's timeline


def overview(deps) -> Overview:
    now = deps.clock()
    rows = _rows(deps)
    return Overview(generated_at=now, counts=count_states(rows), templates=rows)


def lineage(deps) -> Lineage:
    rows = {row.name: row for row in _rows(deps)}
    return layout(index_for(deps.catalog).graph, rows, deps.clock())


def template_page(deps, name: str) -> TemplatePage:
    """Raises UnknownTemplateError for a name outside the catalog."""
    deps.catalog.get(name)
    now, index = deps.clock(), index_for(deps.catalog)
    runs = deps.store.list_runs(name, limit=RUNS_SHOWN)
    claim = deps.store.get_claim(name)
    current = _claimed_run(deps, claim, runs)
    decision = next((d for d in dry_run(deps) if d.template == name), None)
    summary = deps.store.get_summary(name)
    last = next((r for r in runs if r.run_id == summary.last_counted_run), None) or (
        deps.store.get_run(summary.last_counted_run) if summary.last_counted_run else None
    )
    live = live_statuses(deps.backend, [current] if current is not None else []).get(name)
    row = template_row(
        index.facts[name],
        summary=summary,
        claim=claim,
        current=current,
        last=last,
        live=live,
        decision=decision,
        observed=_observed(deps.store.get_observed(), index.facts[name]),
        staged=any(is_staged(r) for r in runs),
    )
    # The backend's log is the current run's only once the backend confirmed it (state set).
    confirmed = current is not None and current.state is not None and not current.is_terminal
    log_text = _read_log(deps, name) if confirmed else None
    return TemplatePage(
        generated_at=now,
        template=row,
        parents=tuple(sorted(index.graph.parents(name))),
        children=tuple(sorted(index.graph.children(name))),
        verdict=verdict_of(decision),
        current=current_build(claim.run_id, current, live, log_text, now) if claim is not None else None,
        failure=failure_of(runs),
        runs=tuple(run_bar(r, now) for r in runs),
        staged=_staged_versions(deps, name, runs, now),
        rollback_images=tuple(index.facts[name].outputs),
    )


def _rows(deps) -> list[TemplateRow]:
    store, index = deps.store, index_for(deps.catalog)
    summaries = {s.template: s for s in store.list_summaries()}
    claims = {c.template: c for c in store.list_claims()}
    decisions = {d.template: d for d in dry_run(deps)}
    observed = store.get_observed()
    wanted = [c.run_id for c in claims.values()]
    wanted += [s.last_counted_run for s in summaries.values() if s.last_counted_run]
    runs = _get_runs(store, wanted)
    live = live_statuses(deps.backend, [runs[c.run_id] for c in claims.values() if c.run_id in runs])
    staged = _staged_templates(deps, summaries, runs)
    rows = []
    for entry in deps.catalog.templates:
        summary = summaries.get(entry.name) or TemplateSummary(entry.name)
        claim = claims.get(entry.name)
        rows.append(
            template_row(
                index.facts[entry.name],
                summary=summary,
                claim=claim,
                live=live.get(entry.name),
                current=runs.get(claim.run_id) if claim else None,
                last=runs.get(summary.last_counted_run or ""),
                decision=decisions.get(entry.name),
                observed=_observed(observed, index.facts[entry.name]),
                staged=entry.name in staged,
            )
        )
    return rows


def _staged_versions(deps, name: str, runs: list, now) -> tuple:
    from aibtrigger.service_layer.promotions import versions_of

    policy = deps.catalog.get(name).policy.promotion
    return tuple(staged_version(policy, run, versions_of(run), now) for run in runs if is_staged(run))


def _staged_templates(deps, summaries: dict, runs: dict) -> set[str]:
    """The gated templates with a staged run among the runs their page shows (so the overview says
    "staged" exactly when the template page has staged versions). The last counted run often says
    so already; the others cost one short listing each, a few at a time."""
    gated = [entry.name for entry in deps.catalog.templates if entry.policy.promotion.stages]
    found = {name for name in gated if name in summaries and is_staged(runs.get(summaries[name].last_counted_run))}
    rest = [name for name in gated if name not in found]
    if rest:
        with ThreadPoolExecutor(max_workers=min(8, len(rest))) as pool:
            listed = pool.map(lambda name: deps.store.list_runs(name, limit=RUNS_SHOWN), rest)
            found |= {name for name, recent in zip(rest, listed, strict=True) if any(map(is_staged, recent))}
    return found


def _get_runs(store, run_ids: list[str]) -> dict:
    """Point reads, eight at a time: one round trip each on Azure Tables, cheap next to a scan."""
    unique = list(dict.fromkeys(run_ids))
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(unique))) as pool:
        found = pool.map(store.get_run, unique)
        return {run.run_id: run for run in found if run is not None}


def _claimed_run(deps, claim, runs):
    if claim is None:
        return None
    return next((r for r in runs if r.run_id == claim.run_id), None) or deps.store.get_run(claim.run_id)


def _read_log(deps, name: str) -> str | None:
    try:
        return deps.backend.read_log(name)
    except AibTriggerError as exc:  # the page still shows everything else
        log.warning("cannot read the live log of %s: %s", name, exc)
        return None


def _observed(observed: dict[str, str], facts) -> str | None:
    return observed.get("|".join(facts.key)) if facts.key else None
