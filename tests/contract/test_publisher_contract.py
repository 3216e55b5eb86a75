"""One contract for the Publisher port: memory, a storage queue, and Event Grid (a local endpoint
answering as Event Grid does: 200 to a CloudEvents batch carrying the topic key)."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aibtrigger.adapters.publisher import EventGridPublisher, InMemoryPublisher, QueuePublisher

EVENT = {
    "specversion": "1.0",
    "id": "base.1/finished",
    "source": "/aibtrigger/templates/base",
    "type": "aibtrigger.build.succeeded",
    "subject": "base",
    "time": "2026-11-22T08:00:00+00:00",
    "datacontenttype": "application/json",
    "data": {"run_id": "base.1", "state": "Succeeded"},
}


class FakeEventGridTopic(BaseHTTPRequestHandler):
    """Accepts `POST /api/events` with `aeg-sas-key`, as a topic does; keeps what it received."""

    received: list = []
    key = "topic-key"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("aeg-sas-key") != self.key:
            self.send_response(401)
        elif not self.headers.get("Content-Type", "").startswith("application/cloudevents-batch+json"):
            self.send_response(400)
        else:
            type(self).received.extend(json.loads(body))
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(params=["memory", "queue", "eventgrid"])
def publisher_and_received(request):
    if request.param == "memory":
        publisher = InMemoryPublisher()
        yield publisher, lambda: publisher.events
    elif request.param == "queue":
        from azure.storage.queue import QueueServiceClient

        from aibtrigger.adapters.queues import StorageQueue

        service = QueueServiceClient.from_connection_string(request.getfixturevalue("azurite").connection_string)
        name = f"results{request.getfixturevalue('unique')}"
        client = service.get_queue_client(name)
        yield (
            QueuePublisher(StorageQueue(service), queue_name=name),
            lambda: [json.loads(base64.b64decode(m.content)) for m in client.receive_messages()],
        )
    else:
        from azure.core.credentials import AzureKeyCredential
        from azure.eventgrid import EventGridPublisherClient

        FakeEventGridTopic.received = []
        server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEventGridTopic)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client = EventGridPublisherClient(
            f"http://127.0.0.1:{server.server_port}/api/events", AzureKeyCredential(FakeEventGridTopic.key)
        )
        yield EventGridPublisher(client), lambda: FakeEventGridTopic.received
        server.shutdown()


def test_a_cloudevent_arrives_with_its_identity_and_data(publisher_and_received):
    publisher, received = publisher_and_received
    publisher.publish(EVENT)
    [event] = received()
    for field in ("specversion", "id", "source", "type", "subject", "data"):
        assert event[field] == EVENT[field]
