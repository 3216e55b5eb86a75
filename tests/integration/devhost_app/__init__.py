"""A small FunctionApp for the dev host's tests: every function records what it receives.

Queue names and the timer schedule are %SETTING% expressions, so each test picks its own.
Message bodies steer the queue function: "fail..." raises, "sleep:<s>" sleeps, "block" waits
until the test releases it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import azure.functions as func


class Recorder:
    """Thread-safe record of (function, value) calls, with a deadline-bound wait."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.release = threading.Event()
        self.active = self.max_active = 0  # concurrent "sleep:" invocations
        self._changed = threading.Condition()

    def add(self, name: str, value: Any) -> None:
        with self._changed:
            self.calls.append((name, value))
            self._changed.notify_all()

    def of(self, name: str) -> list[Any]:
        with self._changed:
            return [value for n, value in self.calls if n == name]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True


def make_app(rec: Recorder, *, run_on_startup: bool = False) -> func.FunctionApp:
    """A fresh app per test (the worker's indexing runs once per app object)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.queue_trigger(arg_name="msg", queue_name="%DEVHOST_QUEUE%", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        body = msg.get_body()
        rec.add("work", {"id": msg.id, "body": body, "dequeue_count": msg.dequeue_count})
        if body.startswith(b"fail"):
            raise RuntimeError(f"told to fail: {body!r}")
        if body.startswith(b"sleep:"):
            with rec._changed:
                rec.active += 1
                rec.max_active = max(rec.max_active, rec.active)
            time.sleep(float(body[6:]))
            with rec._changed:
                rec.active -= 1
        if body == b"block":
            rec.release.wait(30)

    @app.timer_trigger(schedule="%DEVHOST_TIMER%", arg_name="timer", run_on_startup=run_on_startup)
    def tick(timer: func.TimerRequest) -> None:
        rec.add("tick", timer)

    @app.event_grid_trigger(arg_name="event")
    def on_event(event: func.EventGridEvent) -> None:
        rec.add("event", event)
        if event.subject == "fail":
            raise RuntimeError("told to fail")

    @app.event_grid_trigger(arg_name="event")
    def on_cloud_event(event: func.CloudEvent) -> None:
        rec.add("cloud_event", event)

    @app.route(route="items/{item_id:int}", methods=["GET"])
    def get_item(req: func.HttpRequest) -> func.HttpResponse:
        payload = {"id": req.route_params["item_id"], "q": req.params.get("q"), "url": req.url}
        return func.HttpResponse(json.dumps(payload), mimetype="application/json")

    @app.route(route="echo", methods=["POST"])
    def echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return func.HttpResponse(
            req.get_body(), status_code=201, headers={"X-Echo": "yes", "X-Invocation": context.invocation_id}
        )

    @app.route(route="async/{name?}")
    async def hello(req: func.HttpRequest) -> str:
        return f"hello {req.route_params.get('name', 'nobody')}"

    @app.route(route="boom")
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("boom")

    @app.route(route="forward", methods=["POST"])
    @app.queue_output(arg_name="out", queue_name="%DEVHOST_OUT%", connection="AzureWebJobsStorage")
    def forward(req: func.HttpRequest, out: func.Out[str]) -> str:
        out.set(req.get_body().decode("utf-8"))
        return "queued"

    return app
