"""Queue clients for the dev host, and the host's message encoding (base64 or none)."""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

DEFAULT_CONNECTION = "AzureWebJobsStorage"
# The SDK logs every request at INFO: polling would drown the invocation log, so the dev host's
# clients log to their own logger, at WARNING unless someone configured it.
SDK_LOG = logging.getLogger("aibtrigger.devhost.storage")


def encode(body: bytes, encoding: str) -> str:
    """The text stored in the queue for a message body."""
    return base64.b64encode(body).decode("ascii") if encoding == "base64" else body.decode("utf-8")


def decode(text: str, encoding: str) -> bytes:
    """A message body from its stored text; ValueError when base64 is expected and absent."""
    if encoding != "base64":
        return text.encode("utf-8")
    try:
        # .NET's Convert.FromBase64String skips whitespace; anything else outside the alphabet fails.
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"message is not valid base64: {exc}") from None


def output_bodies(value: Any) -> Iterable[bytes]:
    """Bodies to send for a queue output value (str, bytes, QueueMessage, or a list of them)."""
    if value is None:
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from output_bodies(item)
    elif isinstance(value, str):
        yield value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        yield bytes(value)
    elif hasattr(value, "get_body"):
        yield value.get_body()
    else:
        raise TypeError(f"cannot send {type(value).__name__} to a queue (use str, bytes or a list)")


class QueueClients:
    """One client per queue, created on first use; queues are created if missing.

    Every `connection` setting maps to the dev host's connection string (Azurite) unless
    `connections` names another one: locally nothing should reach a real account by accident.
    """

    def __init__(self, connection_string: str, connections: Mapping[str, str] | None = None):
        self._default = connection_string
        self._connections = dict(connections or {})
        self._clients: dict[tuple[str, str], QueueClient] = {}
        self._lock = threading.Lock()
        if SDK_LOG.level == logging.NOTSET:
            SDK_LOG.setLevel(logging.WARNING)

    def get(self, queue_name: str, connection: str | None = None) -> QueueClient:
        key = (connection or DEFAULT_CONNECTION, queue_name)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                conn = self._connections.get(key[0], self._default)
                # No encode/decode policy: the dev host handles the text itself, as the host does.
                client = QueueClient.from_connection_string(conn, queue_name, logger=SDK_LOG)
                try:
                    client.create_queue()
                except ResourceExistsError:
                    pass
                self._clients[key] = client
            return client

    def send_output(self, binding: dict, value: Any, encoding: str) -> None:
        """Send what a function set on a `queue` output binding."""
        client = self.get(binding["queueName"].lower(), binding.get("connection"))
        for body in output_bodies(value):
            client.send_message(encode(body, encoding))

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
