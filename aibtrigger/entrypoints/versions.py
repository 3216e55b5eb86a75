"""HTTP functions that change which image version is `latest`:

    POST /api/runs/{run_id}/promote          {"reason": "...", "by": "..."}
    POST /api/runs/{run_id}/reject           {"reason": "..."}   (reason required)
    POST /api/templates/{name}/rollback      {"reason": "...", "version": "1.0.3"}   (reason required;
        version optional: naming it makes a retry safe, without it the current latest is rolled back)

Admin level (the host's master key), stricter than reads and build requests (function key): these
change what every scale set and child template picks up. Behind App Service authentication the
signed-in user (`X-MS-CLIENT-PRINCIPAL-NAME`) is recorded as who did it, whatever the body says.
Answers: 200 with what was done ("changed": false for a repeat), 400/404/409 with the reason.
"""

import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="runs/{run_id}/promote", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def promote_run(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.service_layer.promotions import promote

    return _command(req, lambda deps, by, why, body: promote(req.route_params["run_id"], deps, by=by, why=why))


@bp.route(route="runs/{run_id}/reject", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def reject_run(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.service_layer.promotions import reject

    return _command(
        req, lambda deps, by, why, body: reject(req.route_params["run_id"], deps, by=by, why=why), reason_required=True
    )


@bp.route(route="templates/{name}/rollback", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def rollback_template(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.service_layer.promotions import rollback

    return _command(
        req,
        lambda deps, by, why, body: rollback(
            req.route_params["name"],
            deps,
            by=by,
            why=why,
            version=str(body["version"]) if body.get("version") else None,
        ),
        reason_required=True,
    )


def _command(req: func.HttpRequest, act, *, reason_required: bool = False) -> func.HttpResponse:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.errors import BackendError, ConcurrencyError, UnknownTemplateError
    from aibtrigger.service_layer.promotions import PromotionError

    try:
        body = json.loads(req.get_body() or b"{}")
    except ValueError as exc:
        return _json({"error": f"the body is not JSON: {exc}"}, 400)
    if not isinstance(body, dict):
        return _json({"error": "the body must be a JSON object"}, 400)
    why = str(body.get("reason") or "").strip()[:1000]
    if reason_required and not why:
        return _json({"error": "reason: required (recorded and published with the change)"}, 400)
    by = req.headers.get("x-ms-client-principal-name") or str(body.get("by") or "http")[:200]
    try:
        done = act(get_deps(), by, why or "promoted over HTTP", body)
    except UnknownTemplateError as exc:
        return _json({"error": str(exc)}, 404)
    except PromotionError as exc:
        return _json({"error": str(exc)}, 404 if str(exc).startswith("no run") else 409)
    except ConcurrencyError:
        return _json({"error": "changed by someone else at the same moment: look, then send it again"}, 409)
    except BackendError as exc:  # the gallery refused (a 403, a 409 while it changes): Azure's reason
        return _json({"error": str(exc)}, 502)
    return _json({"subject": done.subject, "state": done.state, "changed": done.changed, "detail": done.detail}, 200)


def _json(body: dict, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")
