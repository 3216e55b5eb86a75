"""The publisher port: results go out as CloudEvents 1.0, to a queue (local default) or Event Grid."""

from __future__ import annotations

from typing import Protocol

from aibtrigger.errors import StorageError
from aibtrigger.names import RESULTS_QUEUE


class Publisher(Protocol):
    def publish(self, event: dict) -> None:
        """Publish one CloudEvent (a dict with specversion, id, source, type, ...). At least once."""


class InMemoryPublisher:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def publish(self, event: dict) -> None:
        self.events.append(event)


class QueuePublisher:
    """Each event as a JSON message on `aib-results`: what `aibtrigger dev` and tests read."""

    def __init__(self, queue, *, queue_name: str = RESULTS_QUEUE) -> None:
        self._queue = queue
        self._queue_name = queue_name

    def publish(self, event: dict) -> None:
        self._queue.send(self._queue_name, event)


class EventGridPublisher:
    """An Event Grid topic in the CloudEvents schema, through azure-eventgrid."""

    def __init__(self, client) -> None:
        self._client = client  # azure.eventgrid.EventGridPublisherClient

    def publish(self, event: dict) -> None:
        from azure.core.exceptions import AzureError
        from azure.core.messaging import CloudEvent

        from aibtrigger.errors import first_line

        extra = {k: v for k, v in event.items() if k not in _CLOUDEVENT_FIELDS}
        cloud_event = CloudEvent(
            source=event["source"],
            type=event["type"],
            data=event.get("data"),
            subject=event.get("subject"),
            id=event["id"],
            time=_parse_time(event.get("time")),
            datacontenttype=event.get("datacontenttype"),
            extensions=extra or None,
        )
        try:
            self._client.send([cloud_event])
        except AzureError as exc:
            raise StorageError(f"publishing to Event Grid failed: {type(exc).__name__}: {first_line(exc)}") from exc


_CLOUDEVENT_FIELDS = {"specversion", "id", "source", "type", "subject", "time", "data", "datacontenttype"}


def _parse_time(value):
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value
