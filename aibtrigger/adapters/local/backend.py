"""LocalBackend: the ImageBackend port on Azurite, a full build run by a detached local process.

State lives in `local-aib/templates/<name>.json` (state.py); the build runs in
`python -m aibtrigger.adapters.local.builder NAME BUILD_ID`, started here and never awaited, so it
outlives the function invocation that asked for it, as an AIB build does.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import uuid
from pathlib import Path

from aibtrigger.adapters.local.environment import BuilderConfig, switches
from aibtrigger.adapters.local.layout import LOG_BLOB, LOGS_CONTAINER, blob_service, utc_now
from aibtrigger.adapters.local.state import (
    CANCELED_MESSAGE,
    TemplateStateStore,
    canceling,
    finished,
    heartbeat_age,
    is_active,
    running,
    to_build_status,
    to_run_outputs,
)
from aibtrigger.catalog import Catalog, TemplateDefinition
from aibtrigger.domain.logexcerpt import redact
from aibtrigger.domain.model import BuildStatus, RunOutput
from aibtrigger.errors import (
    BackendError,
    BuildAlreadyActiveError,
    ConcurrencyError,
    ConfigError,
    TemplateNotFoundError,
)

_PROJECT_ROOT = Path(__file__).resolve().parents[3]  # so `-m aibtrigger...` imports wherever the cwd is
DEAD_BUILDER = "local builder process stopped unexpectedly"


def _storage_errors(method):
    """Storage failures become BackendError (worth retrying), with no secret in the message."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        from azure.core.exceptions import AzureError

        try:
            return method(self, *args, **kwargs)
        except (AzureError, ConcurrencyError) as exc:
            raise BackendError(redact(f"local backend storage error: {type(exc).__name__}: {exc}")[:500]) from None

    return wrapper


class LocalBackend:
    def __init__(
        self,
        catalog: Catalog,
        *,
        connection_string: str,
        catalog_path: Path,
        workdir: Path,
        seconds_per_minute: float = 60.0,
        event_webhook: str | None = None,
        heartbeat_timeout: float = 60.0,
    ):
        """heartbeat_timeout: a Running run whose builder has not written its heartbeat for this
        long is declared dead (Failed); the builder beats four times per window (at most every 5 s)."""
        try:
            switches(os.environ)  # the builders inherit them: a wrong one is said now, not by every build
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self._catalog = catalog
        self._heartbeat_timeout = heartbeat_timeout
        self._config = BuilderConfig(
            connection_string=connection_string,
            catalog_path=Path(catalog_path).resolve(),
            workdir=Path(workdir).resolve(),
            seconds_per_minute=seconds_per_minute,
            event_webhook=event_webhook,
            heartbeat_seconds=min(5.0, heartbeat_timeout / 4),
        )
        self._service = blob_service(connection_string)
        self._state = TemplateStateStore(self._service)
        self._builders: list[subprocess.Popen] = []

    @_storage_errors
    def get_status(self, template: str) -> BuildStatus:
        self._definition(template)
        return to_build_status(self._current(template))

    @_storage_errors
    def start_run(self, template: str, *, provenance: dict | None = None) -> None:
        self._definition(template)
        self._current(template)  # a dead builder's run gets its verdict first, so it no longer blocks
        build_id = str(uuid.uuid4())

        def accept(doc):
            if is_active(doc):
                state = doc["lastRunStatus"]["runState"]
                raise BuildAlreadyActiveError(
                    f"OperationNotAllowed: Operation 'Run' is not allowed for template "
                    f"{template!r} in run state '{state}'"
                )
            return {
                "buildId": build_id,
                "lastRunStatus": running("Queued"),
                "exactSourceVersion": None,
                "runOutputs": [],
                "cancelRequested": False,
                "heartbeat": utc_now(),
                "builderPid": None,
                "provenance": provenance or {},
            }

        self._state.update(template, accept)
        try:
            self._spawn(template, build_id)
        except OSError as exc:
            why = f"local builder could not start: {exc.strerror}"
            self._state.update(template, lambda doc: _ended(doc, build_id, "Failed", why))
            raise BackendError(why) from None

    @_storage_errors
    def cancel_run(self, template: str) -> None:
        """Ask the builder to stop; Canceling shows at once. Nothing to cancel: a no-op."""
        self._definition(template)
        self._current(template)

        def ask(doc):
            if not doc or doc["lastRunStatus"]["runState"] != "Running":
                return None
            return {**doc, "cancelRequested": True, "lastRunStatus": canceling(doc["lastRunStatus"])}

        self._state.update(template, ask)

    @_storage_errors
    def run_outputs(self, template: str) -> list[RunOutput]:
        self._definition(template)
        return to_run_outputs(self._state.read(template))

    @_storage_errors
    def read_log(self, template: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        self._definition(template)
        build_id = (self._state.read(template) or {}).get("buildId")
        if not build_id:
            return None
        try:
            blob = self._service.get_container_client(LOGS_CONTAINER).download_blob(f"{build_id}/{LOG_BLOB}")
        except ResourceNotFoundError:
            return None
        # Script and file URIs are logged as the catalog gives them: mask any SAS before it is copied out.
        return redact(blob.readall().decode("utf-8", errors="replace"))

    @_storage_errors
    def exact_source_version(self, template: str) -> str | None:
        self._definition(template)
        return (self._state.read(template) or {}).get("exactSourceVersion")

    # --- internals ------------------------------------------------------------------------------------
    def _definition(self, template: str) -> TemplateDefinition:
        entry = self._catalog.by_name.get(template)
        if entry is None:
            raise TemplateNotFoundError(f"template {template!r} is not in the catalog")
        if entry.definition is None:
            raise TemplateNotFoundError(
                f"template {template!r} has no definition: the local backend builds only catalog definitions"
            )
        return entry.definition

    def _current(self, template: str) -> dict | None:
        """The state document, after declaring a silent builder dead (conditionally: a heartbeat
        that lands meanwhile wins)."""
        doc = self._state.read(template)
        if not is_active(doc) or heartbeat_age(doc) <= self._heartbeat_timeout:
            return doc

        def declare_dead(current):
            if not is_active(current) or heartbeat_age(current) <= self._heartbeat_timeout:
                return None
            if current["lastRunStatus"]["runState"] == "Canceling":  # it was asked to stop, and it has
                return _ended(current, current.get("buildId"), "Canceled", CANCELED_MESSAGE)
            return _ended(
                current,
                current.get("buildId"),
                "Failed",
                f"{DEAD_BUILDER} (no heartbeat for {self._heartbeat_timeout:g} s)",
            )

        return self._state.update(template, declare_dead)

    def _spawn(self, template: str, build_id: str) -> None:
        self._builders = [p for p in self._builders if p.poll() is None]  # reap the finished ones
        logs = self._config.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self._config.to_env(),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        }
        with open(logs / f"{template}-{build_id}.log", "ab") as output:
            self._builders.append(
                subprocess.Popen(
                    [sys.executable, "-m", "aibtrigger.adapters.local.builder", template, build_id],
                    env=env,
                    cwd=self._config.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )  # own session: outlives its caller


def _ended(doc: dict | None, build_id: str | None, run_state: str, message: str) -> dict | None:
    if not doc or doc.get("buildId") != build_id or not is_active(doc):
        return None
    return {**doc, "lastRunStatus": finished(doc["lastRunStatus"], run_state, message), "cancelRequested": False}
