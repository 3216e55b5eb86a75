"""Event Grid: gallery image version writes (Event Grid or CloudEvents schema)."""

import azure.functions as func

bp = func.Blueprint()


@bp.event_grid_trigger(arg_name="event")
def on_gallery_event(event: func.EventGridEvent) -> None:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.events import handle_gallery_event

    # The worker hands a CloudEvents-schema delivery over as func.CloudEvent (type, source), an
    # Event Grid-schema one as func.EventGridEvent (event_type, topic): read either.
    handle_gallery_event(
        event_id=event.id,
        event_type=getattr(event, "event_type", None) or getattr(event, "type", ""),
        subject=event.subject or "",
        data=event.get_json(),
        deps=get_deps(),
    )
