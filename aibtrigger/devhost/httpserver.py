"""HTTP front of the dev host: httpTrigger routes under /<routePrefix>/ and the Event Grid
webhook. authLevel is not enforced: locally any key (or none) is accepted, as with `func start`."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from . import eventgrid
from .index import FunctionSpec
from .invoke import Invoker, Tasks

log = logging.getLogger("aibtrigger.devhost")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}",
}
_PARAM = re.compile(r"^\{(\*)?([A-Za-z_]\w*)(?::(\w+)(?:\([^)]*\))?)?(\?)?\}$")


def route_pattern(template: str) -> re.Pattern:
    """Regex for a Functions route template: literal segments, {name}, {name:int},
    optional {name?} and catch-all {*name} (ASP.NET routing, case-insensitive)."""
    parts = []
    for segment in template.strip("/").split("/"):
        match = _PARAM.match(segment)
        if not match:
            parts.append("/" + re.escape(segment))
            continue
        star, name, constraint, optional = match.groups()
        value = ".*" if star else _CONSTRAINTS.get((constraint or "").lower(), "[^/]+")
        group = f"/(?P<{name}>{value})"
        parts.append(f"(?:{group})?" if optional or star else group)
    return re.compile("".join(parts) + "/?", re.IGNORECASE)


class Routes:
    def __init__(self, specs: list[FunctionSpec], prefix: str):
        self.prefix = prefix
        table = []
        for spec in specs:
            template = spec.trigger.get("route") or spec.name  # no route: the function's name
            methods = {m.upper() for m in spec.trigger.get("methods") or []}  # none: all methods
            table.append((template.count("{"), route_pattern(template), methods, spec))
        # Literal routes win over parameterised ones, as in ASP.NET routing.
        self._table = sorted(table, key=lambda row: row[0])

    def match(self, method: str, path: str) -> tuple[FunctionSpec, dict[str, str]] | None:
        base = f"/{self.prefix}" if self.prefix else ""
        if not path.lower().startswith(base.lower() + "/"):
            return None
        rest = path[len(base) :]
        for _, pattern, methods, spec in self._table:
            found = pattern.fullmatch(rest)
            if found and (not methods or method in methods):
                return spec, {k: v for k, v in found.groupdict().items() if v is not None}
        return None


def _response(result) -> tuple[int, dict[str, str], bytes]:
    """What the worker makes of an http function's return value."""
    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers)
        if result.mimetype and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = f"{result.mimetype}; charset={result.charset or 'utf-8'}"
        return result.status_code, headers, result.get_body()
    if result is None:
        return 204, {}, b""
    body = result if isinstance(result, bytes) else str(result).encode("utf-8")
    return 200, {"Content-Type": "text/plain; charset=utf-8"}, body


class DevHttpServer:
    def __init__(
        self,
        specs: list[FunctionSpec],
        eventgrid_specs: list[FunctionSpec],
        prefix: str,
        invoke: Invoker,
        port: int = 0,
    ):
        self.routes = Routes(specs, prefix)
        self._eventgrid = {s.name.lower(): s for s in eventgrid_specs}
        self._invoke = invoke
        self._tasks = Tasks()
        self._server = _Server(("127.0.0.1", port), _handler(self._dispatch), self._tasks)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self, tasks: Tasks) -> None:
        self._thread = tasks.spawn("http", lambda: self._server.serve_forever(poll_interval=0.2))

    def stop(self, deadline: float) -> None:
        if self._thread is not None:  # shutdown() would wait forever for a loop never started
            self._server.shutdown()  # returns once serve_forever has left its loop
        self._tasks.join(deadline)  # requests already being handled
        self._server.server_close()

    def _dispatch(self, method: str, url: str, headers, body: bytes):
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.path.lower().rstrip("/") == eventgrid.WEBHOOK_PATH:
            return eventgrid.handle(method, query, headers, body, self._eventgrid, self._invoke)
        found = self.routes.match(method, parts.path)
        if found is None:
            return 404, {"Content-Type": "text/plain"}, f"no function for {method} {parts.path}".encode()
        spec, route_params = found
        request = func.HttpRequest(
            method,
            self.base_url + url,
            headers=dict(headers.items()),
            params=query,
            route_params=route_params,
            body=body,
        )
        outcome = self._invoke(spec, request, reason=f"HTTP {method} {parts.path}")
        if not outcome.ok:
            return 500, {"Content-Type": "text/plain"}, b"function failed: see the dev host's log"
        try:
            return _response(outcome.value)
        except Exception:  # noqa: BLE001 - a bad return value is the function's failure
            log.exception("Function %s returned something that is not an HTTP response", spec.name)
            return 500, {"Content-Type": "text/plain"}, b"function returned an invalid response"


class _Server(ThreadingHTTPServer):
    """Handles each request on a named, tracked daemon thread, so stop() can wait for them."""

    def __init__(self, address, handler, tasks: Tasks):
        self._tasks = tasks
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        self._tasks.spawn(f"http-{client_address[1]}", lambda: self.process_request_thread(request, client_address))


def _handler(dispatch: Callable) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0 (one request per connection) keeps stop() from waiting on idle keep-alives.
        timeout = 60  # a client that stops sending cannot hold a thread forever

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, headers, payload = dispatch(self.command, self.path, self.headers, body)
            except Exception:  # noqa: BLE001 - a dev host bug must still answer the client
                log.exception("Dev host failed on %s %s", self.command, self.path)
                status, headers, payload = 500, {}, b"dev host error: see its log"
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, format, *args):  # noqa: A002 - stdlib signature
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
