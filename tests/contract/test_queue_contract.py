"""One contract for the MessageQueue port: memory and Azure Storage queues (Azurite)."""

import base64
import json

import pytest

from aibtrigger.adapters.queues import InMemoryQueue, StorageQueue, poison_queue


class StorageReader:
    def __init__(self, service):
        self.service = service

    def receive(self, queue):
        client = self.service.get_queue_client(queue)
        return [base64.b64decode(m.content).decode() for m in client.receive_messages(max_messages=32)]


@pytest.fixture(params=["memory", "storage"])
def queue_and_reader(request):
    if request.param == "memory":
        queue = InMemoryQueue()

        class MemoryReader:
            def receive(self, name):
                return [m.text for m in queue.sent if m.queue == name and m.delay_seconds <= 0]

        return queue, MemoryReader()
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(request.getfixturevalue("azurite").connection_string)
    return StorageQueue(service), StorageReader(service)


def test_messages_arrive_as_json(queue_and_reader, unique):
    queue, reader = queue_and_reader
    name = f"q{unique}"
    queue.send(name, {"template": "base", "reason": "ünïcode"})
    assert [json.loads(t) for t in reader.receive(name)] == [{"template": "base", "reason": "ünïcode"}]


def test_delayed_messages_are_invisible_until_due(queue_and_reader, unique):
    queue, reader = queue_and_reader
    name = f"d{unique}"
    queue.send(name, {"n": 1}, delay_seconds=60)
    assert reader.receive(name) == []


def test_raw_text_is_kept_verbatim_in_poison(queue_and_reader, unique):
    queue, reader = queue_and_reader
    name = poison_queue(f"p{unique}")
    queue.send_raw(name, "{not json at all")
    assert reader.receive(name) == ["{not json at all"]
