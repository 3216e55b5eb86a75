"""`aibtrigger dev` and `aibtrigger demo`: Azurite + the dev host + the local backend, wired together.

The dev host runs function_app.app in this process; builds run in their own processes (the local
backend's builder), as AIB builds run outside the Functions host. `dev` writes `.aibtrigger/dev.json`
so the other CLI commands find the running storage without any setting.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STATE_FILE = Path(".aibtrigger") / "dev.json"
DEFAULT_CATALOG = PROJECT_ROOT / "examples" / "catalog.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_stack(*, storage: str | None = None, data_dir: Path | None = None, http_port: int = 0,
                  app_dir: Path = PROJECT_ROOT, state_file: Path | None = STATE_FILE, poll_seconds=(1.0, 5.0),
                  message_visibility: float = 60.0):
    """Azurite (unless `storage` names a running one) and the dev host; yields the host.

    `message_visibility`: DevHost's (how long a received queue message stays invisible)."""
    from aibtrigger import bootstrap
    from aibtrigger.devhost.azurite import start_azurite
    from aibtrigger.devhost.host import DevHost

    azurite = None if storage else start_azurite(data_dir=data_dir)
    connection = storage or azurite.connection_string
    port = http_port or free_port()
    defaults = {
        "AIBTRIGGER_CATALOG_PATH": str(DEFAULT_CATALOG), "AIBTRIGGER_BACKEND": "local",
        "AIBTRIGGER_POLL_MIN_SECONDS": str(poll_seconds[0]), "AIBTRIGGER_POLL_MAX_SECONDS": str(poll_seconds[1]),
        "AIBTRIGGER_SWEEP_SCHEDULE": "0 */15 * * * *", "AIBTRIGGER_TICK_SCHEDULE": "0 * * * * *",
        "AIBTRIGGER_LOCAL_EVENT_WEBHOOK":
            f"http://127.0.0.1:{port}/runtime/webhooks/EventGrid?functionName=on_gallery_event",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    os.environ["AzureWebJobsStorage"] = connection
    bootstrap.reset()
    sys.path.insert(0, str(app_dir))
    import function_app

    host = DevHost(function_app.app, connection_string=connection, host_json=app_dir / "host.json",
                   http_port=port, message_visibility=message_visibility)
    try:
        host.start()
        if state_file is not None:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            state_file.write_text(json.dumps({
                "AzureWebJobsStorage": connection, "url": host.base_url, "pid": os.getpid(),
                **{name: os.environ[name] for name in defaults}}, indent=2))
        yield host
    finally:
        host.stop()
        if state_file is not None and state_file.exists():
            state_file.unlink()
        if azurite is not None:
            azurite.stop()


def adopt_dev_settings(state_file: Path = STATE_FILE) -> bool:
    """Point this process at a running `aibtrigger dev` when no storage setting is given."""
    if "AzureWebJobsStorage" in os.environ or "AzureWebJobsStorage__accountName" in os.environ:
        return False
    if not state_file.exists():
        return False
    for name, value in json.loads(state_file.read_text()).items():
        if name not in ("url", "pid"):
            os.environ.setdefault(name, value)
    return True
