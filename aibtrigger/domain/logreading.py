"""What a customization.log has said so far: the steps, the failure markers, a cancel. The rules
(aibtrigger.domain.logrules) change it line by line; aibtrigger.domain.logexcerpt turns it into an excerpt."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from datetime import datetime

from aibtrigger.domain.loglines import LogLine
from aibtrigger.domain.logsteps import Step, provisioner_name

__all__ = ["BuildReading", "looks_like_an_error"]

# "System.Exception: Language pack or features could only be partially installed. ..." (rds791),
# "Get-Service : Cannot find any service with service name 'WindowsAzureTelemetryService'." (azvmib38),
# "E: Unable to lock directory /var/lib/apt/lists/" (apt's own prefix).
ERROR_WORDS = re.compile(
    r"(?i)\b(?:errors?|exception|failed|failure|fatal|denied|not found|cannot|can't|could not"
    r"|unable to|timed out|timeout)\b|^E: "
)
# Lines that look like failures on good builds (azure-facts): "A system shutdown is in progress.(1115)"
# (runnerimages6250), 1190 from the restart probe, "Builds finished but no artifacts were created" (pkraz402),
# "Skipping image creation", and counts of nothing ("0 errors", "Failed:     0").
BENIGN = re.compile(
    r"(?i)\((?:1115|1190)\)|no artifacts were created|Skipping image creation|\b0 (?:errors?|failed)\b"
    r"|\b(?:errors?|failed|failures?):\s*0\b"
)
KEEP_ERRORS, KEEP_DEBUG = 5, 5


def looks_like_an_error(text: str) -> bool:
    return bool(ERROR_WORDS.search(text)) and not BENIGN.search(text)


class BuildReading:
    """The state the rules share. `current` receives lines; `running` is the last step doing work (cleanup
    and closing lines never replace it)."""

    def __init__(self, steps: Sequence[str | None], keep: int):
        self.steps, self.keep = steps, keep
        self.running = self.current = Step(None, keep)
        self.seq = 0
        self.clock: datetime | None = None
        self.provisioners_started, self.announced = 0, False
        self.failed: Step | None = None
        self.marker: str | None = None  # the first line that says a step failed
        self.verdict: str | None = None  # Packer's own last word: `Build '...' errored: <verdict>` and the like
        self.final_words: list[str] = []  # every marker and verdict, for reasons spread over several lines
        self.in_error_summary = False
        self.cancelled = False
        self.cancel_signal: str | None = None
        self.cancelled_step: Step | None = None
        self.cancelled_at: datetime | None = None
        self.errors: deque[tuple[int, str]] = deque(maxlen=KEEP_ERRORS)
        self.debug_tail: deque[tuple[int, str]] = deque(maxlen=KEEP_DEBUG)

    # --- time and lines ----------------------------------------------------------------------------------
    def tick(self, line: LogLine) -> None:
        self.seq += 1
        if line.at is not None:
            self.clock = line.at
            if not self.current.cleanup:
                self.running.saw_time(line.at)

    def record(self, line: LogLine, step: Step | None = None) -> None:
        target = step or self.current
        target.add(self.seq, line.text, line.dated_twin)
        error = line.channel in ("ui", "output") and not target.cleanup and looks_like_an_error(line.text)
        if error and (not self.errors or self.errors[-1][1] != line.text):
            self.errors.append((self.seq, line.text))

    def remember_debug(self, line: LogLine) -> None:
        if line.text:
            self.debug_tail.append((self.seq, line.text))

    # --- steps -------------------------------------------------------------------------------------------
    def start_provisioner(self, kind: str) -> None:
        self.provisioners_started += 1
        number = self.provisioners_started
        self._enter(
            Step(
                provisioner_name(number, self.steps),
                self.keep,
                provisioner=number,
                start_seen=True,
                started_at=self.clock,
            )
        )

    def announce_step(self, kind: str, script: str = "") -> None:
        """A step announced by Packer's UI (logs without `(telemetry)` lines)."""
        if self.provisioners_started:
            return  # the template's own name is already known
        if script and self.running.name == kind and not self.current.cleanup:
            self.running.name_by_kind(kind, script)  # `Provisioning with Powershell...` then its script line
            return
        self.announced = True
        self._enter(Step(f"{kind}: {script}" if script else kind, self.keep, start_seen=True, started_at=self.clock))

    def enter_hidden_step(self, name: str) -> None:
        if self.running.name == name and not self.current.cleanup:
            return
        if self.running.name is None and not self.running.lines:
            self.running.name = name  # the log starts with it
            return
        self._enter(Step(name, self.keep, start_seen=True, started_at=self.clock))

    def call_running(self, name: str) -> None:
        """What was running turns out to be a hidden step (its lines stay with it)."""
        self.running.name = name

    def end_step(self, kind: str) -> None:
        self.running.name_by_kind(kind)
        self.running.ended = True
        self.begin_cleanup()  # what follows until the next step is Packer's, not the step's

    def begin_cleanup(self) -> None:
        if not self.current.cleanup:
            self.current = Step(None, self.keep, cleanup=True)

    def _enter(self, step: Step) -> None:
        self.running = self.current = step

    # --- failures ----------------------------------------------------------------------------------------
    def mark_failure(self, text: str, line: LogLine | None = None, step: Step | None = None) -> None:
        """A line that says a step failed: the first one names the failure, and closes the step's output."""
        self.final_words.append(text)
        if self.marker is None:
            self.marker = text
        target = step or self.failed or self.running
        if line is not None:
            self.record(line, target)
        if self.failed is None:
            self.failed = target
        target.frozen = True

    def give_verdict(self, text: str) -> None:
        self.final_words.append(text)
        self.verdict = self.verdict or text

    def cancel(self, signal: str | None) -> None:
        if not self.cancelled:
            self.cancelled, self.cancel_signal = True, signal
            self.cancelled_step, self.cancelled_at = self.running, self.clock
        self.begin_cleanup()

    def shows_failure(self) -> bool:
        return bool(self.verdict or self.marker or self.cancelled)
