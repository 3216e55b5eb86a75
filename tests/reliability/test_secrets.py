"""No secret in logs or events (DESIGN.md, Invariants): account keys (Azurite's well-known one too, in an
`AccountKey=` context), SAS signatures, connection strings, bearer tokens, Authorization headers.

Secrets are planted where they turn up in real life: a customizer that prints a SAS URL or a
connection string, an AIB failure message naming a log URL with a SAS, an Authorization header echoed
by `curl -v`, a storage error whose text carries the connection string. Then every log record (root
logger, DEBUG, Azure SDK loggers included), every published event, every record in the state store,
every copied build log and every queued message is scanned; and the output of a real `aibtrigger dev`
(and its builders) running a succeeding and a failing local build that print secrets.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from aibtrigger.adapters.logstore import InMemoryLogStore
from aibtrigger.adapters.publisher import InMemoryPublisher
from aibtrigger.adapters.queues import InMemoryQueue
from aibtrigger.adapters.state_store import InMemoryStateStore
from aibtrigger.catalog import parse_catalog
from aibtrigger.devhost.azurite import DEV_KEY
from aibtrigger.domain.model import RunOutput, RunState
from aibtrigger.errors import StorageError
from aibtrigger.names import POLLS_QUEUE
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.intake import handle_poll_message, handle_request_message
from tests.fakearm import Timeline
from tests.fakearm.fixtures import (  # noqa: F401 - fixtures
    arm_clock,
    arm_credential,
    arm_tls,
    catalog_of,
    fake_arm,
    make_backend,
    make_sources,
    staging_storage,
)
from tests.fakearm.logs import FAILED_APT_LOG, SUCCESS_LOG
from tests.fakes import Clock, FakeSources, ScriptedBackend

# --- what is planted, and what must never come out -----------------------------------------------------
SIG = "PLANTEDsig0c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
ACCOUNT_KEY = "cGxhbnRlZC1hY2NvdW50LWtleS1ub3QtYS1yZWFsLW9uZQ+/=="
TOKEN = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwbGFudGVkLXRva2VuIn0.cGxhbnRlZC1zaWduYXR1cmU"
BASIC = "cGxhbnRlZC11c2VyOnBsYW50ZWQtcGFzc3dvcmQ="
SHARED_ACCESS_KEY = "cGxhbnRlZC1zZXJ2aWNlLWJ1cy1rZXk="
SAS_URL = f"https://stgplanted.blob.core.windows.net/scripts/setup.sh?sv=2024-08-04&sp=r&se=2030-01-01&sig={SIG}"
CONNECTION = (
    f"DefaultEndpointsProtocol=https;AccountName=stgplanted;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net"
)
AZURITE_CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    f"AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)
SAS_CONNECTION = f"BlobEndpoint=https://stgplanted.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sig={SIG}"
BUS_CONNECTION = (
    "Endpoint=sb://planted.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
    f"SharedAccessKey={SHARED_ACCESS_KEY}"
)
PLANTED_LINES = (
    f"fetching {SAS_URL}",
    f"export STORAGE={CONNECTION}",
    f"AZURE_STORAGE_CONNECTION_STRING={AZURITE_CONNECTION}",
    f"> Authorization: Bearer {TOKEN}",
    f"> Authorization: Basic {BASIC}",
    f"using {SAS_CONNECTION}",
    f"bus: {BUS_CONNECTION}",
    f"header: {{'Authorization': 'Bearer {TOKEN}'}}",
)
SECRET_VALUES = {
    "SAS signature": SIG,
    "account key": ACCOUNT_KEY,
    "bearer token": TOKEN,
    "basic credentials": BASIC,
    "shared access key": SHARED_ACCESS_KEY,
    "Azurite's account key": DEV_KEY,
}
# Shapes of secrets, whatever their value (`***` and azure-core's `REDACTED` are what masking leaves).
SECRET_SHAPES = re.compile(
    "|".join(
        [
            r"\bAccountKey=(?!\*\*\*)[^;\s\"'&,]+",
            r"\bsig=(?!\*\*\*)[^&\s\"';,]+",
            r"\bSharedAccessKey=(?!\*\*\*)[^;\s\"']+",
            r"\bBearer\s+(?!\*\*\*)ey[A-Za-z0-9_-]{6,}",
            r"\bey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.",  # a JWT, wherever it is
            r"\bAuthorization['\"]?\s*[:=]\s*['\"]?(?!REDACTED)(?:(?:Bearer|Basic|SharedKey\w*)\s+(?!\*\*\*)[^\s'\"]{6,}|"
            r"(?!Bearer|Basic|SharedKey|\*\*\*)[^\s'\"]{6,})",
        ]
    ),
    re.IGNORECASE,
)


def leaks(text: str) -> list[str]:
    """Every secret in `text`: planted values (and Azurite's key) anywhere, secret shapes unmasked."""
    found = [
        f"{name}: ...{text[max(0, i - 60) : i + 20]!r}"
        for name, value in SECRET_VALUES.items()
        if (i := text.find(value)) >= 0
    ]
    return found + [match.group(0)[:120] for match in SECRET_SHAPES.finditer(text)]


def test_the_scanner_finds_what_it_must_and_passes_what_is_masked():
    """The scan is only as good as its patterns: each planted line is found raw, and not once masked."""
    from aibtrigger.domain.logexcerpt import redact

    for line in PLANTED_LINES:
        assert leaks(line), line
        assert leaks(redact(line)) == [], redact(line)
    assert leaks("'Authorization': 'REDACTED'") == leaks("sig=***&se=1") == leaks("AccountKey=***;") == []
    assert leaks(f"AccountKey={DEV_KEY}") and leaks(DEV_KEY)


# --- capture everything ------------------------------------------------------------------------------------
class Everything(logging.Handler):
    """Every record any logger emits, rendered as a handler would (message, exception, stack)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs():
    """Root logger at DEBUG for the test, every record kept (Azure SDK and urllib3 included)."""
    root, handler = logging.getLogger(), Everything()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def everything_recorded(deps: Deps) -> dict[str, str]:
    """Each published event, state record, copied log and queued message, as text."""

    def text(value) -> str:
        return json.dumps(
            dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value, default=str, ensure_ascii=False
        )

    store = deps.store
    found = {f"event {e.get('id')}": text(e) for e in deps.publisher.events}
    found.update({f"run {r.run_id}": text(r) for r in store.list_runs(limit=1000)})
    found.update({f"outcome {o.request_id}": text(o) for o in store.list_outcomes(limit=1000)})  # raw included
    found.update({f"claim {c.template}": text(c) for c in store.list_claims()})
    found.update({f"summary {s.template}": text(s) for s in store.list_summaries()})
    found.update({f"copied log of {run_id}": log for run_id, log in deps.logs.logs.items()})
    # Poison queues keep a rejected message byte for byte, as it was sent: the input, not our output.
    found.update(
        {f"message {i} on {m.queue}": m.text for i, m in enumerate(deps.queue.sent) if not m.queue.endswith("-poison")}
    )
    return found


def assert_no_secret(logs: Everything, recorded: dict[str, str]) -> None:
    problems = [f"log line {line[:200]!r}: {found}" for line in logs.lines if (found := leaks(line))]
    problems += [f"{where}: {found}" for where, value in recorded.items() if (found := leaks(value))]
    assert problems == [], "\n".join(problems[:20])


# --- the flows, on in-memory fakes ----------------------------------------------------------------------------
def _planted(log: str, after: str) -> str:
    """`log` with the planted lines printed by the customizer, as Packer shows a script's output."""
    prefix = "[7111a125-9cce-4cc6-80f1-70030c08e815] PACKER 2025/03/18 20:42:47 ui:     azure-arm: "
    lines = log.splitlines()
    at = next(i for i, line in enumerate(lines) if after in line) + 1
    return "\n".join(lines[:at] + [prefix + line for line in PLANTED_LINES] + lines[at:]) + "\n"


FAILED_LOG = _planted(FAILED_APT_LOG, "Reading package lists...")
SUCCEEDED_LOG = (
    "\n".join(
        [
            *SUCCESS_LOG.splitlines()[:5],
            *("    azure-arm: " + line for line in PLANTED_LINES),
            *SUCCESS_LOG.splitlines()[5:],
        ]
    )
    + "\n"
)
AIB_FAILURE = (
    "Failed while waiting for packerizer: Microservice has failed: Failed while processing request: "
    "Error when executing packerizer: Packer build command has failed: exit status 1. Image Build log "
    f"location: https://stgplanted.blob.core.windows.net/packerlogs/x/customization.log?sv=2024&{'sig=' + SIG}. "
    f"OperationId: 0000. Storage: {CONNECTION}"
)
GALLERY = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/"


class SpillingStore(InMemoryStateStore):
    """Storage that fails, for one template, with an error whose text carries the connection string."""

    def save_run(self, run):
        if run.template == "api":
            raise StorageError(f"table storage failed: could not reach the account with {CONNECTION}")
        return super().save_run(run)

    def create_claim(self, claim):
        if claim.template == "api":
            raise StorageError(f"table storage failed: could not reach the account with {CONNECTION}")
        return super().create_claim(claim)


def _memory_deps() -> Deps:
    definition = {
        "source": {
            "type": "PlatformImage",
            "publisher": "Canonical",
            "offer": "ubuntu",
            "sku": "22_04",
            "version": "latest",
        },
        "customize": [{"type": "Shell", "name": "s", "inline": ["true"]}],
        "distribute": [{"type": "SharedImage", "runOutputName": "out", "galleryImageId": GALLERY + "i"}],
    }
    names = ("base", "web", "api")
    clock, serial = Clock(), iter(range(10**6))
    return Deps(
        catalog=parse_catalog({"templates": [{"name": n, "definition": definition} for n in names]}),
        store=SpillingStore(),
        backend=ScriptedBackend(clock, set(names)),
        queue=InMemoryQueue(),
        publisher=InMemoryPublisher(),
        logs=InMemoryLogStore(),
        sources=FakeSources(),
        clock=clock,
        entropy=lambda: f"{next(serial):06x}{0:06x}",
        poll_min_seconds=10,
        poll_max_seconds=300,
    )


def _deliver_polls(deps: Deps) -> list[str]:
    results = []
    while polls := [m for m in deps.queue.sent if m.queue == POLLS_QUEUE]:
        for message in polls:
            deps.queue.sent.remove(message)
            results.append(
                handle_poll_message(
                    message.text.encode(), message_id=f"poll-{len(results)}", dequeue_count=1, deps=deps
                )
            )
    return results


def test_a_succeeded_a_failed_and_a_storage_failing_build_leave_no_secret_anywhere(all_logs):
    deps = _memory_deps()
    for template in ("base", "web"):
        body = json.dumps(
            {
                "template": template,
                "id": f"req-{template}",
                "reason": f"rotate {SAS_URL}",
                "requested_by": f"ci with {CONNECTION}",
            }
        ).encode()
        assert handle_request_message(body, message_id=f"m-{template}", dequeue_count=1, deps=deps) == "started"
    deps.clock.advance(minutes=40)
    deps.backend.finish(
        "base",
        RunState.SUCCEEDED,
        message=f"done: see {SAS_URL}",
        log=SUCCEEDED_LOG,
        outputs=[RunOutput("out", GALLERY + "i/versions/1.0.0")],
    )
    deps.backend.finish("web", RunState.FAILED, message=AIB_FAILURE, log=FAILED_LOG)
    assert _deliver_polls(deps) == ["finished", "finished"]
    failed = next(e for e in deps.publisher.events if e["type"].endswith("failed"))
    assert failed["data"]["failure"]["exit_status"] == 100  # the excerpt was built from the planted log
    # Storage fails for `api`, with the connection string in its message, on every attempt.
    body = json.dumps({"template": "api", "id": "req-api"}).encode()
    for attempt in range(1, 6):
        with pytest.raises(StorageError):
            handle_request_message(body, message_id="m-api", dequeue_count=attempt, deps=deps)
    assert deps.store.get_outcome("api", "req-api").detail.startswith("gave up after 5 attempts")
    # A message carrying secrets, rejected: its reason and its raw copy are recorded.
    hostile = json.dumps(
        {
            "template": "base",
            "AccountKey": ACCOUNT_KEY,
            "note": AZURITE_CONNECTION,
            "sas": SAS_URL,
            f"Authorization: Bearer {TOKEN}": 1,
        }
    ).encode()
    assert handle_request_message(hostile, message_id="m-hostile", dequeue_count=1, deps=deps) == "rejected"
    recorded = everything_recorded(deps)
    copies = [text for where, text in recorded.items() if where.startswith("copied log")]
    assert len(copies) == 2 and all("sig=***" in text and "AccountKey=***" in text for text in copies)  # masked
    assert_no_secret(all_logs, recorded)


# --- the aib backend against the fake ARM: tokens on the wire, SDK logging at DEBUG --------------------------
def test_aib_builds_through_the_fake_arm_leave_no_token_key_or_sas_in_logs_or_events(
    fake_arm, arm_tls, arm_credential, arm_clock, all_logs
):
    from tests.fakearm.service import build_once, service_deps

    fake_arm.world.publish("westeurope", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "22.04.1")
    fake_arm.world.add_template("ok", timeline=Timeline.minutes(10, log=SUCCEEDED_LOG))
    fake_arm.world.add_template(
        "bad", timeline=Timeline.minutes(10, "Failed", message=f"step failed, see {SAS_URL}", log=FAILED_LOG)
    )
    deps = service_deps(
        catalog_of(fake_arm),
        make_backend(fake_arm, arm_tls, arm_credential),
        arm_clock,
        sources=make_sources(fake_arm, arm_tls, arm_credential),
    )
    build_once(deps, arm_clock, "ok", "req-ok")
    build_once(deps, arm_clock, "bad", "req-bad")
    ok, bad = deps.publisher.events
    assert ok["type"].endswith("succeeded") and bad["data"]["failure"]["exit_status"] == 100
    assert any("azure.core" in line for line in all_logs.lines)  # the SDK's request logging was on
    assert_no_secret(all_logs, everything_recorded(deps))


# --- a real `aibtrigger dev`, its builders and what they leave in storage ---------------------------------------
SECRET_SCRIPT = [f"echo '{line}'" for line in PLANTED_LINES] + ["env | grep -i -e key -e connection -e sig || true"]


def _catalog() -> dict:
    source = {
        "type": "PlatformImage",
        "publisher": "Canonical",
        "offer": "0001-com-ubuntu-server-jammy",
        "sku": "secrets-scan",
        "version": "latest",
    }
    gallery = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.Compute/"
        "galleries/golden/images/"
    )
    return {
        "templates": [
            {
                "name": name,
                "location": "westeurope",
                "definition": {
                    "source": source,
                    "customize": [{"type": "Shell", "name": "leaky", "inline": SECRET_SCRIPT + tail}],
                    "distribute": [{"type": "SharedImage", "galleryImageId": gallery + name, "runOutputName": name}],
                    "buildTimeoutInMinutes": 600,
                },
            }
            for name, tail in (("leaky-ok", []), ("leaky-fail", ["exit 3"]))
        ]
    }


def _storage_text(connection: str) -> dict[str, str]:
    """Everything the service keeps in storage, but the build "VM"'s own log (packerlogs: AIB's side)."""
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    from aibtrigger.names import LOGS_CONTAINER

    found: dict[str, str] = {}
    tables = TableServiceClient.from_connection_string(connection)
    for table in tables.list_tables():
        for entity in tables.get_table_client(table.name).list_entities():
            found[f"table {table.name} {entity['PartitionKey']}/{entity['RowKey']}"] = json.dumps(
                dict(entity), default=str
            )
    queues = QueueServiceClient.from_connection_string(connection)
    for queue in queues.list_queues():
        if queue.name.endswith("-poison"):  # rejected input, kept verbatim
            continue
        for message in queues.get_queue_client(queue.name).peek_messages(max_messages=32):
            found[f"queue {queue.name} {message.id}"] = base64.b64decode(message.content).decode("utf-8", "replace")
    container = BlobServiceClient.from_connection_string(connection).get_container_client(LOGS_CONTAINER)
    for blob in container.list_blobs():
        found[f"blob {LOGS_CONTAINER}/{blob.name}"] = (
            container.download_blob(blob.name).readall().decode("utf-8", "replace")
        )
    return found


def test_a_real_dev_host_run_prints_and_keeps_no_secret(tmp_path):
    from aibtrigger.devhost.azurite import start_azurite
    from aibtrigger.devhost.session import free_port

    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(_catalog(), sort_keys=False))
    azurite = start_azurite()
    port, output = free_port(), tmp_path / "dev.log"
    env = {
        **os.environ,
        "AzureWebJobsStorage": azurite.connection_string,
        "AIBTRIGGER_CATALOG_PATH": str(tmp_path / "catalog.yaml"),
        "AIBTRIGGER_BACKEND": "local",
        "AIBTRIGGER_LOCAL_WORKDIR": str(tmp_path / "work"),
        "AIBTRIGGER_LOCAL_SECONDS_PER_MINUTE": "1",
        "AIBTRIGGER_POLL_MIN_SECONDS": "0.5",
        "AIBTRIGGER_POLL_MAX_SECONDS": "1",
        "AIBTRIGGER_SWEEP_SCHEDULE": "0 0 0 1 1 *",
        "AIBTRIGGER_TICK_SCHEDULE": "0 0 0 1 1 *",
        "AIBTRIGGER_PRUNE_SCHEDULE": "0 0 0 1 1 *",
    }
    env.pop("AIBTRIGGER_LOCAL_EVENT_WEBHOOK", None)
    process = None
    try:
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
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        _wait(lambda: _answers(f"http://127.0.0.1:{port}") or process.poll() is not None, "the dev host", output)
        assert process.poll() is None, output.read_text()[-3000:]
        cli = [sys.executable, "-m", "aibtrigger.cli"]
        subprocess.run(
            cli + ["marketplace", "publish", "--sku", "secrets-scan"],
            cwd=tmp_path,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        for name in ("leaky-ok", "leaky-fail"):
            subprocess.run(
                cli + ["request", name, "--reason", f"rotate {SAS_URL}"],
                cwd=tmp_path,
                env=env,
                check=True,
                capture_output=True,
                timeout=120,
            )
        from azure.data.tables import TableServiceClient

        runs = TableServiceClient.from_connection_string(azurite.connection_string).get_table_client("aibruns")

        def finished():
            done = {e["PartitionKey"]: e["state"] for e in runs.list_entities() if e["published"]}
            return done if len(done) == 2 else None

        assert _wait(finished, "both builds to finish and publish", output) == {
            "leaky-ok": "Succeeded",
            "leaky-fail": "Failed",
        }
        kept = _storage_text(azurite.connection_string)
        copies = [text for where, text in kept.items() if where.startswith("blob aibtrigger-logs/")]
        assert len(copies) == 2 and all("sig=***" in text for text in copies)  # copied, with the SAS masked
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        azurite.stop()
    printed = output.read_text(errors="replace").splitlines()
    assert any("Executed 'Functions.poll_run' (Succeeded" in line for line in printed)
    builders = [
        line
        for path in sorted((tmp_path / "work" / "logs").glob("*.log"))
        for line in path.read_text(errors="replace").splitlines()
    ]
    problems = [f"dev host output {line[:200]!r}: {found}" for line in printed if (found := leaks(line))]
    problems += [f"builder log {line[:200]!r}: {found}" for line in builders if (found := leaks(line))]
    problems += [f"{where}: {found}" for where, value in kept.items() if (found := leaks(value))]
    assert problems == [], "\n".join(problems[:20])


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/api/nothing-here", timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _wait(predicate, what: str, output: Path, timeout: float = 120):
    from tests.waiting import wait_until

    return wait_until(
        predicate, what, timeout=timeout, context=lambda: f"; dev host output:\n{output.read_text()[-3000:]}"
    )
