"""HTTP functions of the status page: `GET /api/status` (overview), `/api/status/lineage`,
`/api/status/templates/{name}`, and the one action, `POST /api/status/templates/{name}/build`.

Function key, as POST /api/requests. Behind App Service authentication the signed-in user's name
(`X-MS-CLIENT-PRINCIPAL-NAME`) is recorded as who requested a build.
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
        )
    )


@bp.route(route="status/templates/{name}/build", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def status_request_build(req: func.HttpRequest) -> func.HttpResponse:
    from urllib.parse import urlsplit

    from aibtrigger.status import web

    hosts = (urlsplit(req.url).netloc, req.headers.get("host"), req.headers.get("x-forwarded-host"))
    return _send(
        web.build(
            _deps(),
            req.route_params["name"],
            form=req.get_body(),
            accept=req.headers.get("accept"),
            links=_links(req),
            requested_by=req.headers.get("x-ms-client-principal-name"),
            origin=req.headers.get("origin"),
            hosts=hosts,
        )
    )


def _deps():
    from aibtrigger.bootstrap import get_deps

    return get_deps()


def _links(req: func.HttpRequest):
    from urllib.parse import urlsplit

    from aibtrigger.status.web import links_for

    return links_for(urlsplit(req.url).path, req.params.get("code"))


def _send(reply) -> func.HttpResponse:
    return func.HttpResponse(
        reply.body, status_code=reply.status, mimetype=reply.mimetype, headers=reply.headers, charset="utf-8"
    )
