"""The status views over HTTP, without the Functions types: (what was asked) -> Reply.

Each view answers HTML, or its view model as JSON when the client asks for `application/json`
(and not for HTML first), so the JSON is exactly the data the page shows. The forms' POSTs (request
a build; promote, reject, roll back) answer POST-redirect-GET: 303 back to the template's page, which
tells what was done; a refusal is told on that page itself, with its reason.
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
from aibtrigger.status.promotion_view import OUTCOMES, Outcome

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


def template(
    deps,
    name: str,
    *,
    accept: str | None,
    links: Links,
    queued: str | None = None,
    outcome: Outcome | None = None,
    error: str | None = None,
    status: int = 200,
) -> Reply:
    """`queued`, `outcome`: what a form did, told after its redirect; `error`, `status`: why a form
    was refused, told on the page itself (with JSON, only the error)."""
    from aibtrigger.status.render_template import render_template

    if error is not None and wants_json(accept):
        return _error(status, error, accept)
    try:
        view = gather.template_page(deps, name)
    except UnknownTemplateError as exc:
        return _error(404 if error is None else status, error or str(exc), accept)
    reply = _view(view, accept, lambda v: render_template(v, links, queued=queued, outcome=outcome, error=error))
    return Reply(status, reply.mimetype, reply.body, reply.headers)


def outcome_from(params) -> Outcome | None:
    """The outcome a promotion form's redirect carries (`done`, `subject`, `repeat`); anything else: none."""
    state, subject = params.get("done"), params.get("subject")
    if state not in OUTCOMES or not subject:
        return None
    return Outcome(state, subject[:300], changed=params.get("repeat") != "1")


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


def promote(deps, run_id: str, *, form: bytes, accept: str | None, links: Links, by: str | None, **where) -> Reply:
    """POST of a staged run's Promote form: 303 back to its template's page telling what was done (200
    with JSON), or that page telling why not. `where`: origin and hosts, as for `build`."""
    from aibtrigger.service_layer.promotions import promote as command

    return _promotion(
        deps,
        _template_of(deps, run_id),
        lambda who, why: command(run_id, deps, by=who, why=why or "promoted on the status page"),
        form=form,
        accept=accept,
        links=links,
        by=by,
        **where,
    )


def reject(deps, run_id: str, *, form: bytes, accept: str | None, links: Links, by: str | None, **where) -> Reply:
    """POST of a staged run's Reject form (a reason required): as `promote`."""
    from aibtrigger.service_layer.promotions import reject as command

    return _promotion(
        deps,
        _template_of(deps, run_id),
        lambda who, why: command(run_id, deps, by=who, why=why),
        form=form,
        accept=accept,
        links=links,
        by=by,
        reason_required=True,
        **where,
    )


def rollback(deps, name: str, *, form: bytes, accept: str | None, links: Links, by: str | None, **where) -> Reply:
    """POST of the template's Rollback form (a reason required): as `promote`."""
    from aibtrigger.service_layer.promotions import rollback as command

    return _promotion(
        deps,
        name,
        lambda who, why: command(name, deps, by=who, why=why),
        form=form,
        accept=accept,
        links=links,
        by=by,
        reason_required=True,
        **where,
    )


def _promotion(
    deps,
    name: str | None,
    act,
    *,
    form: bytes,
    accept: str | None,
    links: Links,
    by: str | None,
    reason_required: bool = False,
    origin: str | None = None,
    hosts: tuple[str | None, ...] = (),
) -> Reply:
    """The three commands alike: refused cross-site, the reason checked, the signed-in user recorded,
    the command's own refusal (PromotionError) shown with its reason. `name`: the template whose page
    tells the outcome (None: the run is unknown)."""
    from aibtrigger.service_layer.promotions import PromotionError

    if cross_site(origin, hosts):
        return _error(403, f"refused: a request from {origin} to this site", accept)
    why = (dict(parse_qsl(form.decode("utf-8", "replace"))).get("reason") or "").strip()[:1000]

    def refused(status: int, message: str) -> Reply:
        if name is None:
            return _error(status, message, accept)
        return template(deps, name, accept=accept, links=links, error=message, status=status)

    if reason_required and not why:
        return refused(400, "reason: required (recorded and published with the change)")
    try:
        done = act((by or "")[:200] or "status page", why)
    except UnknownTemplateError as exc:
        return _error(404, str(exc), accept)
    except PromotionError as exc:
        return refused(404 if name is None else 409, str(exc))
    if wants_json(accept):
        return Reply(200, JSON, json.dumps(to_jsonable(done)))
    told = {"done": done.state, "subject": done.subject, **({} if done.changed else {"repeat": "1"})}
    return Reply(303, HTML, "", {"Location": links.template(name or done.subject, **told)})


def _template_of(deps, run_id: str) -> str | None:
    run = deps.store.get_run(run_id)
    return run.template if run is not None else None


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
