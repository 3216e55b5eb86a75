"""Queue-triggered functions: build requests and run polls."""

import azure.functions as func

from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name=REQUESTS_QUEUE, connection="AzureWebJobsStorage")
def handle_request(msg: func.QueueMessage) -> None:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.intake import handle_request_message

    handle_request_message(
        msg.get_body(),
        message_id=msg.id,  # type: ignore[arg-type]  # why: the host sets every id; Optional is for hand-made ones
        dequeue_count=msg.dequeue_count or 1,
        deps=get_deps(),
    )


@bp.queue_trigger(arg_name="msg", queue_name=POLLS_QUEUE, connection="AzureWebJobsStorage")
def poll_run(msg: func.QueueMessage) -> None:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.intake import handle_poll_message

    handle_poll_message(
        msg.get_body(),
        message_id=msg.id,  # type: ignore[arg-type]  # why: the host sets every id; Optional is for hand-made ones
        dequeue_count=msg.dequeue_count or 1,
        deps=get_deps(),
    )
