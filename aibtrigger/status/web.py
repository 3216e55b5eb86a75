"""The status views over HTTP, without the Functions types: (what was asked) -> Reply.

Each view answers HTML, or its view model as JSON when the client asks for `application/json`
(and not for HTML first), so the JSON is exactly the data the page shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from aibtrigger.errors import RejectedMessageError, UnknownTemplateError
from aibtrigger.status import gather
from aibtrigger.status.actions import request_build
from aibtrigger.status.html_page import Links
from aibtrigger.status.model import to_jsonable

HTML, JSON = "text/html", "application/json"


@dataclass(frozen=True)
class Reply:
    status: int
    mimetype: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def wants_json(accept: str | None) -> bool:
    """JSON when asked for before (or without) HTML: `fetch` with Accept: application/json, curl -H."""
    accept = (accept or "").lower()
    at = accept.find(JSON)
    return at >= 0 and not 0 <= accept.find(HTML) < at


def links_for(path: str, code: str | None) -> Links:
    """The overview's path, from any view's path (`/api/status/templates/x` -> `/api/status`)."""
    at = path.lower().find("/status")
    return Links(path[: at + len("/status")] if at >= 0 else "/api/status", code or None)


def overview(deps, *, accept: str | None, links: Links) -> Reply:
    from aibtrigger.status.render_overview import render_overview

    return _view(gather.overview(deps), accept, lambda v: render_overview(v, links))


def lineage(deps, *, accept: str | None, links: Links) -> Reply:
    from aibtrigger.status.render_lineage import render_lineage

    return _view(gather.lineage(deps), accept, lambda v: render_lineage(v, links))


def template(deps, name: str, *, accept: str | None, links: Links, queued: str | None = None) -> Reply:
    from aibtrigger.status.render_template import render_template

    try:
        view = gather.template_page(deps, name)
    except UnknownTemplateError as exc:
        return _error(404, str(exc), accept)
    return _view(view, accept, lambda v: render_template(v, links, queued=queued))


def build(
    deps,
    name: str,
    *,
    form: bytes,
    accept: str | None,
    links: Links,
    requested_by: str | None,
    origin: str | None = None,
    hosts: tuple[str | None, ...] = (),
) -> Reply:
    """POST of the request-a-build form: 303 back to the template page (202 with JSON).

    `origin`: the request's Origin header; `hosts`: the names this site answers to (URL, Host,
    X-Forwarded-Host). A browser posting from another site is refused, so a page elsewhere cannot
    make a visitor's browser queue builds (locally, where no key is asked, that would be enough).
    """
    if cross_site(origin, hosts):
        return _error(403, f"refused: a request from {origin} to this site", accept)
    reason = dict(parse_qsl(form.decode("utf-8", "replace"))).get("reason")
    try:
        queued = request_build(deps, name, reason=reason, requested_by=(requested_by or "")[:200] or None)
    except UnknownTemplateError as exc:
        return _error(404, str(exc), accept)
    except RejectedMessageError as exc:
        return _error(400, str(exc), accept)
    if wants_json(accept):
        return Reply(202, JSON, json.dumps({"queued": queued}))
    return Reply(303, HTML, "", {"Location": links.template(name, queued=queued["id"])})


def cross_site(origin: str | None, hosts: tuple[str | None, ...]) -> bool:
    """Whether a browser sent this from another site. No Origin: not a browser form (curl, a script),
    the function key is the guard then; an opaque origin ("null") is never this site."""
    if origin is None:
        return False
    netloc = urlsplit(origin).netloc.lower()
    return not netloc or netloc not in {h.lower() for h in hosts if h}


def _view(view, accept: str | None, render) -> Reply:
    fresh = {"Cache-Control": "no-store", "Vary": "Accept"}  # live state, HTML or JSON by Accept: never cached
    if wants_json(accept):
        return Reply(200, JSON, json.dumps(to_jsonable(view)), fresh)
    return Reply(200, HTML, render(view), fresh)


def _error(status: int, message: str, accept: str | None) -> Reply:
    if wants_json(accept):
        return Reply(status, JSON, json.dumps({"error": message}))
    from html import escape

    return Reply(
        status,
        HTML,
        f'<!doctype html><html lang="en"><title>aibtrigger status</title><p role="alert">{escape(message)}</p></html>',
    )
