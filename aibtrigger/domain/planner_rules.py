"""The planner's rules for one template: source version, schedule, and the policies that gate a build.

A rule returns a Verdict (action, reasons, evidence); `gate` applies the template's policies and
turns it into a Decision. Order of the policies, first match wins:
  paused -> skip (even a manual request: pausing is deliberate; resume to build);
  auto-disabled -> skip, except a manual request, which builds (its success lifts the disable);
  a build outside the maintenance window -> wait until the window opens (`not_before`), except a
  manual request: a person asking now is not held to the window (the reason says it was outside).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from aibtrigger.domain.planner_index import PlannerIndex, TemplateFacts
from aibtrigger.domain.planner_types import (BUILD, NEVER_BUILT, SKIP, WAIT, Decision, SourceKey, TemplateHistory,
                                             upstream_id)
from aibtrigger.domain.schedule import due_tick
from aibtrigger.domain.versions import is_newer, version_of


class Verdict(NamedTuple):
    action: str
    reasons: tuple[str, ...]
    evidence: dict


class Context:
    """One plan call's inputs, with the lookups it repeats memoized for that call."""

    def __init__(self, index: PlannerIndex, observed: Mapping[SourceKey, str],
                 history: Mapping[str, TemplateHistory], now: datetime, signal: str):
        self.index, self.observed, self.history, self.now, self.signal = index, observed, history, now, signal
        self._window_open: dict = {}

    def hist(self, name: str) -> TemplateHistory:
        return self.history.get(name, NEVER_BUILT)

    def seen(self, key: SourceKey | None) -> str | None:
        version = self.observed.get(key) if key is not None else None
        return version_of(version) if version else None

    def window_open(self, window) -> bool:
        if window not in self._window_open:
            self._window_open[window] = window.contains(self.now)
        return self._window_open[window]


def is_disabled(history: TemplateHistory, max_failures: int) -> bool:
    return history.disabled or (max_failures > 0 and history.consecutive_failures >= max_failures)


def source_verdict(ctx: Context, f: TemplateFacts, seen: str | None, previous: str | None = None) -> Verdict:
    """Rules 1 and 2: a latest-tracking source newer than the last successful build used; pinned never builds."""
    h = ctx.hist(f.name)
    evidence = {"source": f.label + f.where, "observed": seen}
    if f.key is None:
        return Verdict(SKIP, (f"source is {f.label}",), evidence)
    if not f.tracks_latest:
        evidence["pinned"] = f.pinned
        if seen and is_newer(seen, f.pinned):
            return Verdict(SKIP, (f"pinned to {f.pinned}; newer version {seen} available ({f.label}{f.where})",),
                           evidence)
        return Verdict(SKIP, (f"pinned to {f.pinned}",), evidence)
    used = evidence["used"] = version_of(h.last_success_source_version) if h.last_success_source_version else None
    upstream = upstream_id(f.key, seen) if seen else None
    if h.consecutive_failures and h.last_upstream == upstream:
        # The same input already failed: retrying it by itself would fail the same way, every pass.
        return Verdict(SKIP, (f"the last build from {f.label}{f.where} {seen or '(version unknown)'} failed; "
                              "a new version or a manual request builds again",), evidence)
    if used is None and h.last_success_at is None:
        evidence["upstream"] = upstream_id(f.key, seen) if seen else None
        never = f"never succeeded ({h.consecutive_failures} failed)" if h.consecutive_failures else "never built"
        return Verdict(BUILD, (never + (f"; {f.label}{f.where} is at {seen}" if seen else ""),), evidence)
    if seen is None:
        return Verdict(SKIP, (f"no version of {f.label}{f.where} observed yet; last successful build used {used}",),
                       evidence)
    if used is None:  # history without the source version: do not guess, and do not rebuild everything
        return Verdict(SKIP, (f"the last successful build ({h.last_success_at:%Y-%m-%d %H:%M}) did not record its "
                              f"source version: cannot tell whether {f.label}{f.where} {seen} is newer; "
                              "a manual build records it",), evidence)
    if is_newer(seen, used):
        evidence["upstream"] = upstream_id(f.key, seen)
        return Verdict(BUILD, (f"{f.label} went {previous or used} -> {seen}{f.where}; "
                               f"last successful build used {used}",), evidence)
    return Verdict(SKIP, (f"up to date: {f.label}{f.where} is {seen}; last successful build used {used}",), evidence)


def held_for_schedule(ctx: Context, f: TemplateFacts, verdict: Verdict) -> Verdict:
    """With only_if_changed, changes build at the next tick, not at once (else every tick finds nothing new)."""
    if verdict.action != BUILD or not (f.only_if_changed and f.schedule):
        return verdict
    upcoming = f.schedule.next_after(ctx.now)
    when = upcoming.isoformat() if upcoming else "never"
    return Verdict(SKIP, verdict.reasons + (f"only_if_changed: waits for the scheduled refresh (next tick {when})",),
                   verdict.evidence)


def schedule_verdict(ctx: Context, f: TemplateFacts) -> Verdict | None:
    """Rule 3: a due tick builds; with only_if_changed, only when something in its lineage is newer."""
    h = ctx.hist(f.name)
    tick = due_tick(f.schedule, h.last_schedule_tick, ctx.now)
    if tick is None:
        return None
    evidence = {"tick": tick.isoformat()}
    if not f.only_if_changed:
        return Verdict(BUILD, (f"scheduled refresh (tick {tick.isoformat()})",), evidence)
    if h.last_success_at is None:
        return Verdict(BUILD, (f"scheduled refresh (tick {tick.isoformat()}): never built",), evidence)
    changes = lineage_changes(ctx, f, h)
    if changes:
        return Verdict(BUILD, (f"scheduled refresh (tick {tick.isoformat()}): its lineage changed",) + changes,
                       evidence)
    return Verdict(SKIP, (f"scheduled tick {tick.isoformat()}: nothing changed since the last successful build "
                          f"({h.last_success_at.isoformat()})",), evidence)


def lineage_changes(ctx: Context, f: TemplateFacts, h: TemplateHistory) -> tuple[str, ...]:
    """Sources in the template's lineage (its own, its cascade ancestors') newer than its last build saw."""
    changes = []
    used = version_of(h.last_success_source_version) if h.last_success_source_version else None
    seen = ctx.seen(f.key)
    if f.tracks_latest and seen and used and is_newer(seen, used):
        changes.append(f"{f.label} went {used} -> {seen}{f.where}")
    for name in ctx.index.cascade_ancestors(f.name):
        a = ctx.index.facts[name]
        seen = ctx.seen(a.key)
        # What this template's build saw of that source, if recorded; else what the ancestor last used.
        base = h.last_success_lineage.get(a.key) or ctx.hist(name).last_success_source_version
        if a.tracks_latest and seen and base and is_newer(seen, version_of(base)):
            changes.append(f"ancestor {name}'s source {a.label} went {version_of(base)} -> {seen}{a.where}")
    return tuple(changes)


def combine(first: Verdict, second: Verdict | None) -> Verdict:
    """Two rules on one template: it builds if either says so, and the reasons of both are kept."""
    if second is None:
        return first
    ordered = (second, first) if second.action == BUILD and first.action != BUILD else (first, second)
    action = BUILD if BUILD in (first.action, second.action) else ordered[0].action
    return Verdict(action, ordered[0].reasons + ordered[1].reasons, {**ordered[1].evidence, **ordered[0].evidence})


def gate(ctx: Context, f: TemplateFacts, verdict: Verdict, *, manual: bool = False) -> Decision:
    """Apply the policies (module docstring) and make the Decision."""
    h = ctx.hist(f.name)
    action, reasons, evidence = verdict
    if h.active:
        evidence = {**evidence, "active": True}
    not_before = None
    if f.paused:
        action, reasons = SKIP, ("paused",) + reasons
    elif is_disabled(h, f.max_failures):
        note = f"disabled after {h.consecutive_failures or f.max_failures} consecutive failures"
        if manual:
            reasons += (f"{note}; built anyway on manual request (a success lifts it)",)
        else:
            action, reasons = SKIP, (f"{note}; a successful manual build lifts it",) + reasons
    elif action == BUILD and f.window is not None and not ctx.window_open(f.window):
        if manual:
            reasons += (f"outside maintenance window {f.window.describe()}: manual requests are not held to it",)
        else:
            not_before = f.window.next_opening(ctx.now)
            action = WAIT
            reasons += (f"outside maintenance window {f.window.describe()}; waits until {not_before.isoformat()}",)
            evidence = {**evidence, "not_before": not_before.isoformat()}
    return Decision(f.name, action, reasons, f.depth, ctx.signal, evidence, not_before)
