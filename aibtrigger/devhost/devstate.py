"""`.aibtrigger/dev.json`: how the other `aibtrigger` commands find the running dev host (or demo).

Written by the folder's owner once its functions serve, removed by that same owner on its way out
(never by anyone else). The commands look for the nearest `.aibtrigger/` folder from the current
one upward, and check that the process named in its dev.json still runs before using it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from aibtrigger.devhost.ownership import Owner
from aibtrigger.errors import AibTriggerError

HOME_NAME = ".aibtrigger"
STATE_NAME = "dev.json"
_NOT_SETTINGS = ("url", "pid", "started", "command", "since")


class NoDevHostError(AibTriggerError):
    """No settings given and no running dev host to borrow them from; says how to start one."""


def find_home(start: Path | None = None) -> Path | None:
    """The nearest `.aibtrigger` folder in `start` (default: the current folder) or its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / HOME_NAME).is_dir():
            return folder / HOME_NAME
    return None


def write_state(home: Path, owner: Owner, url: str, settings: dict[str, str]) -> None:
    path = home / STATE_NAME
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(
        json.dumps(
            {
                "url": url,
                "pid": owner.pid,
                "started": owner.started,
                "command": owner.command,
                "since": owner.since,
                **settings,
            },
            indent=2,
        )
    )
    temporary.replace(path)  # readers never see half a file


def remove_state(home: Path, owner: Owner) -> None:
    """Remove dev.json if it is still `owner`'s."""
    path = home / STATE_NAME
    try:
        recorded = Owner.parse(path.read_text())
    except OSError:
        return
    if recorded is not None and (recorded.pid, recorded.started) == (owner.pid, owner.started):
        path.unlink(missing_ok=True)


def live_state(start: Path | None = None) -> dict:
    """The running dev host's dev.json, or NoDevHostError saying why there is none and what to do."""
    home = find_home(start)
    if home is None:
        here = (start or Path.cwd()).resolve()
        raise NoDevHostError(f"no dev host is running: no {HOME_NAME} folder in {here} or its parents. {_how(None)}")
    path = home / STATE_NAME
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise NoDevHostError(f"no dev host is running for {home} (no {STATE_NAME}). {_how(home.parent)}") from None
    except (OSError, ValueError) as exc:
        raise NoDevHostError(f"{path} cannot be read ({exc}). {_how(home.parent)}") from None
    owner = Owner.from_dict(state)
    if owner is None or not owner.running:
        who = owner.describe() if owner else "a dev host"
        raise NoDevHostError(
            f"{path} names {who}, which is no longer running: it ended without cleaning "
            f"up (the next `aibtrigger dev` replaces the file). {_how(home.parent)}"
        )
    return state


def _how(folder: Path | None) -> str:
    where = f"in {folder}" if folder else "in the project folder"
    return (
        f"Start one with `aibtrigger dev` {where} (it keeps running: use another terminal for the other "
        f"commands), or set AzureWebJobsStorage and AIBTRIGGER_CATALOG_PATH to use other storage"
    )


def adopt_dev_settings(start: Path | None = None) -> bool:
    """Point this process at the running `aibtrigger dev` when no storage setting is given; False
    when settings are given; NoDevHostError when there is nothing to point at."""
    if "AzureWebJobsStorage" in os.environ or "AzureWebJobsStorage__accountName" in os.environ:
        return False
    for name, value in live_state(start).items():
        if name not in _NOT_SETTINGS:
            os.environ.setdefault(name, str(value))
    return True
