"""Post-build checks against a staged version: a webhook anywhere, a command in the image locally.

Each returns (passed, detail); a check that cannot be carried out (unreachable, timed out, not
supported by this backend) fails with the reason, it never raises: the version then stays staged
and the reason is published, which is what a person needs to decide.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

from aibtrigger.domain.records import RunRecord


def run_check(check, run: RunRecord, deps) -> tuple[bool, str]:
    if check.kind == "webhook":
        return post_webhook(check.url, _payload(run), timeout=check.timeout_seconds)
    if deps.run_in_image is None:
        return False, "command checks run in the captured image, which only the local backend can do"
    versions = [a for a in run.artifact_ids if "/versions/" in a.lower()]
    if not versions:
        return False, "the run distributed no gallery version to run the command in"
    return deps.run_in_image(versions[0], check.run, check.timeout_seconds)


def post_webhook(url: str, payload: dict, *, timeout: float) -> tuple[bool, str]:
    """POST the payload as JSON; a 2xx answer within `timeout` seconds, in all, passes. urllib's own
    timeout bounds each socket read, not the whole answer: a server trickling bytes would hold the
    reconciler's pass for ever, so the call runs in a thread given the whole budget."""
    answer: list[tuple[bool, str]] = []
    worker = threading.Thread(target=lambda: answer.append(_post(url, payload, timeout)), daemon=True)
    worker.start()
    worker.join(timeout)
    if not answer:
        return False, f"no answer from {url} within {timeout:g} s (not all of it came in time)"
    return answer[0]


def _post(url: str, payload: dict, timeout: float) -> tuple[bool, str]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "aibtrigger-check"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the catalog's own URL
            return True, f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode("utf-8", "replace").strip()
        return False, f"HTTP {exc.code}" + (f": {body}" if body else "")
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", None) or exc
        return False, f"no answer from {url} within {timeout:g} s ({why})"


def _payload(run: RunRecord) -> dict:
    return {
        "template": run.template,
        "run_id": run.run_id,
        "versions": [a for a in run.artifact_ids if "/versions/" in a.lower()],
        "provenance": run.provenance(),
        "inputs": run.inputs,
    }
