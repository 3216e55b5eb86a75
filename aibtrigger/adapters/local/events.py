"""The Event Grid event Azure sends when a gallery image version is written, posted to a webhook.

Same shape as a subscription system topic delivers (Event Grid schema, a JSON array, header
`aeg-event-type: Notification`), so the service's Event Grid entry point cannot tell it from Azure's.
"""

from __future__ import annotations

import json
import logging
import urllib.request
import uuid

from aibtrigger.adapters.local.layout import split_gallery_id, utc_now

log = logging.getLogger(__name__)
WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
VERSION_WRITE = "Microsoft.Compute/galleries/images/versions/write"


def gallery_version_written(version_id: str) -> dict:
    subscription = split_gallery_id(version_id)["s"]
    correlation = str(uuid.uuid4())
    return {
        "id": str(uuid.uuid4()),
        "topic": f"/subscriptions/{subscription}",
        "subject": version_id,
        "eventType": WRITE_SUCCESS,
        "eventTime": utc_now(),
        "data": {
            "resourceProvider": "Microsoft.Compute",
            "resourceUri": version_id,
            "operationName": VERSION_WRITE,
            "status": "Succeeded",
            "subscriptionId": subscription,
            "tenantId": "00000000-0000-0000-0000-000000000000",
            "correlationId": correlation,
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def post_events(url: str, events: list[dict], *, timeout: float = 10.0) -> bool:
    """Deliver once; a failure is logged and reported as False, never raised: a build must not
    fail because nobody listens. (Azure retries for 24 h; the local sender does not.)"""
    request = urllib.request.Request(
        url,
        data=json.dumps(events).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= response.status < 300
    except Exception as exc:  # noqa: BLE001 - any delivery problem is only worth a log line
        log.warning("event delivery to the local webhook failed: %s", type(exc).__name__)
        return False
