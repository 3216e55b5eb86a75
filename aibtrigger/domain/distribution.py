"""Distribution-only recovery: a build that failed while distributing is not rebuilt.

AIB fails a run whose image is already in the gallery when the gallery's replication outlasts the
build's timeout or fails in a region ("Failed in distributing N images out of total M: ..."); the
replication goes on after the run has failed, and the version it made can be read. So such a run
is recorded only once the gallery says how it ended: every version replicated -> Succeeded (late);
a replication failed -> ask the gallery to replicate it again, a bounded number of times;
still replicating -> look again later, within a time bound counted from the failure. Never a second
Run of the template.

Pure: the caller reads the gallery and passes `now`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from aibtrigger.domain.model import RunState, RunSubState

SUCCEEDED_LATE, WAIT, RETRY, FAILED = "succeeded_late", "wait", "retry", "failed"
# AIB's message when a distribution target fails ("Failed in distributing 1 images out of total 1:
# {[Error 0] [Distribute 0] ..."); a run last seen Distributing is one too, whatever its message.
_DISTRIBUTION_MARKERS = re.compile(r"failed in distributing|\[distribute \d+\]", re.IGNORECASE)


@dataclass(frozen=True)
class Recovery:
    """How the recovery of one run stands, kept on its record between two looks at the gallery."""

    failed_at: datetime  # when the backend said the distribution failed: the time bound counts from it
    versions: tuple[str, ...] = ()  # the gallery image versions the run made
    retries: int = 0  # replications asked for again
    seen: str = ""  # what the gallery said at the last look, for people reading the record

    def evolve(self, **changes) -> Recovery:
        from dataclasses import replace

        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {
            "failed_at": self.failed_at.isoformat(),
            "versions": list(self.versions),
            "retries": self.retries,
            "seen": self.seen,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Recovery:
        return cls(
            failed_at=datetime.fromisoformat(data["failed_at"]),
            versions=tuple(data.get("versions") or ()),
            retries=int(data.get("retries") or 0),
            seen=str(data.get("seen") or ""),
        )


@dataclass(frozen=True)
class Decision:
    """`action` is one of SUCCEEDED_LATE, WAIT, RETRY (replicate `retry` again), FAILED; `why` says why."""

    action: str
    why: str
    retry: tuple[str, ...] = ()


def failed_in_distribution(state: RunState | None, message: str, last_sub_state: RunSubState | None) -> bool:
    """Whether a run the backend reports ended (`state`, `message`) failed while distributing: it was
    last seen Distributing, or its message names a distribution target. A timeout counts (AIB gives
    up waiting for the replication, which goes on)."""
    if state not in (RunState.FAILED, RunState.TIMED_OUT):
        return False
    return last_sub_state is RunSubState.DISTRIBUTING or bool(_DISTRIBUTION_MARKERS.search(message or ""))


def decide(
    documents: Mapping[str, Mapping | None],
    recovery: Recovery,
    *,
    now: datetime,
    patience: timedelta,
    max_retries: int,
    unreadable: str | None = None,
) -> Decision:
    """What to do next, given each version's gallery document (None: it does not exist).

    `unreadable`: why the gallery could not be read this time (then `documents` is not used): that is
    waited out like a replication, never longer than `patience` after the failure.
    """
    waited = now - recovery.failed_at
    patient = waited < patience
    if unreadable is not None:
        if patient:
            return Decision(WAIT, f"gallery unreadable: {unreadable}")
        return Decision(FAILED, f"gallery still unreadable {_minutes(waited)} after the failure: {unreadable}")
    if not documents:
        return Decision(FAILED, "no image version of this run found in the gallery: nothing to recover")
    missing = [v for v, doc in documents.items() if doc is None]
    if missing:
        return Decision(
            FAILED, f"image version {_short(missing[0])} does not exist: the distribution published nothing"
        )
    states = {version: replication_of(doc) for version, doc in documents.items() if doc is not None}
    if all(state == "Completed" for state, _ in states.values()):
        retried = f" after {_retries(recovery.retries, 'replication ')}" if recovery.retries else ""
        return Decision(SUCCEEDED_LATE, f"{_list(states)} replicated{retried}")
    failed = tuple(v for v, (state, _) in states.items() if state == "Failed")
    if failed and recovery.retries < max_retries and patient:
        return Decision(RETRY, f"replication failed: {_describe(states, failed)}", retry=failed)
    if failed:
        bound = _retries(recovery.retries) if recovery.retries >= max_retries else _minutes(patience)
        return Decision(FAILED, f"replication failed after {bound}: {_describe(states, failed)}")
    pending = tuple(v for v, (state, _) in states.items() if state != "Completed")
    if patient:
        return Decision(WAIT, f"still replicating: {_describe(states, pending)}")
    return Decision(
        FAILED,
        f"still replicating {_minutes(waited)} after the failure (patience {_minutes(patience)}): "
        f"{_describe(states, pending)}",
    )


def replication_of(document: Mapping) -> tuple[str, dict[str, str]]:
    """(state, {region: state}) of a version document (adapters.gallery): "Completed", "Failed", or
    anything else (replicating, unknown). A version whose provisioning failed failed; one still being
    created or updated is not completed, whatever its replication says."""
    replication = document.get("replication") or {}
    regions = {str(k): str(v) for k, v in (replication.get("regions") or {}).items()}
    state = str(replication.get("state") or "Unknown")
    provisioning = str(document.get("provisioningState") or "")
    if provisioning == "Failed" or state == "Failed" or "Failed" in regions.values():
        return "Failed", regions
    if state == "Completed" and provisioning != "Succeeded":
        return provisioning or "Unknown", regions
    return state, regions


def _describe(states: Mapping[str, tuple[str, dict[str, str]]], versions: tuple[str, ...]) -> str:
    parts = []
    for version in versions:
        state, regions = states[version]
        behind = sorted(r for r, s in regions.items() if s != "Completed")
        where = f" ({', '.join(f'{r} {regions[r]}' for r in behind)})" if behind else ""
        parts.append(f"{_short(version)} {state}{where}")
    return "; ".join(parts)


def _list(states: Mapping) -> str:
    return ", ".join(_short(v) for v in states)


def _short(version_id: str) -> str:
    """`<image>/<version>`: enough to tell versions apart in a message."""
    parts = version_id.rstrip("/").split("/")
    return "/".join(parts[-3::2]) if len(parts) >= 3 else version_id


def _retries(count: int, what: str = "") -> str:
    return f"{count} {what}retr{'y' if count == 1 else 'ies'}"


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f} min"
