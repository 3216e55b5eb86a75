"""HTTP functions: `POST /api/requests` queues a build request (the same schema as the queue message)."""

import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="requests", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def enqueue_request(req: func.HttpRequest) -> func.HttpResponse:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.errors import RejectedMessageError
    from aibtrigger.names import REQUESTS_QUEUE
    from aibtrigger.service_layer.messages import BuildRequestMessage, parse_message

    deps = get_deps()
    try:
        msg = parse_message(BuildRequestMessage, req.get_body())
        internal = sorted(msg.model_fields_set & {"upstream", "signal"})
        if internal:
            raise RejectedMessageError(f"{', '.join(internal)}: internal, cannot be set in a request")
        deps.catalog.get(msg.template)
    except RejectedMessageError as exc:  # UnknownTemplateError included
        return _json({"error": str(exc)}, 400)
    payload = msg.model_dump(exclude_none=True)
    deps.queue.send(REQUESTS_QUEUE, payload)
    return _json({"queued": payload}, 202)


@bp.route(route="plan", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def plan_builds(req: func.HttpRequest) -> func.HttpResponse:
    """The dry run: for every template, would it build now, why, and in which wave."""
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.planning import dry_run

    return _json({"decisions": [d.to_dict() for d in dry_run(get_deps())]}, 200)


@bp.route(route="sweep", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def sweep_now(req: func.HttpRequest) -> func.HttpResponse:
    """Run the marketplace sweep now instead of waiting for its timer."""
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.planning import sweep_sources

    return _json({"decisions": [d.to_dict() for d in sweep_sources(get_deps())]}, 200)


def _json(body: dict, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")
