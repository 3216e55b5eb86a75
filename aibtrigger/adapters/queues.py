"""The message queue port: send JSON messages, optionally delayed; keep rejected ones in `<queue>-poison`.

Messages are base64-encoded, as the Functions host's queue trigger expects by default.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Protocol

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import BinaryBase64EncodePolicy, QueueServiceClient

from aibtrigger.names import POISON_SUFFIX
from aibtrigger.errors import StorageError


class MessageQueue(Protocol):
    def send(self, queue: str, payload: dict, *, delay_seconds: float = 0) -> None: ...
    def send_raw(self, queue: str, body: bytes | str) -> None:
        """Put a body as it is, byte for byte (used to keep a rejected message, verbatim, in a poison queue)."""


def poison_queue(queue: str) -> str:
    return queue + POISON_SUFFIX


@dataclass
class SentMessage:
    queue: str
    text: str
    delay_seconds: float


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
        self._send(queue, json.dumps(payload, separators=(",", ":")).encode("utf-8"), delay)

    def send_raw(self, queue: str, body: bytes | str) -> None:
        self._send(queue, body if isinstance(body, bytes) else body.encode("utf-8"), 0)

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
