"""Why did a build fail? Reason, step, exit status and the lines that show it, from a customization.log.

The log is read line by line by a list of named rules (aibtrigger.domain.logrules, each with the real line it
exists for); this module turns what they found into a FailureExcerpt. One pass, memory bounded by max_lines,
anchored regexes only: linear on any input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aibtrigger.domain.loglines import LineReader
from aibtrigger.domain.logreading import BuildReading
from aibtrigger.domain.logrules import apply_rules
from aibtrigger.domain.logsteps import Step
from aibtrigger.domain.model import FailureExcerpt

__all__ = ["extract_failure", "redact"]

# SAS signatures, storage and Service Bus/Event Grid keys, bearer tokens, Authorization header credentials.
# Keys also as JSON or YAML fields ("AccountKey": "...").
_SECRET = re.compile(
    r"(?i)(\bsig=|\b(?:AccountKey|SharedAccessKey)[\"']?\s*[:=]\s*[\"']?|\bBearer\s+|"
    r"\bAuthorization[\"']?\s*[:=]\s*[\"']?(?:Basic|SharedKey(?:Lite)?|Digest)\s+)[^\s&;\"'<>,]+"
)
_STATUS = re.compile(r"(?i)non-zero exit status: (\d{1,10})(?!\d)")  # bounded: int() refuses huge digit strings
_SHOW_CHARS = 1000
SUCCEEDED = "Succeeded"


def redact(text: str) -> str:
    """Mask SAS signatures, account and shared access keys, bearer tokens and Authorization header
    credentials (the value becomes ***)."""
    return _SECRET.sub(r"\1***", text)


def extract_failure(
    log_text: str, *, steps: Sequence[str | None] = (), run_state: str | None = None, max_lines: int = 20
) -> FailureExcerpt | None:
    """The failure a customization.log shows.

    steps: the template's customizer names, then its validator names, in order: the n-th provisioner the log
    starts is `steps[n-1]` (`customize[n-1]` beyond them, for an unnamed one, or without them).
    AIB's hidden steps are named source, deprovision, capture, distribute, validation.
    run_state: AIB's run state. "Succeeded": None. Any other state: an excerpt, never None; with no decisive
    line it holds the last error-looking lines and what was running. None (the run state is unknown): an
    excerpt only when the log itself shows a failure.
    """
    names = _step_names(steps)
    if run_state is not None and str(run_state) == SUCCEEDED:
        return None
    if isinstance(log_text, (bytes, bytearray)):
        log_text = bytes(log_text).decode("utf-8", "replace")
    keep = max(int(max_lines), 0)
    if not isinstance(log_text, str):
        return None if run_state is None else FailureExcerpt(reason=f"{run_state}: no customization.log to read")
    reading = BuildReading(names, keep)
    reader = LineReader()
    for raw in log_text.splitlines():
        apply_rules(reading, reader.read(raw))
    if reading.shows_failure():
        return _decisive(reading, keep)
    return None if run_state is None else _undecided(reading, keep)


def _step_names(steps: Sequence[str | None]) -> tuple[str | None, ...]:
    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__iter__"):
        raise TypeError(f"steps must be a sequence of customizer/validator names, got {type(steps).__name__}")
    names = tuple(steps)
    if not all(name is None or isinstance(name, str) for name in names):
        raise TypeError(
            f"steps must hold the template's customizer names (strings, None for an unnamed one), got {names!r}"
        )
    return names


def _decisive(reading: BuildReading, keep: int) -> FailureExcerpt:
    verdict, marker = reading.verdict, reading.marker
    if reading.cancelled and (
        verdict is None and marker is None or verdict is not None and "cancel" in verdict.lower()
    ):
        step = reading.cancelled_step or reading.running
        last = f"Cancelling build after receiving {reading.cancel_signal}" if reading.cancel_signal else verdict
        reason = (
            "build cancelled"
            + (f" after receiving {reading.cancel_signal}" if reading.cancel_signal else "")
            + (f" while {step.name} was running" if step.name else "")
            + step.running_for(reading.cancelled_at or reading.clock)
        )
        return _excerpt(reason, step, None, _lines(step, [], last, keep))
    raw = verdict or marker or ""  # one of them, as shows_failure saw it (a cancel without either returned above)
    step = reading.failed or reading.running
    found = _STATUS.search(raw) or (_STATUS.search(marker) if marker else None)
    status = int(found.group(1)) if found else step.exit_status
    if any("context deadline exceeded" in words.lower() for words in reading.final_words):
        reason = "build timed out (context deadline exceeded)" + (
            f" while {step.name} was running{step.running_for(step.last_at)}" if step.name else ""
        )
    elif raw.startswith("Provisioning step had errors"):
        detail = f"last command exited with code {status}" if status else _last_error(reading, step)
        reason = "Provisioning step had errors" + (f": {detail}" if detail else "")
    else:
        reason = raw
    if step.name == "deprovision":
        reason = f"deprovisioning step failed: {reason}"
    return _excerpt(reason, step, status, _lines(step, [], raw, keep))


def _undecided(reading: BuildReading, keep: int) -> FailureExcerpt:
    """No line says why: the last error-looking line, and what was running."""
    step = reading.running
    head = reading.errors[-1][1].strip() if reading.errors else "no failure line in the log"
    if step.exit_status:
        tail = f"; last command exited with code {step.exit_status}"
    elif step.name and step.ended:
        tail = f"; the last step, {step.name}, had ended"
    elif step.name:
        tail = f"; {step.name} was running{step.running_for(step.last_at)}"
    else:
        tail = ""
    lines = _lines(step, list(reading.errors), None, keep)
    if not lines and keep:  # nothing but Packer's internals: show the last of them
        lines = [text for _, text in reading.debug_tail][-keep:]
    return _excerpt(head + tail, step, step.exit_status, lines)


def _last_error(reading: BuildReading, step: Step) -> str:
    seen = {seq for seq, _, _, _, _ in step.lines}
    return next((text.strip() for seq, text in reversed(reading.errors) if seq in seen), "")


def _lines(step: Step, errors: list[tuple[int, str]], last: str | None, keep: int) -> list[str]:
    """The step's last lines, the error-looking lines before them kept in view, then the decisive line."""
    if not keep:
        return []
    numbered = dict(step.shown_lines())
    for seq, text in errors:
        numbered.setdefault(seq, text)
    lines = [text for _, text in sorted(numbered.items())]
    if last is not None and (not lines or last not in lines[-1]):
        lines.append(last)
    if len(lines) > keep and errors:
        wanted = {text for _, text in errors}
        while len(lines) > keep and any(text not in wanted for text in lines[:-1]):
            lines.pop(next(index for index, text in enumerate(lines[:-1]) if text not in wanted))
    return lines[-keep:]


def _excerpt(reason: str, step: Step, status: int | None, lines: list[str]) -> FailureExcerpt:
    return FailureExcerpt(
        reason=_show(reason),
        step=_show(step.name) if step.name else None,
        exit_status=status,
        lines=tuple(_show(text) for text in lines),
    )


def _show(text: str) -> str:
    text = redact(text)  # before cutting, so a cut never leaves the start of a secret unmasked
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "…"
