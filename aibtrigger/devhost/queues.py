"""Queue trigger listener with the Functions host's polling, retry and poison semantics."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueMessage as StoredMessage

from .hostjson import QueueOptions
from .index import FunctionSpec
from .invoke import Invoker, Tasks
from .storage import QueueClients, decode

log = logging.getLogger("aibtrigger.devhost")
MIN_POLLING_INTERVAL = 0.1  # the host's back-off starts at 100 ms and doubles


@dataclass(eq=False)
class _InFlight:
    message: StoredMessage
    pop_receipt: str | None  # always one once received; the SDK's QueueMessage types it Optional
    renew_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    settled: bool = False  # deleted, released or poisoned: the renewer must leave it alone


class QueueListener:
    """Fetch up to batchSize, run them concurrently, fetch again when in-flight drops to
    newBatchThreshold; back off exponentially while the queue is empty."""

    def __init__(
        self,
        spec: FunctionSpec,
        clients: QueueClients,
        options: QueueOptions,
        invoke: Invoker,
        stopping: threading.Event,
        *,
        visibility: float = 60.0,
    ):
        self.spec, self.options, self._invoke, self._stopping = spec, options, invoke, stopping
        self.queue_name = spec.trigger["queueName"].lower()  # the host lower-cases queue names
        connection = spec.trigger.get("connection")
        self._queue = clients.get(self.queue_name, connection)
        self._poison = clients.get(f"{self.queue_name}-poison", connection)
        # Messages are received invisible for `visibility` s and renewed at half-time while
        # their invocation runs, so a long run is never handed to a second consumer.
        self._visibility = visibility
        self._in_flight: set[_InFlight] = set()
        self._changed = threading.Condition()
        self._closed = threading.Event()  # set after draining: ends the renewer
        self._tasks = Tasks()
        self._threads: list[threading.Thread] = []

    def start(self, tasks: Tasks) -> None:
        self._threads = [
            tasks.spawn(f"queue-{self.spec.name}", self._poll_loop),
            tasks.spawn(f"renew-{self.spec.name}", self._renew_loop),
        ]

    def _poll_loop(self) -> None:
        delay = MIN_POLLING_INTERVAL
        while not self._stopping.is_set():
            with self._changed:  # wait for room: in-flight at or below newBatchThreshold
                while len(self._in_flight) > self.options.new_batch_threshold:
                    if self._stopping.is_set():
                        return
                    self._changed.wait(0.5)
            try:
                # One GET of up to batchSize messages, as the host's fetch.
                pages = self._queue.receive_messages(
                    messages_per_page=self.options.batch_size, visibility_timeout=max(1, round(self._visibility))
                ).by_page()
                messages = list(next(pages, []))
            except Exception:  # noqa: BLE001 - a storage hiccup must not end the listener
                log.exception("Polling queue %s failed", self.queue_name)
                messages = []
            if messages:
                delay = MIN_POLLING_INTERVAL  # found work: poll again at once
                for message in messages:
                    self._dispatch(message)
                continue
            self._stopping.wait(delay)
            delay = min(delay * 2, max(self.options.max_polling_interval, MIN_POLLING_INTERVAL))

    def _dispatch(self, message: StoredMessage) -> None:
        record = _InFlight(message, message.pop_receipt, time.monotonic() + self._visibility / 2)
        with self._changed:
            self._in_flight.add(record)
        self._tasks.spawn(f"{self.spec.name}-{message.id[:8]}", lambda: self._process(record))

    def _process(self, record: _InFlight) -> None:
        message = record.message
        try:
            try:
                body = decode(message.content or "", self.options.message_encoding)
            except ValueError as exc:
                log.error(
                    "Message %s on %s: %s; moving it to %s-poison", message.id, self.queue_name, exc, self.queue_name
                )
                self._settle(record, poison=True)
                return
            trigger = QueueMessage(
                id=message.id,
                body=body,
                dequeue_count=message.dequeue_count,
                insertion_time=message.inserted_on,
                expiration_time=message.expires_on,
                pop_receipt=record.pop_receipt,
                time_next_visible=message.next_visible_on,
            )
            outcome = self._invoke(self.spec, trigger, reason=f"New queue message detected on '{self.queue_name}'.")
            poison = not outcome.ok and (message.dequeue_count or 0) >= self.options.max_dequeue_count
            self._settle(record, ok=outcome.ok, poison=poison)
        finally:
            with self._changed:
                self._in_flight.discard(record)
                self._changed.notify_all()

    def _settle(self, record: _InFlight, *, ok: bool = False, poison: bool = False) -> None:
        message = record.message
        with record.lock:
            if record.settled:  # abandoned on stop: the message is already visible again
                return
            record.settled = True
            try:
                if poison:
                    # The original text, as the host copies it, then the original goes.
                    self._poison.send_message(message.content or "")
                    log.warning(
                        "Message %s moved to %s-poison after %s dequeue(s)",
                        message.id,
                        self.queue_name,
                        message.dequeue_count,
                    )
                if ok or poison:
                    self._queue.delete_message(message.id, record.pop_receipt)
                else:  # retry after visibilityTimeout
                    self._queue.update_message(
                        message.id, record.pop_receipt, visibility_timeout=round(self.options.visibility_timeout)
                    )
            except Exception:  # noqa: BLE001 - e.g. the message's receipt went stale
                log.exception("Could not settle message %s on %s", message.id, self.queue_name)

    def _renew_loop(self) -> None:
        tick = min(1.0, self._visibility / 4)
        while not self._closed.wait(tick):
            now = time.monotonic()
            with self._changed:
                due = [r for r in self._in_flight if r.renew_at <= now]
            for record in due:
                with record.lock:
                    if record.settled:
                        continue
                    try:
                        receipt = self._queue.update_message(
                            record.message.id, record.pop_receipt, visibility_timeout=max(1, round(self._visibility))
                        )
                        record.pop_receipt = receipt.pop_receipt
                    except Exception:  # noqa: BLE001 - retried next tick
                        log.exception("Could not renew message %s", record.message.id)
                    record.renew_at = time.monotonic() + self._visibility / 2

    def stop(self, deadline: float) -> None:
        """After `stopping` is set: let in-flight invocations finish until `deadline`, then
        abandon the rest (made visible again, so a later run picks them up)."""
        for thread in self._threads[:1]:
            thread.join(max(0.0, deadline - time.monotonic()))
        stragglers = self._tasks.join(deadline)
        with self._changed:
            abandoned = list(self._in_flight)
        for record in abandoned:
            with record.lock:
                if not record.settled:
                    record.settled = True
                    try:
                        self._queue.update_message(record.message.id, record.pop_receipt, visibility_timeout=0)
                    except Exception:  # noqa: BLE001 - it becomes visible on its own anyway
                        pass
        if stragglers:
            log.warning("Abandoned %d running invocation(s) of %s", len(stragglers), self.spec.name)
        self._closed.set()
        for thread in self._threads[1:]:
            thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
