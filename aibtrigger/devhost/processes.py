"""Who is running: a process is named by its pid *and* its start time, so a reused pid is not
mistaken for the process that once had it (Linux /proc; elsewhere the pid alone)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None when no live process has `pid`
    (a zombie counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _alive_elsewhere(pid)
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _alive_elsewhere(pid: int) -> int | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return 0  # alive; no start time known


def is_running(pid: int, started: int | None) -> bool:
    """True when `pid` runs and is the process that started at `started` (when given)."""
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def children(pid: int | None = None) -> list[int]:
    """The live child processes of `pid` (default: this process)."""
    parent = str(pid or os.getpid())
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[1] == parent and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def end_processes(pids: list[int], *, grace: float = 10.0) -> None:
    """SIGTERM each, then SIGKILL what still runs after `grace` seconds; reap our own children."""
    named = {pid: start_time(pid) for pid in pids}
    for pid, started in named.items():
        if started is not None:
            _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(is_running(p, s) for p, s in named.items()) and time.monotonic() < deadline:
        _reap(named)
        time.sleep(0.1)
    for pid, started in named.items():
        if is_running(pid, started):
            _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5  # SIGKILL is not refused; it only takes a moment
    while any(is_running(p, s) for p, s in named.items()) and time.monotonic() < deadline:
        _reap(named)
        time.sleep(0.05)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pids) -> None:
    """Collect those of `pids` that are our ended children, so they leave no zombie behind."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass  # not our child, or already collected
