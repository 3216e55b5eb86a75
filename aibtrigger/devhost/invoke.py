"""Call a user function with its bindings, isolated: an exception becomes an Outcome, never
propagates into a poller, timer or server thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from .index import FunctionSpec
from .storage import QueueClients

log = logging.getLogger("aibtrigger.devhost")


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    error: BaseException | None = None


class _Out(func.Out):
    """What the worker passes for an output binding parameter."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class _Context(func.Context):
    """The `context` parameter the worker passes to functions that declare one."""

    def __init__(self, invocation_id: str, function_name: str) -> None:
        self._invocation_id, self._function_name = invocation_id, function_name
        self._local = threading.local()

    invocation_id = property(lambda self: self._invocation_id)
    function_name = property(lambda self: self._function_name)
    function_directory = property(lambda self: ".")
    thread_local_storage = property(lambda self: self._local)
    trace_context = property(lambda self: None)
    retry_context = property(lambda self: None)


class Invoker:
    def __init__(self, queues: QueueClients, message_encoding: str, function_timeout: float | None = None) -> None:
        self._queues = queues
        self._encoding = message_encoding
        self._timeout = function_timeout

    def __call__(self, spec: FunctionSpec, trigger_value: Any, *, reason: str) -> Outcome:
        invocation_id = str(uuid.uuid4())
        outs = {b["name"]: _Out() for b in spec.outputs if b["name"] != "$return"}
        kwargs = {spec.trigger["name"]: trigger_value, **outs}
        if "context" in spec.parameters and "context" not in kwargs:
            kwargs["context"] = _Context(invocation_id, spec.name)
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", spec.name, reason, invocation_id)
        started = time.monotonic()
        try:
            result = spec.user_function(**kwargs)
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)  # the worker runs async functions on an event loop
            for binding in spec.outputs:
                if binding["type"] == "queue":
                    value = result if binding["name"] == "$return" else outs[binding["name"]].get()
                    self._queues.send_output(binding, value, self._encoding)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - isolation: the function's failure
            log.exception(
                "Executed 'Functions.%s' (Failed, trigger=%s, Id=%s, Duration=%dms)",
                spec.name,
                spec.trigger_type,
                invocation_id,
                _ms(started),
            )
            return Outcome(False, error=exc)
        log.info(
            "Executed 'Functions.%s' (Succeeded, trigger=%s, Id=%s, Duration=%dms)",
            spec.name,
            spec.trigger_type,
            invocation_id,
            _ms(started),
        )
        if self._timeout is not None and time.monotonic() - started > self._timeout:
            # A thread cannot be cancelled, so the dev host only warns where Azure would have
            # timed the invocation out (and, for a queue message, retried it).
            log.warning(
                "Functions.%s ran longer than host.json functionTimeout (%ss): "
                "in Azure this invocation would have been cancelled",
                spec.name,
                self._timeout,
            )
        return Outcome(True, value=result)


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


class Tasks:
    """Named daemon threads the dev host can wait for on stop, and abandon if they overrun:
    a daemon thread never keeps the process alive after a hung invocation."""

    def __init__(self) -> None:
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                target()
            except Exception:  # noqa: BLE001 - last line of defence for a host thread
                log.exception("Unexpected error in dev host thread %s", name)
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, name=f"devhost-{name}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def join(self, deadline: float) -> list[threading.Thread]:
        """Wait until `deadline` (time.monotonic()); return the threads still running."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in threads if t.is_alive()]
