"""Azurite keeps its ports for a data folder, so builds survive a dev-host restart.

A local build runs in its own process with the storage connection string it was started with; if a
restarted Azurite came back on other ports, the builder could never report again and its run would
be recorded Failed. So the first start picks free ports and writes them next to Azurite's data, and
every later start on that folder asks for the same ones (falling back, and saying so, when another
program holds them). An Azurite left running by a dev host that was killed (it runs in its own
session, so it outlives its parent) is recognised by its pid and start time, and ended first.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from aibtrigger.devhost.azurite import Azurite, start_azurite
from aibtrigger.devhost.processes import end_processes, is_running, start_time

PORTS_FILE = "aibtrigger-ports.json"


def start_azurite_keeping_ports(data_dir: Path, *, say: Callable[[str], None] = print) -> Azurite:
    kept = load_ports(data_dir)
    _end_orphaned_azurite(data_dir, say)
    if kept and not all(port_is_free(p) for p in kept):
        say(_moved(data_dir, kept, "another program listens on one of them"))
        kept = None
    try:
        azurite = start_azurite(data_dir=data_dir, ports=kept)
    except RuntimeError:  # taken between the check and the start
        if kept is None:
            raise
        say(_moved(data_dir, kept, "Azurite could not listen on them"))
        azurite = start_azurite(data_dir=data_dir)
    save_ports(data_dir, azurite)
    return azurite


def load_ports(data_dir: Path) -> tuple[int, int, int] | None:
    try:
        saved = json.loads((data_dir / PORTS_FILE).read_text())
        return int(saved["blob"]), int(saved["queue"]), int(saved["table"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # first start, or a file nobody should have edited: pick new ports


def save_ports(data_dir: Path, azurite: Azurite) -> None:
    ports = {name: urlsplit(getattr(azurite, f"{name}_endpoint")).port for name in ("blob", "queue", "table")}
    pid = azurite.process.pid if azurite.process else None
    (data_dir / PORTS_FILE).write_text(json.dumps({**ports, "pid": pid, "started": pid and start_time(pid)}) + "\n")


def _end_orphaned_azurite(data_dir: Path, say) -> None:
    """The folder is ours (its lock says so): an Azurite still serving it was left by a killed owner."""
    try:
        saved = json.loads((data_dir / PORTS_FILE).read_text())
        pid, started = int(saved["pid"]), int(saved["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if is_running(pid, started):
        say(f"ending the Azurite (pid {pid}) that a stopped dev host left running on {data_dir}")
        end_processes([pid])


def port_is_free(port: int) -> bool:
    """Whether Azurite could listen on 127.0.0.1:`port` (like Node, it reuses a port in TIME_WAIT)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _moved(data_dir: Path, ports: tuple[int, ...], why: str) -> str:
    return (
        f"Azurite's ports for {data_dir} ({', '.join(map(str, ports))}) are not available ({why}): "
        f"starting it on new ports. Builds still running from before cannot report to it and "
        f"will be recorded Failed"
    )
