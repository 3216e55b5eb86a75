"""One owner per data folder: `aibtrigger dev` and `aibtrigger demo` hold `<folder>/owner.lock`.

The kernel's flock() makes taking it atomic and lets it go when its holder dies, however it dies;
the file's content (pid, start time, command) names the holder to whoever is refused, and tells a
new owner that the previous one ended without cleaning up (a stale lock, taken over and said so).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from aibtrigger.devhost.processes import is_running, start_time
from aibtrigger.errors import AibTriggerError

LOCK_NAME = "owner.lock"


class FolderInUseError(AibTriggerError):
    """Another live process owns the folder; the message names it and what to do."""


@dataclass(frozen=True)
class Owner:
    pid: int
    started: int | None  # process start time in clock ticks: a reused pid does not match it
    command: str
    since: str  # UTC, for people

    @property
    def running(self) -> bool:
        return is_running(self.pid, self.started)

    def describe(self) -> str:
        return f"`{self.command}` (pid {self.pid}, since {self.since})"

    @classmethod
    def me(cls, command: str) -> Owner:
        return cls(os.getpid(), start_time(os.getpid()), command, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        try:
            return cls.from_dict(json.loads(text))
        except ValueError:
            return None  # empty (released) or not ours: nobody to name

    @classmethod
    def from_dict(cls, data) -> Owner | None:
        try:
            started = data.get("started")
            return cls(
                int(data["pid"]),
                None if started is None else int(started),
                str(data.get("command", "aibtrigger dev")),
                str(data.get("since", "?")),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


class FolderLock:
    """acquire() takes the folder or raises FolderInUseError; release() lets it go."""

    def __init__(self, folder: Path, command: str) -> None:
        self.folder = Path(folder).resolve()
        self.path = self.folder / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> Owner | None:
        """Take the folder; returns the previous owner when it ended without letting go (stale)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Owner.parse(_read(fd))
            os.close(fd)
            raise FolderInUseError(self._refusal(holder)) from None
        previous = Owner.parse(_read(fd))
        if previous is not None and previous.running and previous.pid != os.getpid():
            os.close(fd)  # alive yet not holding the flock (another machine on a shared folder?)
            raise FolderInUseError(self._refusal(previous))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(Owner.me(self.command))).encode(), 0)
        self._fd = fd
        return previous

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # never unlinked: another process may be waiting on this very file
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def _refusal(self, holder: Owner | None) -> str:
        who = holder.describe() if holder else "another process"
        how = f"Ctrl-C in its terminal, or `kill {holder.pid}`" if holder else "Ctrl-C in its terminal"
        return (
            f"{self.folder} is in use by {who}: one dev host or demo per data folder. "
            f"The other `aibtrigger` commands use that one from here; to start another, stop it "
            f"first ({how}) or run from another folder"
        )


def _read(fd: int) -> str:
    return os.pread(fd, 65536, 0).decode("utf-8", errors="replace")
