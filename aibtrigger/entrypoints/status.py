"""HTTP functions of the status page: `GET /api/status` (overview), `/api/status/lineage`,
`/api/status/templates/{name}`, and its forms' actions, each behind the same authorization as its
HTTP endpoint:

    POST /api/status/templates/{name}/build       function key, as POST /api/requests
    POST /api/status/runs/{run_id}/promote        master key (admin), as POST /api/runs/{run_id}/promote
    POST /api/status/runs/{run_id}/reject         master key, as POST /api/runs/{run_id}/reject
    POST /api/status/templates/{name}/rollback    master key, as POST /api/templates/{name}/rollback

A page opened with a function key shows every form; the host refuses the admin ones without the
master key. Behind App Service authentication the signed-in user's name (`X-MS-CLIENT-PRINCIPAL-NAME`)
is recorded as who requested the build, or promoted, rejected or rolled back.
"""

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_overview(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.status import web

    return _send(web.overview(_deps(), accept=req.headers.get("accept"), links=_links(req)))


@bp.route(route="status/lineage", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_lineage(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.status import web

    return _send(web.lineage(_deps(), accept=req.headers.get("accept"), links=_links(req)))


@bp.route(route="status/templates/{name}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_template(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.status import web

    return _send(
        web.template(
            _deps(),
            req.route_params["name"],
            accept=req.headers.get("accept"),
            links=_links(req),
            queued=req.params.get("queued"),
            outcome=web.outcome_from(req.params),
        )
    )


@bp.route(route="status/templates/{name}/build", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def status_request_build(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.status import web

    return _send(
        web.build(
            _deps(),
            req.route_params["name"],
            requested_by=req.headers.get("x-ms-client-principal-name"),
            **_posted(req),
        )
    )


@bp.route(route="status/runs/{run_id}/promote", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def status_promote_run(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.status import web

    return _send(web.promote(_deps(), req.route_params["run_id"], by=_signed_in(req), **_posted(req)))


@bp.route(route="status/runs/{run_id}/reject", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def status_reject_run(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.status import web

    return _send(web.reject(_deps(), req.route_params["run_id"], by=_signed_in(req), **_posted(req)))


@bp.route(route="status/templates/{name}/rollback", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def status_rollback_template(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.status import web

    return _send(web.rollback(_deps(), req.route_params["name"], by=_signed_in(req), **_posted(req)))


def _deps():
    from aibtrigger.bootstrap import get_deps

    return get_deps()


def _links(req: func.HttpRequest):
    from urllib.parse import urlsplit

    from aibtrigger.status.web import links_for

    return links_for(urlsplit(req.url).path, req.params.get("code"))


def _posted(req: func.HttpRequest) -> dict:
    """What every form's POST passes on: the form, Accept, the links back, and where it came from
    (Origin, and the names this site answers to, for the cross-site check)."""
    from urllib.parse import urlsplit

    hosts = (urlsplit(req.url).netloc, req.headers.get("host"), req.headers.get("x-forwarded-host"))
    return {
        "form": req.get_body(),
        "accept": req.headers.get("accept"),
        "links": _links(req),
        "origin": req.headers.get("origin"),
        "hosts": hosts,
    }


def _signed_in(req: func.HttpRequest) -> str | None:
    return req.headers.get("x-ms-client-principal-name")


def _send(reply) -> func.HttpResponse:
    return func.HttpResponse(
        reply.body, status_code=reply.status, mimetype=reply.mimetype, headers=reply.headers, charset="utf-8"
    )
