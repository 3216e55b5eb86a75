"""The planner: which templates to build for a signal, in which wave, and why. Pure: no I/O, no clock.

    plan(catalog, observed=..., history=..., now=..., signal=...) -> [Decision], sorted by (wave, name)

Per signal:
- SourceChanged: the templates built from that source (rules in planner_rules), then every template
  downstream of one that builds, as `wait` with its wave, so a dry run shows the whole cascade.
- ParentSucceeded: the parent's children whose source is the parent's image at /versions/latest
  build with the parent's new version as reason; a child with another parent still rebuilding for
  the same upstream change waits, and builds once, when the last of them succeeds. "Still
  rebuilding": active, or downstream of the root source (`root`) and not yet finished for that
  upstream. A parent that is paused, disabled, or failed for that upstream holds nobody back.
- ScheduleTick: each template whose schedule has a due tick (only the latest missed one).
- Manual: that template, subject only to `paused` (disable and window do not hold a person back).
- Sweep: every template, every rule: the dry run of `aibtrigger plan`, and the periodic safety net.
  A template downstream of one that builds (or is building) waits for it instead.

`wave` is the template's depth in the lineage (0: no parent in the catalog), whatever the signal,
so one cascade reads the same in each of its steps and in the dry run.

Templates with `only_if_changed` build only on their schedule: a source change or a parent's
success is reported ("waits for the scheduled refresh") but does not build at once.

Gallery events for an image a catalog template distributes to are best translated by the caller
into ParentSucceeded (with the upstream of the run that made the version); a SourceChanged on such a
gallery key is treated as a fresh root change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aibtrigger.domain.planner_index import PlannerIndex, index_for
from aibtrigger.domain.planner_rules import (
    Context,
    Verdict,
    combine,
    gate,
    held_for_schedule,
    is_disabled,
    schedule_verdict,
    source_verdict,
)
from aibtrigger.domain.planner_types import (
    BUILD,
    SKIP,
    WAIT,
    Decision,
    Manual,
    ParentSucceeded,
    ScheduleTick,
    Signal,
    SourceChanged,
    SourceKey,
    Sweep,
    TemplateHistory,
)
from aibtrigger.domain.versions import is_newer, version_of
from aibtrigger.errors import UnknownTemplateError


def plan(
    catalog,
    *,
    observed: Mapping[SourceKey, str],
    history: Mapping[str, TemplateHistory],
    now: datetime,
    signal: Signal,
    index: PlannerIndex | None = None,
) -> list[Decision]:
    """Decisions for `signal`. `catalog` may be a PlannerIndex; otherwise its index is built once and reused."""
    index = index or (catalog if isinstance(catalog, PlannerIndex) else index_for(catalog))
    ctx = Context(index, observed, history, now, signal.describe())
    if isinstance(signal, SourceChanged):
        decided = _source_changed(ctx, signal)
    elif isinstance(signal, ParentSucceeded):
        decided = _parent_succeeded(ctx, signal)
    elif isinstance(signal, ScheduleTick):
        decided = _ticks(ctx)
    elif isinstance(signal, Manual):
        decided = {signal.template: _manual(ctx, signal)}
    elif isinstance(signal, Sweep):
        decided = _sweep(ctx)
    else:
        raise TypeError(f"not a planner signal: {signal!r}")
    return sorted(decided.values(), key=lambda d: (d.wave, d.template))


def needs_auto_disable(history: TemplateHistory, max_failures: int) -> bool:
    """True once, when the failures reach the limit and the template is not disabled yet (publish then)."""
    return max_failures > 0 and not history.disabled and history.consecutive_failures >= max_failures


def _source_changed(ctx: Context, signal: SourceChanged) -> dict[str, Decision]:
    decided: dict[str, Decision] = {}
    current = version_of(signal.current)
    for name in ctx.index.users.get(signal.key, ()):
        f = ctx.index.facts[name]
        verdict = held_for_schedule(ctx, f, source_verdict(ctx, f, current, signal.previous))
        busy = sorted(p for p in ctx.index.cascade_parents(name) if ctx.hist(p).active)
        if verdict.action == BUILD and busy:
            verdict = Verdict(
                WAIT,
                verdict.reasons + (f"waits for {', '.join(busy)}, still building, to build once after it",),
                verdict.evidence,
            )
        decided[name] = gate(ctx, f, verdict)
    users = ctx.index.users.get(signal.key, ())
    first = ctx.index.facts[users[0]] if users else None
    _list_cascade(ctx, decided, f"cascade from {first.label}{first.where} {current}" if first else "")
    return decided


def _parent_succeeded(ctx: Context, signal: ParentSucceeded) -> dict[str, Decision]:
    index = ctx.index
    decided: dict[str, Decision] = {}
    if signal.parent not in index.facts:
        return decided
    new = version_of(signal.version_id)
    cut = signal.version_id.lower().rfind("/versions/")
    image = signal.version_id[:cut].lower() if cut >= 0 else None  # which of the parent's outputs it is
    evidence = {
        "parent": signal.parent,
        "version_id": signal.version_id,
        "upstream": signal.upstream,
        "root": "/".join(signal.root) if signal.root else None,
    }
    for name in sorted(index.graph.children(signal.parent)):
        f = index.facts[name]
        if image is not None and f.gallery_image != image:
            continue
        if not f.tracks_latest:
            newer = (
                f"; newer version {new} available (parent {signal.parent} succeeded)"
                if f.pinned is not None and is_newer(new, f.pinned)
                else ""
            )
            verdict = Verdict(SKIP, (f"pinned to {f.pinned}{newer}",), evidence)
        else:
            seen = ctx.seen(f.key)  # a late event of an older version: the child builds from the latest
            verdict = source_verdict(ctx, f, new if not seen or is_newer(new, seen) else seen)
            verdict = Verdict(verdict.action, verdict.reasons, {**verdict.evidence, **evidence})
            if verdict.action == BUILD:
                reason = f"parent {signal.parent} succeeded: new version {signal.version_id}"
                pending = _parents_still_rebuilding(ctx, name, signal)
                verdict = (
                    Verdict(
                        WAIT,
                        (
                            reason,
                            f"waits for {', '.join(pending)}, also rebuilding for "
                            f"{signal.upstream}: builds once, after the last",
                        ),
                        verdict.evidence,
                    )
                    if pending
                    else Verdict(BUILD, (reason,), verdict.evidence)
                )
        decided[name] = gate(ctx, f, held_for_schedule(ctx, f, verdict))
    _list_cascade(ctx, decided, f"cascade from {signal.parent} {new}")
    return decided


def _parents_still_rebuilding(ctx: Context, name: str, signal: ParentSucceeded) -> list[str]:
    affected = _affected(ctx, signal.root) if signal.root else frozenset()
    pending = []
    for parent in sorted(ctx.index.cascade_parents(name) - {signal.parent}):
        f, h = ctx.index.facts[parent], ctx.hist(parent)
        if f.paused or is_disabled(h, f.max_failures):
            continue  # it will not rebuild: waiting for it would wait forever
        if h.active or (parent in affected and signal.upstream not in (h.last_upstream, h.last_success_upstream)):
            pending.append(parent)
    return pending


def _affected(ctx: Context, root: SourceKey) -> frozenset[str]:
    """Templates a change of `root` rebuilds: its latest-tracking users and their cascade, minus held ones."""
    index, seen = ctx.index, set()
    stack = [n for n in index.users.get(root, ()) if index.facts[n].tracks_latest]
    while stack:
        name = stack.pop()
        f = index.facts[name]
        if name in seen or f.paused or is_disabled(ctx.hist(name), f.max_failures):
            continue
        seen.add(name)
        stack.extend(index.cascade_children(name))
    return frozenset(seen)


def _list_cascade(ctx: Context, decided: dict[str, Decision], cause: str) -> None:
    """Add, as `wait` with their wave, the templates downstream of every one that builds or waits."""
    index, found, stack = ctx.index, set(), [n for n, d in decided.items() if d.action in (BUILD, WAIT)]
    while stack:
        for child in index.cascade_children(stack.pop()):
            if child not in decided and child not in found:
                found.add(child)
                stack.append(child)
    for name in sorted(found, key=lambda n: index.facts[n].depth):  # parents are decided first
        waiting_on = sorted(
            p for p in index.cascade_parents(name) if p in decided and decided[p].action in (BUILD, WAIT)
        )
        if waiting_on:
            verdict = Verdict(
                WAIT, (f"waits for {', '.join(waiting_on)} to rebuild first ({cause})",), {"after": waiting_on}
            )
            decided[name] = gate(ctx, index.facts[name], verdict)


def _holds_children(ctx: Context, parent: Decision) -> bool:
    """A parent that is building, or will: building, waiting itself, or owed a build (a source change,
    a due tick). A root's first build is not owed by itself (nobody asked): it holds nobody back."""
    if ctx.hist(parent.template).active or parent.action == WAIT:
        return True
    return parent.action == BUILD and bool(parent.evidence.get("owed") or parent.evidence.get("tick"))


def _ticks(ctx: Context) -> dict[str, Decision]:
    """Due ticks, parents first: a template whose ancestor builds (or is building) waits for it and is
    rebuilt by the cascade after the ancestor's new version, not at once from the stale image. An
    only-if-changed tick stays unhandled meanwhile: the cascade alone would not build it."""
    decided: dict[str, Decision] = {}
    for name in ctx.index.scheduled:
        decision = _tick(ctx, name)
        if decision is None:
            continue
        ahead = sorted(a for a in ctx.index.cascade_ancestors(name) if a != name and _will_rebuild(ctx, a, decided))
        f = ctx.index.facts[name]
        if not ahead and f.tracks_latest and ctx.index.cascade_parents(name) and ctx.seen(f.key) is None:
            ahead = sorted(
                ctx.index.cascade_parents(name)
            )  # no version of its parents' image yet: nothing to build from
        if decision.action == BUILD and ahead:
            evidence = {**decision.evidence, "after": ahead}
            if ctx.index.facts[name].only_if_changed:
                evidence.pop("tick", None)
            decision = Decision(
                name,
                WAIT,
                (f"waits for {', '.join(ahead)} to rebuild first (lineage): builds after its new version",)
                + decision.reasons,
                decision.wave,
                decision.signal,
                evidence,
            )
        decided[name] = decision
    return decided


def _will_rebuild(ctx: Context, ancestor: str, ticking: dict[str, Decision]) -> bool:
    """Building now, scheduled in this tick, or owed a build for a change of its own source."""
    if ctx.hist(ancestor).active:
        return True
    if ancestor in ticking:
        return ticking[ancestor].action in (BUILD, WAIT)
    f = ctx.index.facts[ancestor]
    verdict = source_verdict(ctx, f, ctx.seen(f.key))
    return verdict.action == BUILD and bool(verdict.evidence.get("owed")) and gate(ctx, f, verdict).action != SKIP


def _tick(ctx: Context, name: str) -> Decision | None:
    f = ctx.index.facts[name]
    verdict = schedule_verdict(ctx, f)
    return gate(ctx, f, verdict) if verdict is not None else None


def _manual(ctx: Context, signal: Manual) -> Decision:
    f = ctx.index.facts.get(signal.template)
    if f is None:
        raise UnknownTemplateError(f"template {signal.template!r} is not in the catalog")
    verdict = Verdict(
        BUILD, (f"manual request by {signal.requested_by}: {signal.reason}",), {"requested_by": signal.requested_by}
    )
    return gate(ctx, f, verdict, manual=True)


def _sweep(ctx: Context) -> dict[str, Decision]:
    index = ctx.index
    decided: dict[str, Decision] = {}
    for name in index.order:  # parents first: a child sees its parents' decisions
        f = index.facts[name]
        tick = schedule_verdict(ctx, f) if f.schedule is not None else None
        if tick is not None and f.only_if_changed:
            verdict = tick  # a due only-if-changed tick weighs the whole lineage, its own source included
        else:
            verdict = combine(held_for_schedule(ctx, f, source_verdict(ctx, f, ctx.seen(f.key))), tick)
        upstream = sorted(p for p in index.cascade_parents(name) - {name} if _holds_children(ctx, decided[p]))
        if upstream:
            own = verdict.reasons if verdict.action == BUILD else ()
            evidence = {**verdict.evidence, "after": upstream}
            if f.only_if_changed:  # its tick stays unhandled: the parent's success alone will not build it
                evidence.pop("tick", None)
            verdict = Verdict(WAIT, (f"waits for {', '.join(upstream)} to rebuild first (lineage)",) + own, evidence)
        decided[name] = gate(ctx, f, _as_the_service_acts(ctx, name, verdict))
    return decided


def _as_the_service_acts(ctx: Context, name: str, verdict: Verdict) -> Verdict:
    """A sweep says what the service does now (the reconciler acts on it): a template building now is
    'building'; a first build is started by nobody on its own, only by a new source version, a due
    tick or a person, so a sweep does not promise it."""
    if ctx.hist(name).active:
        return Verdict(WAIT, ("building now: a new request joins its follow-up",) + verdict.reasons, verdict.evidence)
    if verdict.action == BUILD and "tick" not in verdict.evidence and not verdict.evidence.get("used"):
        return Verdict(
            SKIP,
            verdict.reasons
            + (f"not built by itself: a new source version, its schedule or `aibtrigger request {name}` builds it",),
            verdict.evidence,
        )
    return verdict
