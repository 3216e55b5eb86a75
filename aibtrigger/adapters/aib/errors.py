"""Azure SDK errors -> the service's own errors.

AIB refuses Run/Cancel during a build with the error *code* `OperationNotAllowed`; the HTTP status is
not documented (400 and 409 have both been reported), so the code is what we match, wherever it sits:
ARM's `{"error": {...}}`, the pre-2021 bare `{"code", "message"}`, nested `details`
(DeploymentFailed -> ResourceDeploymentFailure -> ...), or a JSON document inside a `message`.
"""

from __future__ import annotations

import json

from aibtrigger.domain.logexcerpt import redact
from aibtrigger.errors import AibTriggerError, BackendError, BuildAlreadyActiveError, TemplateNotFoundError

OPERATION_NOT_ALLOWED = "operationnotallowed"
# The request may have reached AIB and done its work before the answer was lost.
_AMBIGUOUS_STATUS = frozenset({500, 502, 503, 504})
_MAX_DEPTH = 8


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) or getattr(exc, "status_code", None)


def error_nodes(exc: BaseException) -> list[dict]:
    """Every `{code, message}` object in the error body, outermost first."""
    nodes: list[dict] = []
    _walk(_body(exc), nodes, 0)
    return nodes


def error_codes(exc: BaseException) -> set[str]:
    codes = {n["code"].lower() for n in error_nodes(exc) if isinstance(n.get("code"), str)}
    sdk_code = getattr(getattr(exc, "error", None), "code", None)  # azure-core's parsed ODataV4 error
    return codes | ({sdk_code.lower()} if isinstance(sdk_code, str) else set())


def is_operation_not_allowed(exc: BaseException) -> bool:
    return OPERATION_NOT_ALLOWED in error_codes(exc)


def is_ambiguous(exc: BaseException) -> bool:
    """Whether a failed non-idempotent call may nevertheless have happened (a gateway timeout, a lost
    answer): then only re-reading the resource tells, never re-posting blindly."""
    if is_operation_not_allowed(exc):
        return False
    status = status_of(exc)
    return status is None or status in _AMBIGUOUS_STATUS


def describe(exc: BaseException) -> str:
    """`HTTP 409 OperationNotAllowed: <message>`, from the innermost coded error; secrets masked."""
    status = status_of(exc)
    coded = [n for n in error_nodes(exc) if n.get("code")]
    if coded:
        inner = coded[-1]
        text = f"{inner.get('code')}: {inner.get('message') or ''}".strip()
        if len(coded) > 1:
            text = f"{coded[0].get('code')} -> {text}"
    else:
        text = (str(exc).splitlines() or [type(exc).__name__])[0]
    prefix = f"HTTP {status} " if status else f"{type(exc).__name__}: "
    return redact(prefix + text)[:500]


def translate(exc: BaseException, what: str) -> AibTriggerError:
    """The service error for an SDK error raised while doing `what` (e.g. "run template 'base'")."""
    from azure.core.exceptions import ClientAuthenticationError

    detail = f"{what}: {describe(exc)}"
    if is_operation_not_allowed(exc):
        return BuildAlreadyActiveError(detail)
    status = status_of(exc)
    if status == 404:
        return TemplateNotFoundError(detail)
    if status in (401, 403) or isinstance(exc, ClientAuthenticationError):
        return BackendError(f"{detail} (check the service identity's role assignments)")
    return BackendError(detail)  # 429/5xx after azure-core's retries, network errors, other 4xx


def _body(exc: BaseException):
    response = getattr(exc, "response", None)
    if response is None:
        return None
    try:
        return json.loads(response.text())
    except Exception:  # noqa: BLE001 - a body that is not JSON (a gateway's HTML page) has no codes
        return None


def _walk(node, found: list[dict], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, found, depth + 1)
        return
    if not isinstance(node, dict):
        return
    if "code" in node:
        found.append(node)
    for key in ("error", "details", "innererror"):
        if key in node:
            _walk(node[key], found, depth + 1)
    message = node.get("message")
    if isinstance(message, str) and "{" in message:
        _walk(_embedded_json(message), found, depth + 1)


def _embedded_json(text: str):
    """A deployment error's message sometimes carries the inner error as a JSON string."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        return json.loads(text[start : end + 1])
    except ValueError:
        return None
