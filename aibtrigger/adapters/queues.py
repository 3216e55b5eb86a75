"""The message queue port: send JSON messages, optionally delayed; keep rejected ones in `<queue>-poison`.

Messages are base64-encoded, as the Functions host's queue trigger expects by default.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Protocol, cast

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import BinaryBase64EncodePolicy, QueueMessage, QueueServiceClient

from aibtrigger.errors import StorageError
from aibtrigger.names import POISON_SUFFIX


class MessageQueue(Protocol):
    def send(self, queue: str, payload: dict, *, delay_seconds: float = 0) -> None: ...
    def send_raw(self, queue: str, body: bytes | str) -> None:
        """Put a body as it is, byte for byte (used to keep a rejected message, verbatim, in a poison queue)."""

    def receive_raw(self, queue: str, *, max_messages: int) -> list[RawMessage]:
        """Up to `max_messages` visible messages, hidden for a while, undecoded: any body at all can be read
        (the poison queues hold what the host could not decode). Empty when the queue does not exist."""

    def delete(self, queue: str, message: RawMessage) -> None: ...


def poison_queue(queue: str) -> str:
    return queue + POISON_SUFFIX


@dataclass(frozen=True)
class RawMessage:
    id: str
    body: bytes  # base64 decoded when it was valid base64, else the text as stored
    decodable: bool  # False: not base64, so the Functions host could never have handed it to a function
    dequeue_count: int
    receipt: object = None


def raw_message(message_id: str, content: str, dequeue_count: int, receipt: object = None) -> RawMessage:
    import base64
    import binascii

    try:
        return RawMessage(message_id, base64.b64decode(content, validate=True), True, dequeue_count, receipt)
    except (binascii.Error, ValueError):
        return RawMessage(message_id, content.encode("utf-8", "surrogateescape"), False, dequeue_count, receipt)


@dataclass
class SentMessage:
    queue: str
    text: str
    delay_seconds: float
    encoded: bool = True  # False: stored as is, as the host copies a message that was never base64


class InMemoryQueue:
    """Records what was sent; tests read `sent` (and `payloads(queue)`)."""

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []

    def send(self, queue: str, payload: dict, *, delay_seconds: float = 0) -> None:
        self.sent.append(SentMessage(queue, json.dumps(payload), delay_seconds))

    def send_raw(self, queue: str, body: bytes | str) -> None:
        # Bytes that are not UTF-8 stay recoverable: text.encode("utf-8", "surrogateescape") gives them back.
        text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else body
        self.sent.append(SentMessage(queue, text, 0))

    def receive_raw(self, queue: str, *, max_messages: int) -> list[RawMessage]:
        import base64

        found = [m for m in self.sent if m.queue == queue][:max_messages]
        return [
            raw_message(
                str(id(m)),
                base64.b64encode(m.text.encode("utf-8", "surrogateescape")).decode() if m.encoded else m.text,
                1,
                m,
            )
            for m in found
        ]

    def delete(self, queue: str, message: RawMessage) -> None:
        self.sent = [m for m in self.sent if m is not message.receipt]

    def payloads(self, queue: str) -> list[dict]:
        return [json.loads(m.text) for m in self.sent if m.queue == queue]


class StorageQueue:
    """Azure Storage queues (Azurite locally). Creates each queue on first use, once per process."""

    _MAX_DELAY = 7 * 24 * 3600  # the service's visibility limit

    def __init__(self, service: QueueServiceClient) -> None:
        self._service = service
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()

    def send(self, queue: str, payload: dict, *, delay_seconds: float = 0) -> None:
        delay = int(min(max(delay_seconds, 0), self._MAX_DELAY))
        self._send(queue, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), delay)

    def send_raw(self, queue: str, body: bytes | str) -> None:
        self._send(queue, body if isinstance(body, bytes) else body.encode("utf-8"), 0)

    def receive_raw(self, queue: str, *, max_messages: int) -> list[RawMessage]:
        from azure.core.exceptions import ResourceNotFoundError

        client = self._service.get_queue_client(queue)  # no decode policy: the text exactly as stored
        try:
            found = client.receive_messages(max_messages=max_messages, visibility_timeout=120)
            return [raw_message(m.id, m.content or "", m.dequeue_count or 0, m) for m in found]
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise StorageError(f"reading queue {queue!r} failed: {type(exc).__name__}") from exc

    def delete(self, queue: str, message: RawMessage) -> None:
        try:
            receipt = cast(QueueMessage, message.receipt)  # receive_raw's own: the message as received
            self._service.get_queue_client(queue).delete_message(receipt)
        except AzureError as exc:
            raise StorageError(f"deleting from queue {queue!r} failed: {type(exc).__name__}") from exc

    def _send(self, queue: str, body: bytes, delay: int) -> None:
        try:
            self._client(queue).send_message(body, visibility_timeout=delay or None)
        except AzureError as exc:
            raise StorageError(f"sending to queue {queue!r} failed: {type(exc).__name__}") from exc

    def _client(self, queue: str):
        with self._lock:
            client = self._clients.get(queue)
            if client is None:
                # Base64 of the bytes: what the host decodes, and any body (UTF-8 or not) survives it.
                client = self._service.get_queue_client(queue, message_encode_policy=BinaryBase64EncodePolicy())
                try:
                    client.create_queue()
                except ResourceExistsError:
                    pass
                self._clients[queue] = client
            return client
