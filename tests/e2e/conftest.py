"""End to end: `aibtrigger dev` in its own process on its own Azurite, full local builds.

The catalog is the shipped examples/catalog.yaml plus a few templates that let tests cancel, time
out and coalesce. `AIBTRIGGER_LOCAL_SECONDS_PER_MINUTE=1` makes buildTimeoutInMinutes read as seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
# The extra templates use skus of their own, so sweeps of the examples' source leave them alone.
PRIVATE_SKU, NIGHTLY_SKU, DIAMOND_SKU, PROMOTION_SKU = "e2e-private", "e2e-nightly", "e2e-diamond", "e2e-promotion"


def _source(sku: str) -> dict:
    return {
        "type": "PlatformImage",
        "publisher": "Canonical",
        "offer": "0001-com-ubuntu-server-jammy",
        "sku": sku,
        "version": "latest",
    }


GALLERY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images"
    "/providers/Microsoft.Compute/galleries/golden/images/"
)


def _template(name: str, script: list[str], timeout_minutes: int, sku: str = PRIVATE_SKU, **policy) -> dict:
    return {
        "name": name,
        "location": "westeurope",
        "policy": policy,
        "definition": {
            "source": _source(sku),
            "customize": [{"type": "Shell", "name": "work", "inline": script}],
            "distribute": [{"type": "SharedImage", "galleryImageId": GALLERY + name, "runOutputName": name}],
            "buildTimeoutInMinutes": timeout_minutes,
        },
    }


def _staged(entry: dict, **promotion) -> dict:
    """The entry with a gated promotion: its distributor keeps new versions out of `latest`."""
    entry["policy"]["promotion"] = promotion
    for target in entry["definition"]["distribute"]:
        target["excludeFromLatest"] = True
    return entry


def _child(name: str, parent_image: str, output: str) -> dict:
    return {
        "name": name,
        "location": "westeurope",
        "definition": {
            "source": {"type": "SharedImageVersion", "imageVersionId": GALLERY + parent_image + "/versions/latest"},
            "customize": [{"type": "Shell", "name": "work", "inline": [f"echo {name} > /etc/{name}"]}],
            "distribute": [{"type": "SharedImage", "galleryImageId": GALLERY + output, "runOutputName": name}],
            "buildTimeoutInMinutes": 600,
        },
    }


EXTRA_TEMPLATES = [
    _template("slow-example", ["echo working", "sleep 60"], 600),  # long enough to cancel
    _template("stuck-example", ["echo starting", "sleep 60"], 2),  # 2 "minutes" = 2 s here: times out
    _template("steady-example", ["echo building", "sleep 4"], 600),  # a few seconds: requests pile up
    # Its schedule fires every 2 s (the dev host's tick too, below); builds only when its source changed.
    _template(
        "nightly-example", ["echo refreshed"], 600, sku=NIGHTLY_SKU, schedule="*/2 * * * * *", only_if_changed=True
    ),
    # A diamond (issue 11): d-app is built from the image both d-web and d-api distribute to.
    _template("d-base", ["echo base"], 600, sku=DIAMOND_SKU),
    _child("d-web", "d-base", "d-apps"),
    _child("d-api", "d-base", "d-apps"),
    _child("d-app", "d-apps", "d-app"),
    # Promotion (issue 14): p-base waits for a person, p-child follows what is `latest`; p-checked's
    # check fails in its own image, so its version stays staged.
    _staged(
        _template("p-base", ["echo base > /etc/p-base"], 600, sku=PROMOTION_SKU, retention={"keep": 1}), mode="manual"
    ),
    _child("p-child", "p-base", "p-child"),
    _staged(
        _template("p-checked", ["echo checked"], 600, sku=PROMOTION_SKU),
        mode="after_checks",
        checks=[{"kind": "command", "name": "nginx-installed", "run": "test -f /etc/nginx/nginx.conf"}],
    ),
]


class Stack:
    def __init__(self, tmp: Path, azurite, url: str, process: subprocess.Popen, output: Path) -> None:
        self.tmp, self.azurite, self.url, self.process, self.output = tmp, azurite, url, process, output
        from aibtrigger import bootstrap
        from aibtrigger.config import load_settings

        self.deps = bootstrap.build_deps(load_settings())

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "aibtrigger.cli", *args],
            cwd=self.tmp,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"aibtrigger {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def wait(self, predicate, *, timeout: float = 90, what: str = "condition"):
        return wait_until(
            predicate, what, timeout=timeout, context=lambda: f"; dev host log:\n{self.output.read_text()[-4000:]}"
        )

    def settle(self, timeout: float = 120) -> None:
        """Wait until nothing is claimed or queued, twice in a row: every build and follow-up ended."""
        from azure.storage.queue import QueueClient

        from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE

        queues = [
            QueueClient.from_connection_string(self.azurite.connection_string, q) for q in (REQUESTS_QUEUE, POLLS_QUEUE)
        ]

        def quiet():
            return not self.deps.store.list_claims() and all(
                q.get_queue_properties().approximate_message_count == 0 for q in queues
            )

        self.wait(lambda: quiet() and (time.sleep(1.5) or quiet()), timeout=timeout, what="all builds to end")

    def run_for(self, template: str, request_id: str, *, finished: bool = True):
        def found():
            for run in self.deps.store.list_runs(template, limit=20):
                if request_id in run.request_ids and (not finished or (run.is_terminal and run.published)):
                    return run
            return None

        return self.wait(found, what=f"run of {template} for {request_id}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from aibtrigger.devhost.azurite import start_azurite
    from aibtrigger.devhost.session import free_port

    tmp = tmp_path_factory.mktemp("e2e")
    shutil.copytree(ROOT / "examples", tmp / "catalog")
    catalog_path = tmp / "catalog" / "catalog.yaml"
    catalog = yaml.safe_load(catalog_path.read_text())
    for entry in catalog["templates"]:  # the examples pause their failing template; the tests need it to fail
        if entry["name"] == "broken-example":
            entry["policy"]["paused"] = False
    catalog["templates"] += EXTRA_TEMPLATES
    catalog_path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    azurite = start_azurite()
    port = free_port()
    saved = dict(os.environ)
    os.environ.update(
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "AIBTRIGGER_CATALOG_PATH": str(catalog_path),
            "AIBTRIGGER_BACKEND": "local",
            "AIBTRIGGER_LOCAL_WORKDIR": str(tmp / "work"),
            "AIBTRIGGER_LOCAL_SECONDS_PER_MINUTE": "1",
            "AIBTRIGGER_POLL_MIN_SECONDS": "0.5",
            "AIBTRIGGER_POLL_MAX_SECONDS": "1",
            "AIBTRIGGER_TICK_SCHEDULE": "*/2 * * * * *",
            "AIBTRIGGER_LOCAL_EVENT_WEBHOOK": f"http://127.0.0.1:{port}/runtime/webhooks/EventGrid?functionName=on_gallery_event",
        }
    )
    output = tmp / "dev.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aibtrigger.cli",
                "dev",
                "--storage",
                azurite.connection_string,
                "--port",
                str(port),
            ],
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        stack = Stack(tmp, azurite, url, process, output)
        stack.wait(lambda: _responds(url) or process.poll() is not None, timeout=60, what="the dev host")
        assert process.poll() is None, output.read_text()
        for sku in ("22_04-lts-gen2", PRIVATE_SKU, NIGHTLY_SKU, DIAMOND_SKU, PROMOTION_SKU):
            stack.cli("marketplace", "publish", "--sku", sku)
        yield stack
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        azurite.stop()
        os.environ.clear()
        os.environ.update(saved)
        from aibtrigger import bootstrap

        bootstrap.reset()


def _responds(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/api/nothing-here", timeout=1)
    except urllib.error.HTTPError:
        return True  # the dev host answered (404)
    except OSError:
        return False
    return True
