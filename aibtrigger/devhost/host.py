"""The local Functions host behind `aibtrigger dev`: runs a FunctionApp's queue, timer, Event Grid
and HTTP functions against Azurite, from their own bindings and host.json (no Core Tools)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from . import hostjson
from .httpserver import DevHttpServer
from .index import BindingError, FunctionSpec, index_app
from .invoke import Invoker, Tasks
from .queues import QueueListener
from .storage import DEFAULT_CONNECTION, QueueClients
from .timers import TimerRunner

log = logging.getLogger("aibtrigger.devhost")


class DevHost:
    """Start with start() (returns at once; work runs on threads), end with stop().

    `connection_string` serves every binding's `connection` setting (AzureWebJobsStorage unless
    named otherwise) unless `connections` maps that setting name to another string.
    `message_visibility`: seconds a received queue message stays invisible, renewed at half-time
    while its invocation runs. `drain_timeout`: how long stop() waits for running invocations
    before abandoning them (their queue messages become visible again)."""

    def __init__(
        self,
        app,
        *,
        connection_string: str,
        host_json: dict | Path | str | None = None,
        http_port: int = 0,
        connections: Mapping[str, str] | None = None,
        message_visibility: float = 60.0,
        drain_timeout: float = 30.0,
        environ: Mapping[str, str] | None = None,
    ):
        config = hostjson.load(host_json)
        self.queue_options = hostjson.QueueOptions.from_host_json(config)
        self.route_prefix = hostjson.route_prefix(config)
        specs, self.skipped = index_app(app, environ=environ, only=hostjson.enabled_functions(config))
        self._stopping = threading.Event()
        self._stop_requested = threading.Event()  # run_forever's wake-up (Ctrl-C, SIGTERM)
        self._clients = QueueClients(connection_string, connections)
        self._invoke = Invoker(self._clients, self.queue_options.message_encoding, hostjson.function_timeout(config))
        self._tasks = Tasks()
        self._timers: list[TimerRunner] = []
        for spec in [s for s in specs if s.trigger_type == "timerTrigger"]:
            try:  # a bad schedule is that function's error, reported like the host does
                self._timers.append(TimerRunner(spec, self._invoke, self._stopping))
            except (BindingError, ValueError) as exc:
                self.skipped[spec.name] = str(exc)
                log.error("Function %s will not run: %s", spec.name, exc)
        bad = set(self.skipped)
        self.functions: list[FunctionSpec] = [s for s in specs if s.name not in bad]
        self._http_port = http_port
        self._http: DevHttpServer | None = None
        self._listeners: list[QueueListener] = []
        self._message_visibility = message_visibility
        self._drain_timeout = drain_timeout

    def _of(self, trigger_type: str) -> list[FunctionSpec]:
        return [s for s in self.functions if s.trigger_type == trigger_type]

    @property
    def base_url(self) -> str:
        if self._http is None:
            raise RuntimeError("the dev host is not started")
        return self._http.base_url

    def start(self) -> DevHost:
        if self._http is not None:
            raise RuntimeError("the dev host is already started")
        try:
            self._http = DevHttpServer(
                self._of("httpTrigger"), self._of("eventGridTrigger"), self.route_prefix, self._invoke, self._http_port
            )
            self._http.start(self._tasks)
            for spec in self._of("queueTrigger"):
                listener = QueueListener(
                    spec,
                    self._clients,
                    self.queue_options,
                    self._invoke,
                    self._stopping,
                    visibility=self._message_visibility,
                )
                listener.start(self._tasks)
                self._listeners.append(listener)
            for timer in self._timers:
                self._tasks.spawn(f"timer-{timer.spec.name}", timer.run)
        except BaseException:
            self.stop()
            raise
        self._log_functions()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling and timers, let running invocations finish (up to the drain timeout),
        abandon the rest, and join every dev host thread. Safe to call more than once."""
        deadline = time.monotonic() + (self._drain_timeout if timeout is None else timeout)
        self._stopping.set()
        self._stop_requested.set()
        if self._http is not None:
            self._http.stop(deadline)
        for listener in self._listeners:
            listener.stop(deadline)
        left = self._tasks.join(deadline)
        if left:
            log.warning("Abandoned dev host threads: %s", ", ".join(t.name for t in left))
        self._clients.close()

    def request_stop(self) -> None:
        """Make run_forever() return (after a graceful stop); callable from any thread."""
        self._stop_requested.set()

    def run_forever(self) -> None:
        """Start, serve until Ctrl-C / SIGTERM / request_stop(), then stop gracefully."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        try:
            self.start()
            log.info("Dev host running at %s (Ctrl-C to stop)", self.base_url)
            while not self._stop_requested.wait(0.5):  # short waits keep Ctrl-C responsive
                pass
        except KeyboardInterrupt:
            log.info("Stopping the dev host")
        finally:
            self.stop()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def __enter__(self) -> DevHost:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _log_functions(self) -> None:
        lines = []
        for spec in self.functions:
            trigger = spec.trigger
            if spec.trigger_type == "httpTrigger":
                methods = ",".join(trigger.get("methods") or ["ALL"])
                prefix = f"/{self.route_prefix}" if self.route_prefix else ""
                where = f"[{methods}] {self.base_url}{prefix}/{trigger.get('route') or spec.name}"
            elif spec.trigger_type == "eventGridTrigger":
                where = f"{self.base_url}/runtime/webhooks/EventGrid?functionName={spec.name}"
            elif spec.trigger_type == "queueTrigger":
                where = f"queue '{trigger['queueName'].lower()}'"
            else:
                where = f"schedule '{trigger['schedule']}'"
            lines.append(f"  {spec.name}: {spec.trigger_type} {where}")
        lines += [f"  {name}: NOT RUNNING ({why})" for name, why in self.skipped.items()]
        log.info("Functions:\n%s", "\n".join(lines))


def serve(app, *, connection_string: str, host_json_path: Path | str | None = None, http_port: int = 7071) -> None:
    """Run `app` until Ctrl-C or SIGTERM (what `aibtrigger dev` calls once Azurite is up).
    Functions see AzureWebJobsStorage = `connection_string`, as local.settings.json gives them
    under `func start`; logging gets a console handler at INFO if none is configured."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ[DEFAULT_CONNECTION] = connection_string
    DevHost(app, connection_string=connection_string, host_json=host_json_path, http_port=http_port).run_forever()
