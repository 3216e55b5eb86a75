"""The fake ARM's HTTPS front: routing, auth, throttling, faults, call counts. State lives in World."""

from __future__ import annotations

import json
import ssl
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fakearm.clock import FakeClock
from tests.fakearm.credential import decode_claims
from tests.fakearm.errors import ArmError
from tests.fakearm.faults import Faults
from tests.fakearm.routes import ACTIONS, ROUTES
from tests.fakearm.throttle import Throttle
from tests.fakearm.world import World

ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")


@dataclass
class Call:
    method: str
    kind: str
    template: str | None
    status: int = 0  # 0 until answered: a slow call counts from its arrival
    body: dict | None = None  # what a PATCH/PUT/POST sent (JSON)


class FakeArm:
    def __init__(self, tls, *, clock=None, staging=None, throttle: Throttle | None = None) -> None:
        self.clock = clock or FakeClock()
        self.world = World(self.clock, staging=staging)
        self.faults, self.throttle = Faults(), throttle or Throttle()
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.endpoint = self.world.endpoint = f"https://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def count(self, method: str | None = None, kind: str | None = None, *, status: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if method in (None, c.method) and kind in (None, c.kind) and status in (None, c.status)
            )

    def bodies(self, method: str, kind: str) -> list[dict | None]:
        """What the matching requests sent, in order."""
        with self._lock:
            return [c.body for c in self.calls if c.method == method and c.kind == kind]

    def summary(self) -> dict[str, int]:
        with self._lock:
            return dict(Counter(f"{c.method} {c.kind}" for c in self.calls))

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeArm:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- one request ----------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers, body: bytes = b"") -> tuple[int, dict | list | None, dict]:
        url = urlsplit(target)
        query = {k.lower(): v[0] for k, v in parse_qs(url.query).items()}
        kind, match = next(
            ((k, m) for k, meth, rx in ROUTES if meth == method and (m := rx.match(url.path))), ("unknown", None)
        )
        params = {**(match.groupdict() if match else {}), "path": url.path, "method": method}
        params["body"] = _json(body)
        call = Call(method, kind, params.get("name"), body=params["body"])
        with self._lock:
            self.calls.append(call)
        try:
            status, body, extra = self._answer(method, kind, params, query, headers)
        except Exception as exc:  # a bug in the fake: say so loudly instead of dropping the connection
            traceback.print_exc()
            status, body, extra = 500, {"error": {"code": "FakeArmBug", "message": repr(exc)}}, {}
        call.status = status
        return status, body, extra

    def _answer(self, method, kind, params, query, headers):
        try:
            self._authenticate(headers.get("Authorization", ""))
            bucket, allowed, remaining, retry_after = self.throttle.take(params.get("sub", ""), method)
            limit = {f"x-ms-ratelimit-remaining-subscription-{bucket}": str(remaining)}
            if not allowed:
                raise _Throttled(retry_after, limit)
            if kind == "unknown":
                raise ArmError(404, "InvalidResourceType", "The resource type could not be found.")
            if params.get("sub", "").lower() != self.world.subscription.lower():
                raise ArmError(
                    404, "SubscriptionNotFound", f"The subscription '{params.get('sub')}' could not be found."
                )
            if "api-version" not in query:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            fault = self.faults.take(kind, method, params.get("name"))
            if fault is not None:
                if fault.start_build:
                    self.world.start_run(params["name"])
                time.sleep(fault.delay)
                if fault.status is not None:
                    extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    return fault.status, ArmError(fault.status, fault.code, fault.message).body(), {**limit, **extra}
            status, body, extra = ACTIONS.get((kind, method), ACTIONS.get(kind))(self, params, query)
            return status, body, {**limit, **extra}
        except _Throttled as exc:
            return (
                429,
                {
                    "error": {
                        "code": "TooManyRequests",
                        "message": "Number of requests for subscription exceeded "
                        f"the limit. Please try again after '{exc.retry_after:d}' seconds.",
                    }
                },
                {"Retry-After": str(exc.retry_after), **exc.headers},
            )
        except ArmError as exc:
            extra = (
                {"WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token"'}
                if exc.status == 401
                else {}
            )
            return exc.status, exc.body(), extra

    def _authenticate(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        claims = decode_claims(token) if scheme == "Bearer" else None
        if not claims:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or in an invalid format.",
            )
        if claims.get("aud", "").rstrip("/") not in ARM_AUDIENCES or claims.get("exp", 0) < time.time():
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid: wrong audience or expired.")


def _json(body: bytes):
    try:
        return json.loads(body) if body.strip() else None
    except ValueError:
        return None  # not JSON: the route sees no body (the fake's routes read JSON only)


class _Throttled(Exception):
    def __init__(self, retry_after: int, headers: dict) -> None:
        self.retry_after, self.headers = retry_after, headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address) -> None:
        try:
            request.do_handshake()  # in the request's own thread, so one slow client never blocks accept()
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        pass  # clients that gave up (read timeouts) close their end: nothing to report


def _handler(arm: FakeArm):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out separately: no 40 ms delayed-ACK stall

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            sent = self.rfile.read(length) if length else b""
            status, body, extra = arm.handle(self.command, self.path, self.headers, sent)
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for key, value in {
                "Content-Type": "application/json; charset=utf-8",
                "Content-Length": str(len(data)),
                "x-ms-request-id": str(uuid.uuid4()),
                **extra,
            }.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, *args) -> None:
            pass

    return Handler
