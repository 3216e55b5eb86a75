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

from aibtrigger.domain.fingerprint import build_inputs, changed, covers, fingerprint, unchanged
from aibtrigger.domain.planner_index import PlannerIndex, TemplateFacts
from aibtrigger.domain.planner_types import (
    BUILD,
    NEVER_BUILT,
    SKIP,
    WAIT,
    Decision,
    SourceKey,
    TemplateHistory,
    upstream_id,
)
from aibtrigger.domain.schedule import due_tick
from aibtrigger.domain.versions import is_newer, version_of


class Verdict(NamedTuple):
    action: str
    reasons: tuple[str, ...]
    evidence: dict


class Context:
    """One plan call's inputs, with the lookups it repeats memoized for that call."""

    def __init__(
        self,
        index: PlannerIndex,
        observed: Mapping[SourceKey, str],
        history: Mapping[str, TemplateHistory],
        now: datetime,
        signal: str,
    ):
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


def rearmed(h: TemplateHistory, evidence: dict) -> bool:
    """Failures count per input: new inputs since they failed re-arm a disabled template."""
    now = evidence.get("inputs")
    return bool(h.last_failed_inputs) and bool(now) and now != h.last_failed_inputs


def inputs_for(f: TemplateFacts, version: str | None) -> dict[str, str]:
    """The inputs a build of `f` would use now: its definition, its source at `version` (or its pin)."""
    return build_inputs(f.digest, f.key, version_of(version) if version else f.pinned)


def is_own_output(f: TemplateFacts, h: TemplateHistory, version: str | None) -> bool:
    """A self-sourced template (its source is the image it distributes to) looking at its own last output."""
    image = f.gallery_image
    if not version or image not in f.outputs:
        return False
    return any(
        version_of(v) == version_of(version) and v.lower().startswith(image + "/versions/")
        for v in h.last_success_outputs
    )


def source_verdict(ctx: Context, f: TemplateFacts, seen: str | None, previous: str | None = None) -> Verdict:
    """Source rules, first match wins: no versioned source; pinned (never builds by itself); its own
    output; the same inputs as the last failure (never retried by itself) or the last success (nothing
    to do); never built; the source switched in the catalog; a newer version; a changed definition."""
    h = ctx.hist(f.name)
    evidence: dict[str, object] = {"source": f.label + f.where, "observed": seen}
    if f.key is None:
        return Verdict(SKIP, (f"source is {f.label}",), evidence)
    if not f.tracks_latest:
        evidence["pinned"] = f.pinned
        if seen and f.pinned is not None and is_newer(seen, f.pinned):
            return Verdict(
                SKIP, (f"pinned to {f.pinned}; newer version {seen} available ({f.label}{f.where})",), evidence
            )
        return Verdict(SKIP, (f"pinned to {f.pinned}",), evidence)
    used = evidence["used"] = version_of(h.last_success_source_version) if h.last_success_source_version else None
    now = evidence["inputs"] = inputs_for(f, seen)
    evidence["fingerprint"] = fingerprint(now)
    if is_own_output(f, h, seen):
        return Verdict(
            SKIP, (f"{f.label} {seen} is its own last output: a template is never triggered by it",), evidence
        )
    if seen and h.consecutive_failures and covers(h.last_failed_inputs, now):
        # The same input already failed: retrying it by itself would fail the same way, every pass.
        return Verdict(
            SKIP,
            (
                f"the last build from the same inputs ({', '.join(unchanged(now, now))}) failed; "
                "a new input or `aibtrigger request --force` builds again",
            ),
            evidence,
        )
    if seen and covers(h.last_success_inputs, now) and not covers(h.last_failed_inputs, now):
        return Verdict(
            SKIP,
            (
                f"up to date: {f.label}{f.where} is {seen}; last successful build used {used or seen} "
                f"(unchanged: {', '.join(unchanged(now, now))})",
            ),
            evidence,
        )
    if used is None and h.last_success_at is None:
        evidence["upstream"] = upstream_id(f.key, seen) if seen else None
        if seen and ctx.index.cascade_parents(f.name):
            evidence["owed"] = True  # its parent made the version: the cascade owes it a first build
        never = f"never succeeded ({h.consecutive_failures} failed)" if h.consecutive_failures else "never built"
        return Verdict(BUILD, (never + (f"; {f.label}{f.where} is at {seen}" if seen else ""),), evidence)
    if seen is None:
        return Verdict(
            SKIP, (f"no version of {f.label}{f.where} observed yet; last successful build used {used}",), evidence
        )
    before = h.last_success_inputs
    if before and before.get("source") != now["source"]:
        evidence.update(upstream=upstream_id(f.key, seen), owed=True)
        return Verdict(
            BUILD,
            (
                f"source switched in the catalog: {before.get('source')}@{before.get('version')} "
                f"-> {now['source']}@{seen}",
            ),
            evidence,
        )
    if used is None:  # history without the source version: do not guess, and do not rebuild everything
        return Verdict(
            SKIP,
            (
                f"the last successful build ({h.last_success_at:%Y-%m-%d %H:%M}) did not record its "
                f"source version: cannot tell whether {f.label}{f.where} {seen} is newer; "
                "a manual build records it",
            ),
            evidence,
        )
    if is_newer(seen, used):
        evidence.update(upstream=upstream_id(f.key, seen), owed=True)
        return Verdict(
            BUILD,
            (f"{f.label} went {previous or used} -> {seen}{f.where}; last successful build used {used}",),
            evidence,
        )
    if before and before.get("definition") != now["definition"] and not is_newer(used, seen):
        evidence.update(upstream=upstream_id(f.key, seen), owed=True)
        return Verdict(BUILD, (f"definition changed: {', '.join(changed(before, now))}",), evidence)
    return Verdict(SKIP, (f"up to date: {f.label}{f.where} is {seen}; last successful build used {used}",), evidence)


def held_for_schedule(ctx: Context, f: TemplateFacts, verdict: Verdict) -> Verdict:
    """With only_if_changed, changes build at the next tick, not at once (else every tick finds nothing new)."""
    if verdict.action != BUILD or not (f.only_if_changed and f.schedule):
        return verdict
    upcoming = f.schedule.next_after(ctx.now)
    when = upcoming.isoformat() if upcoming else "never"
    return Verdict(
        SKIP,
        verdict.reasons + (f"only_if_changed: waits for the scheduled refresh (next tick {when})",),
        verdict.evidence,
    )


def schedule_verdict(ctx: Context, f: TemplateFacts) -> Verdict | None:
    """Rule 3: a due tick builds; with only_if_changed, only when something in its lineage is newer."""
    h = ctx.hist(f.name)
    tick = due_tick(f.schedule, h.last_schedule_tick, ctx.now)
    if tick is None:
        return None
    evidence: dict[str, object] = {"tick": tick.isoformat()}
    seen = ctx.seen(f.key) if f.tracks_latest else f.pinned
    if f.key is not None and seen:  # what it would build from: the claim-time check reads it (requests.py)
        evidence.update(inputs=inputs_for(f, seen), fingerprint=fingerprint(inputs_for(f, seen)))
    if not f.only_if_changed:
        return Verdict(BUILD, (f"scheduled refresh (tick {tick.isoformat()})",), evidence)
    if h.last_success_at is None:
        return Verdict(BUILD, (f"scheduled refresh (tick {tick.isoformat()}): never built",), evidence)
    changes = input_changes(ctx, f, h) if h.last_success_inputs else lineage_changes(ctx, f, h)
    if changes and h.consecutive_failures and seen and covers(h.last_failed_inputs, inputs_for(f, seen)):
        return Verdict(
            SKIP,
            (
                f"scheduled tick {tick.isoformat()}: the last build from the same inputs failed; "
                "a new input or `aibtrigger request --force` builds again",
            ),
            evidence,
        )
    if changes:
        return Verdict(
            BUILD, (f"scheduled refresh (tick {tick.isoformat()}): its lineage changed",) + changes, evidence
        )
    return Verdict(
        SKIP,
        (
            f"scheduled tick {tick.isoformat()}: nothing changed since the last successful build "
            f"({h.last_success_at.isoformat()})",
        ),
        evidence,
    )


def input_changes(ctx: Context, f: TemplateFacts, h: TemplateHistory) -> tuple[str, ...]:
    """What changed since the inputs the last successful build actually used. A child's source version
    is its parent's image: an ancestor that lags (failing, paused, building) changed nothing it can use."""
    seen = ctx.seen(f.key) if f.tracks_latest else f.pinned
    if seen is None or not h.last_success_inputs or is_own_output(f, h, seen):
        return ()
    return tuple(changed(h.last_success_inputs, inputs_for(f, seen)))


def lineage_changes(ctx: Context, f: TemplateFacts, h: TemplateHistory) -> tuple[str, ...]:
    """For a last success recorded before input fingerprints: sources in the template's lineage (its
    own, its cascade ancestors') newer than its last build saw."""
    changes = []
    used = version_of(h.last_success_source_version) if h.last_success_source_version else None
    seen = ctx.seen(f.key)
    if f.tracks_latest and seen and used and is_newer(seen, used):
        changes.append(f"{f.label} went {used} -> {seen}{f.where}")
    for name in ctx.index.cascade_ancestors(f.name):
        a = ctx.index.facts[name]
        seen = ctx.seen(a.key)
        # What this template's build saw of that source, if recorded; else what the ancestor last used.
        recorded = h.last_success_lineage.get(a.key) if a.key is not None else None
        base = recorded or ctx.hist(name).last_success_source_version
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
    elif action == BUILD and is_disabled(h, f.max_failures) and rearmed(h, evidence):
        reasons += (
            f"re-armed: disabled after {h.consecutive_failures} failures with other inputs "
            f"({', '.join(changed(h.last_failed_inputs or {}, evidence['inputs']))})",  # rearmed: it has some
        )
        evidence = {**evidence, "rearmed": True}
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
