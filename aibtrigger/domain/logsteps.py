"""The steps of a build as a customization.log shows them, and what each one printed.

A step is named by the template: the n-th provisioner Packer starts is the template's n-th customizer (or
validator), `steps[n-1]` when the caller passes the names, else `customize[n-1]`. AIB's hidden steps have
fixed names (HIDDEN_STEPS). A log without `(telemetry)` lines names a step by its kind and script, as Packer
announces it ("shell: /tmp/script.sh"); an excerpt that starts mid-step leaves it unnamed until a line reveals it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

__all__ = ["HIDDEN_STEPS", "Step", "describe_duration", "provisioner_name"]

HIDDEN_STEPS = ("source", "deprovision", "capture", "distribute", "validation")
TWIN_WINDOW = 12  # how far back the plain twin of a dated UI message may be


class Step:
    """One stretch of the log: a customizer's run, a hidden step, or cleanup after a failure or a cancel."""

    def __init__(
        self,
        name: str | None,
        keep: int,
        *,
        provisioner: int | None = None,
        cleanup: bool = False,
        started_at: datetime | None = None,
        start_seen: bool = False,
    ):
        self.name, self.provisioner, self.cleanup = name, provisioner, cleanup
        self.started_at, self.last_at, self.start_seen = started_at, started_at, start_seen
        self.exit_status: int | None = None
        self.frozen = False  # a failure marker closed it: later lines are not its output
        self.ended = False  # Packer said it ended (`(telemetry) ending <kind>`)
        self.lines: deque[list] = deque(maxlen=keep + TWIN_WINDOW)  # [seq, text, repeats, dated twin, twins seen]
        self._forms_seen = [0, 0]  # plain and dated lines kept: twins are only looked for when both occur

    def name_by_kind(self, kind: str, script: str = "") -> None:
        """Name a step the log did not announce (an excerpt cut after its start), or add its script."""
        if self.name is None or (script and self.name == kind):
            self.name = f"{kind}: {script}" if script else kind

    def saw_time(self, at: datetime | None) -> None:
        if at is not None:
            self.started_at = self.started_at or at
            self.last_at = at

    def add(self, seq: int, text: str, dated_twin: bool = False) -> None:
        """Keep a line of the step's output; a UI message logged twice (dated and plain) counts once."""
        if self.frozen or not text.strip():
            return
        for index in range(len(self.lines) - 1, max(-1, len(self.lines) - 1 - TWIN_WINDOW), -1):
            if not self._forms_seen[not dated_twin]:
                break
            entry = self.lines[index]
            if entry[1] == text and entry[3] != dated_twin and entry[4] < entry[2]:
                entry[4] += 1
                return
        self._forms_seen[dated_twin] += 1
        if self.lines and self.lines[-1][1] == text and self.lines[-1][3] == dated_twin:
            self.lines[-1][2] += 1  # a polling loop must not push the real error out of the excerpt
        else:
            self.lines.append([seq, text, 1, dated_twin, 0])

    def shown_lines(self) -> list[tuple[int, str]]:
        return [
            (seq, text if repeats == 1 else f"{text} (repeated {repeats} times)")
            for seq, text, repeats, _, _ in self.lines
        ]

    def running_for(self, until: datetime | None) -> str:
        """' for 2 hours 3 minutes' (' for at least ...' when the log starts after the step did), or ''."""
        if self.started_at is None or until is None or until <= self.started_at:
            return ""
        return f" for {'' if self.start_seen else 'at least '}{describe_duration(until - self.started_at)}"


def provisioner_name(number: int, steps: Sequence[str | None]) -> str:
    """The n-th provisioner (1-based) is the template's n-th customizer or validator (its `name` is optional)."""
    return (steps[number - 1] if number <= len(steps) else None) or f"customize[{number - 1}]"


def describe_duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    parts = [
        (seconds // 86400, "day"),
        (seconds % 86400 // 3600, "hour"),
        (seconds % 3600 // 60, "minute"),
        (seconds % 60, "second"),
    ]
    named = [f"{count} {unit}{'s' if count != 1 else ''}" for count, unit in parts if count]
    return " ".join(named[:2]) or "0 seconds"
