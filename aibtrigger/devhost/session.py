"""`aibtrigger dev` and `aibtrigger demo`: Azurite + the dev host + the local backend, wired together.

The dev host runs function_app.app in this process; builds run in their own processes (the local
backend's builder), as AIB builds run outside the Functions host. The session owns its data folder
(ownership.py: one dev host or demo per folder), keeps Azurite's ports for it (ports.py: builds
survive a restart), and writes `.aibtrigger/dev.json` (devstate.py) so the other CLI commands find it.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path

from aibtrigger.devhost.devstate import HOME_NAME, adopt_dev_settings, remove_state, write_state  # noqa: F401
from aibtrigger.errors import AibTriggerError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CATALOG = PROJECT_ROOT / "examples" / "catalog.yaml"


class DevHostError(AibTriggerError):
    """The dev host cannot start for a reason the user can fix (the message says how)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_stack(
    *,
    storage: str | None = None,
    data_dir: Path | None = None,
    http_port: int = 0,
    app_dir: Path = PROJECT_ROOT,
    home: Path | None = Path(HOME_NAME),
    command: str = "aibtrigger dev",
    poll_seconds=(1.0, 5.0),
    message_visibility: float = 60.0,
    say: Callable[[str], None] = print,
):
    """Azurite (unless `storage` names a running one) and the dev host; yields the host.

    `home` (the `.aibtrigger` folder; None: neither lock nor dev.json) and `data_dir` are owned
    for the session's life. `message_visibility`: DevHost's (how long a received queue message
    stays invisible)."""
    from aibtrigger import bootstrap
    from aibtrigger.devhost.host import DevHost
    from aibtrigger.devhost.ownership import Owner

    with ExitStack() as stack:
        _own_folders(stack, home, data_dir, command, say)
        port = http_port or free_port()
        _check_port(port)
        defaults = _defaults(port, poll_seconds)
        for name, value in defaults.items():
            os.environ.setdefault(name, value)
        _check_catalog(os.environ["AIBTRIGGER_CATALOG_PATH"])  # a broken catalog stops us here, not at a timer
        azurite = None
        if storage:
            connection = storage
        else:
            azurite = _start_azurite(data_dir, say)
            stack.callback(azurite.stop)
            connection = azurite.connection_string
        os.environ["AzureWebJobsStorage"] = connection
        bootstrap.reset()
        sys.path.insert(0, str(app_dir))
        import function_app

        host = DevHost(
            function_app.app,
            connection_string=connection,
            host_json=app_dir / "host.json",
            http_port=port,
            message_visibility=message_visibility,
        )
        stack.callback(host.stop)
        _start(host, port)
        if home is not None:
            owner = Owner.me(command)
            write_state(
                home.resolve(),
                owner,
                host.base_url,
                {"AzureWebJobsStorage": connection, **{name: os.environ[name] for name in defaults}},
            )
            stack.callback(remove_state, home.resolve(), owner)
        yield host


def _own_folders(stack: ExitStack, home: Path | None, data_dir: Path | None, command: str, say) -> None:
    """Lock `home`, and `data_dir` too when it lies outside it (two homes may share a --data)."""
    from aibtrigger.devhost.ownership import FolderLock

    folders = [f.resolve() for f in (home, data_dir) if f is not None]
    if len(folders) == 2 and folders[0] in folders[1].parents:
        folders.pop()
    for folder in folders:
        lock = FolderLock(folder, command)
        stale = lock.acquire()
        stack.callback(lock.release)
        if stale is not None:
            say(f"{folder}: taking it over from {stale.describe()}, which ended without letting go")


def _start_azurite(data_dir: Path | None, say):
    from aibtrigger.devhost.azurite import start_azurite
    from aibtrigger.devhost.ports import start_azurite_keeping_ports

    try:
        return start_azurite_keeping_ports(data_dir, say=say) if data_dir else start_azurite()
    except FileNotFoundError as exc:  # not installed: the message says how to install it
        raise DevHostError(str(exc)) from None
    except RuntimeError as exc:  # it said why, e.g. a data folder it cannot read
        raise DevHostError(str(exc)) from None


def _defaults(port: int, poll_seconds) -> dict[str, str]:
    return {
        "AIBTRIGGER_CATALOG_PATH": str(DEFAULT_CATALOG),
        "AIBTRIGGER_BACKEND": "local",
        "AIBTRIGGER_POLL_MIN_SECONDS": str(poll_seconds[0]),
        "AIBTRIGGER_POLL_MAX_SECONDS": str(poll_seconds[1]),
        "AIBTRIGGER_SWEEP_SCHEDULE": "0 */15 * * * *",
        "AIBTRIGGER_TICK_SCHEDULE": "0 * * * * *",
        "AIBTRIGGER_PRUNE_SCHEDULE": "0 30 3 * * *",
        "AIBTRIGGER_LOCAL_EVENT_WEBHOOK": f"http://127.0.0.1:{port}/runtime/webhooks/EventGrid?functionName=on_gallery_event",
    }


def _check_catalog(path: str) -> None:
    from aibtrigger.catalog import load_catalog

    load_catalog(path)  # CatalogError names the entry and the field


def _check_port(port: int) -> None:
    from aibtrigger.devhost.ports import port_is_free

    if not port_is_free(port):
        raise DevHostError(_port_taken(port))


def _start(host, port: int) -> None:
    try:
        host.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise DevHostError(_port_taken(port)) from None


def _port_taken(port: int) -> str:
    return (
        f"port {port} is taken by another program (another `aibtrigger dev` in another folder, or "
        f"`func start`?): stop it, or choose another port with `--port`"
    )
