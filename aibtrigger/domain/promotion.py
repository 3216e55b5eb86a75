"""Where an image version stands on its way to `latest`, read from the version itself.

The service tags what its runs distribute (domain.provenance) and, for templates whose promotion is
gated, their promotion state (PROMOTION_TAG), so the gallery alone says what each version is:

    staged       published with excludeFromLatest, waiting for its checks, its soak or a person
    promoted     `latest` may resolve to it (excludeFromLatest false)
    rejected     a check failed or a person rejected it: stays excluded, never promoted
    rolled_back  was promoted, then excluded again by a rollback
    retired      superseded and given an endOfLifeDate (retention); still usable until deleted

A version without the tag is promoted when `latest` may resolve to it, else "excluded": made or
changed outside the service, which then leaves it alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

PROMOTION_TAG = "aibtrigger.promotion"
STAGED, PROMOTED, REJECTED, ROLLED_BACK, RETIRED, EXCLUDED = (
    "staged",
    "promoted",
    "rejected",
    "rolled_back",
    "retired",
    "excluded",
)


def version_state(version: Mapping) -> str:
    """The promotion state of a gallery version document (adapters.gallery)."""
    tagged = ((version.get("tags") or {}).get(PROMOTION_TAG) or "").strip()
    excluded = bool(version.get("excludeFromLatest"))
    if tagged in (STAGED, REJECTED, ROLLED_BACK) and excluded:
        return tagged
    if excluded:
        return EXCLUDED
    if version.get("endOfLifeDate"):
        return RETIRED
    return PROMOTED


# --- a staged run's promotion record (RunRecord.promotion, JSON) and what comes next ---------------
def check_label(index: int, check) -> str:
    """How reports and records name a post-build check: its name, else what it does."""
    from urllib.parse import urlparse

    what = check.name or (urlparse(check.url).netloc if check.kind == "webhook" else check.run)
    return f"{index + 1}. {check.kind}: {what}"[:200]


def staged(now: datetime) -> dict:
    return {"state": STAGED, "since": now.isoformat(), "checks": {}, "actions": []}


def with_check(record: dict, label: str, *, passed: bool, detail: str, now: datetime) -> dict:
    checks = {**record.get("checks", {}), label: {"passed": passed, "detail": detail[:1000], "at": now.isoformat()}}
    return {**record, "checks": checks}


def with_action(record: dict, action: str, state: str, *, by: str, why: str, now: datetime) -> dict:
    """`action` (promote, reject, rollback, checks-failed, ...) moved the version to `state`; who and why kept."""
    entry = {"action": action, "state": state, "by": by[:200], "why": why[:1000], "at": now.isoformat()}
    return {
        **record,
        "state": state,
        "actions": [*record.get("actions", []), entry][-20:],
    }  # bounded: one table property


@dataclass(frozen=True)
class Step:
    """What a staged run needs next: `check` (run `labels`), `promote`, `wait` (until), `hold` (a
    person decides: manual mode, or a check failed), or `none` (not staged)."""

    kind: str
    why: str = ""
    labels: tuple[str, ...] = ()
    until: datetime | None = None


def next_step(policy, record: dict | None, now: datetime) -> Step:
    """Pure: `policy` is the template's catalog Promotion, `record` the run's promotion record."""
    if not record or record.get("state") != STAGED:
        return Step("none")
    labels = tuple(check_label(i, check) for i, check in enumerate(policy.checks))
    results = record.get("checks", {})
    pending = tuple(label for label in labels if label not in results)
    if pending:
        return Step("check", "checks not run yet", labels=pending)
    failed = [f"{label}: {results[label]['detail']}" for label in labels if not results[label]["passed"]]
    if failed:
        return Step("hold", "a check failed: " + "; ".join(failed))
    if policy.mode == "manual":
        return Step("hold", "waits for a person: `aibtrigger promote RUN_ID`")
    since = datetime.fromisoformat(record["since"])
    ready = since + timedelta(minutes=policy.soak_minutes)
    if now < ready:
        return Step("wait", f"soaks until {ready.isoformat()}", until=ready)
    passed = f"{len(labels)} check(s) passed" if labels else "no checks"
    soaked = f", soaked {policy.soak_minutes} min" if policy.soak_minutes else ""
    return Step("promote", passed + soaked)
