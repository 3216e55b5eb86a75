"""A test seam for the reliability suite: with AIBTRIGGER_CRASH_AT=<step> in its environment, a worker
kills itself (SIGKILL: no cleanup, no finally) when it reaches that step boundary, so a test can
prove that a restart plus redelivery neither loses the work nor does it twice. Unset: a no-op."""

from __future__ import annotations

import os
import signal

STEPS = (
    "after_claim",  # the template is claimed; Run not invoked
    "after_run_accepted",  # the backend accepted Run; nothing recorded
    "after_run_recorded",  # the run is recorded Running; the claim still says 'starting'
    "after_claim_running",  # the claim says 'running'; no poll scheduled yet
    "during_poll",  # a status was read; nothing done with it
    "after_terminal_recorded",  # the run's end is recorded; not yet published
    "after_publish",  # published; not yet marked so
    "before_release",  # published and marked; the claim not yet released
)


def crashpoint(step: str) -> None:
    if os.environ.get("AIBTRIGGER_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)
