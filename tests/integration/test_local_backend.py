"""The local backend end to end: real Azurite, real builder processes, real scripts (~1-3 s a build)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from aibtrigger.adapters.local.backend import LocalBackend
from aibtrigger.adapters.local.gallery import LocalGallery
from aibtrigger.adapters.local.layout import IMAGES_CONTAINER, blob_service
from aibtrigger.adapters.local.marketplace import LocalMarketplace
from aibtrigger.adapters.local.rootfs import read_member
from aibtrigger.adapters.local.state import TemplateStateStore
from aibtrigger.catalog import load_catalog
from aibtrigger.domain.model import RunState, RunSubState
from aibtrigger.domain.provenance import provenance_of
from aibtrigger.errors import BuildAlreadyActiveError, TemplateNotFoundError

pytestmark = pytest.mark.azurite
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogs"
SUB_STATES = [None, *RunSubState]


def wait_for(condition, *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def wait_terminal(backend, name: str, timeout: float = 30.0):
    return wait_for(
        lambda: (s := backend.get_status(name)).run_state and s.run_state.is_terminal and s,
        timeout=timeout,
        what=f"{name} to end",
    )


@pytest.fixture
def local(azurite, unique, tmp_path):
    """A catalog of unique templates (copied with its scripts), a published marketplace image, and
    a factory for backends over them. Anything still running at the end is canceled."""
    folder = tmp_path / "catalog"
    shutil.copytree(FIXTURES, folder)
    catalog_path = folder / "local-builds.yaml"
    catalog_path.write_text(catalog_path.read_text().replace("${UNIQUE}", unique))
    catalog = load_catalog(catalog_path)
    service = blob_service(azurite.connection_string)
    marketplace = LocalMarketplace(service)
    platform_version = marketplace.publish("westeurope", "Canonical", "ubuntu-24_04-lts", f"server-{unique}")
    backends = []

    def backend(**options) -> LocalBackend:
        made = LocalBackend(
            catalog,
            connection_string=azurite.connection_string,
            catalog_path=catalog_path,
            workdir=tmp_path / "work",
            **options,
        )
        backends.append(made)
        return made

    env = SimpleNamespace(
        backend=backend,
        name=lambda kind: f"{kind}-{unique}",
        unique=unique,
        service=service,
        marketplace=marketplace,
        gallery=LocalGallery(service),
        platform_version=platform_version,
        state=TemplateStateStore(service),
        workdir=tmp_path / "work",
        image=lambda name: (
            f"/subscriptions/sub-{unique}/resourceGroups/images-rg/providers/"
            f"Microsoft.Compute/galleries/golden/images/{name}"
        ),
    )
    yield env
    for made in backends[:1]:
        for entry in catalog.templates:
            if entry.definition and made.get_status(entry.name).is_active:
                made.cancel_run(entry.name)
                wait_terminal(made, entry.name, timeout=20)


def test_a_full_build_publishes_a_gallery_version_with_lineage(local, tmp_path):
    backend, name = local.backend(), local.name("base")
    assert backend.get_status(name).run_state is None
    backend.start_run(
        name,
        provenance={
            "run_id": f"{name}.1",
            "template": name,
            "upstream": "platform/x@1",
            "source_version": "expected",
            "fingerprint": "0123456789abcdef",
        },
    )
    status = backend.get_status(name)
    assert status.run_state is RunState.RUNNING and status.end_time is None and status.start_time

    seen_sub_states = set()
    status = wait_for(
        lambda: (s := backend.get_status(name), seen_sub_states.add(s.run_sub_state))[0].run_state.is_terminal and s,
        what="the build to end",
    )
    assert status.run_state is RunState.SUCCEEDED, status.message
    assert status.run_sub_state is None and status.end_time >= status.start_time
    assert seen_sub_states <= set(SUB_STATES)

    [output] = backend.run_outputs(name)
    assert output.name == "base-image" and output.provisioning_state == "Succeeded"
    assert output.artifact_id == f"{local.image('base')}/versions/1.0.0"
    version = local.gallery.get_version(output.artifact_id)
    assert version["provisioningState"] == "Succeeded" and version["template"] == name
    assert version["artifactTags"] == {"team": "platform"}
    assert provenance_of(version) == {
        "run_id": f"{name}.1",
        "template": name,
        "upstream": "platform/x@1",
        "source_version": local.platform_version,
        "fingerprint": "0123456789abcdef",
    }
    assert version["tags"]["team"] == "platform"  # the definition's own artifactTags, beside the provenance
    assert version["source"]["type"] == "PlatformImage" and version["source"]["version"] == local.platform_version
    assert [a["version"] for a in version["lineage"]] == [local.platform_version]
    assert local.state.read(name)["exactSourceVersion"] == local.platform_version

    archive = local.gallery.download(output.artifact_id, tmp_path / "out")
    assert read_member(archive, "etc/motd") == "built by aibtrigger\n"  # inline Shell
    assert read_member(archive, "etc/ssh/sshd_config") == "PermitRootLogin no\n"  # scriptUri Shell
    assert "listen = 8080" in read_member(archive, "etc/app/app.conf")  # File
    assert local.platform_version in read_member(archive, "etc/os-release")  # from the source

    log = backend.read_log(name)
    assert "PACKER OUT ==> azure-arm: (telemetry) Starting provisioner shell" in log
    assert "PACKER OUT     azure-arm: customizing aib-build in /" in log  # inside the image, as its root
    assert f"PACKER OUT     azure-arm: hardened {local.platform_version}" in log
    assert "(telemetry) Starting provisioner file" in log and "Uploading files/app.conf => /etc/app/app.conf" in log
    assert "Build 'azure-arm' finished after" in log
    assert not list(local.workdir.glob("*/rootfs")), "the workspace is cleaned up"


def test_lineage_follows_a_gallery_source_through_latest(local):
    backend = local.backend()
    backend.start_run(local.name("base"))
    assert wait_terminal(backend, local.name("base")).run_state is RunState.SUCCEEDED
    base_version_id = backend.run_outputs(local.name("base"))[0].artifact_id

    backend.start_run(local.name("child"))
    assert wait_terminal(backend, local.name("child")).run_state is RunState.SUCCEEDED, backend.get_status(
        local.name("child")
    ).message
    [output] = backend.run_outputs(local.name("child"))
    assert output.artifact_id == f"{local.image('app')}/versions/3.0.0"  # versioning Latest, major 3
    child = local.gallery.get_version(output.artifact_id)
    assert child["source"] == {
        "type": "SharedImageVersion",
        "id": base_version_id,
        "version": "1.0.0",
        "exactVersion": base_version_id,
    }
    assert [(a["type"], a["version"]) for a in child["lineage"]] == [
        ("SharedImageVersion", "1.0.0"),
        ("PlatformImage", local.platform_version),
    ]
    assert local.state.read(local.name("child"))["exactSourceVersion"] == base_version_id


def test_source_versioning_vhd_and_managed_image_targets(local):
    backend, name = local.backend(), local.name("multi")
    backend.start_run(name)
    assert wait_terminal(backend, name).run_state is RunState.SUCCEEDED, backend.get_status(name).message
    outputs = {o.name: o for o in backend.run_outputs(name)}
    assert outputs["mirror"].artifact_id == f"{local.image('mirror')}/versions/{local.platform_version}"
    assert local.gallery.latest_version(local.image("mirror")) is None  # excludeFromLatest
    assert outputs["managed"].artifact_id.endswith("/images/mirror")
    for output in (outputs["vhd"], outputs["managed"]):
        blob_name = output.artifact_uri.split(f"/{IMAGES_CONTAINER}/", 1)[1]
        assert local.service.get_blob_client(IMAGES_CONTAINER, blob_name).exists()


def test_a_second_run_with_source_versioning_partially_succeeds(local):
    """versioning Source on an unchanged source: the gallery version exists already, the other targets work."""
    backend, name = local.backend(), local.name("multi")
    backend.start_run(name)
    assert wait_terminal(backend, name).run_state is RunState.SUCCEEDED
    backend.start_run(name)
    status = wait_terminal(backend, name)
    assert status.run_state is RunState.PARTIALLY_SUCCEEDED and "already exists" in status.message
    outputs = {o.name: o for o in backend.run_outputs(name)}
    assert outputs["mirror"].provisioning_state == "Failed" and outputs["mirror"].artifact_id is None
    assert outputs["vhd"].provisioning_state == outputs["managed"].provisioning_state == "Succeeded"


def test_a_failing_shell_step_fails_the_build_with_its_output_in_the_log(local):
    backend, name = local.backend(), local.name("fails")
    backend.start_run(name)
    status = wait_terminal(backend, name)
    assert status.run_state is RunState.FAILED
    assert "Script exited with non-zero exit status: 3" in status.message
    assert "/packerlogs/" in status.message and "customization.log" in status.message
    assert backend.run_outputs(name) == []
    log = backend.read_log(name)
    assert "PACKER OUT     azure-arm: first step fine" in log
    assert "PACKER ERR     azure-arm: E: Unable to locate package does-not-exist" in log
    assert "==> azure-arm: Script exited with non-zero exit status: 3. Allowed exit codes are: [0]" in log
    assert "never printed" not in log  # inline scripts run with /bin/sh -e
    assert "Build 'azure-arm' errored after" in log.splitlines()[-1]
    assert local.gallery.version_names(local.image("never")) == []


def test_the_failure_excerpt_can_be_read_from_a_local_log(local):
    logexcerpt = pytest.importorskip("aibtrigger.domain.logexcerpt")
    backend, name = local.backend(), local.name("fails")
    backend.start_run(name)
    assert wait_terminal(backend, name).run_state is RunState.FAILED
    excerpt = logexcerpt.extract_failure(backend.read_log(name))
    assert excerpt.step == "customize[1]" and excerpt.exit_status == 3
    assert "Script exited with non-zero exit status: 3" in excerpt.reason
    assert "E: Unable to locate package does-not-exist" in excerpt.lines


def test_a_failing_validator_fails_the_build(local):
    backend, name = local.backend(), local.name("badcheck")
    backend.start_run(name)
    status = wait_terminal(backend, name)
    assert status.run_state is RunState.FAILED and "Validation failed" in status.message
    assert "PACKER ERR     azure-arm: motd missing" in backend.read_log(name)
    assert local.gallery.version_names(local.image("unchecked")) == []


def test_continue_distribute_on_failure_distributes_yet_fails_the_run(local):
    backend, name = local.backend(), local.name("lenient")
    backend.start_run(name)
    status = wait_terminal(backend, name)
    assert status.run_state is RunState.FAILED and "Validation failed" in status.message
    assert "distributed anyway" in status.message
    [output] = backend.run_outputs(name)
    assert local.gallery.get_version(output.artifact_id)["provisioningState"] == "Succeeded"


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("windows", "PowerShell customizers are not supported by the local backend"),
        ("managedsrc", "ManagedImage"),
        ("escape", "is not a path inside the image"),
    ],
)
def test_what_cannot_be_built_locally_fails_clearly(local, kind, expected):
    backend, name = local.backend(), local.name(kind)
    backend.start_run(name)
    status = wait_terminal(backend, name)
    assert status.run_state is RunState.FAILED and expected in status.message


def test_unknown_or_aib_only_templates_are_not_found(local):
    backend = local.backend()
    for name in ("not-in-catalog", local.name("aibonly")):
        for call in (backend.get_status, backend.start_run, backend.cancel_run, backend.read_log):
            with pytest.raises(TemplateNotFoundError):
                call(name)


def test_start_while_running_is_refused_and_cancel_ends_canceled(local):
    backend, name = local.backend(), local.name("slow")
    backend.start_run(name)
    with pytest.raises(BuildAlreadyActiveError, match="OperationNotAllowed"):
        backend.start_run(name)
    # The log grows while the build runs.
    wait_for(lambda: "long step started" in (backend.read_log(name) or ""), what="the log to show the step")
    assert backend.get_status(name).run_sub_state is RunSubState.CUSTOMIZING
    started = backend.get_status(name).start_time

    backend.cancel_run(name)
    status = backend.get_status(name)
    assert status.run_state is RunState.CANCELING and status.run_sub_state is None
    assert status.message == "Canceling image build" and status.end_time is None
    with pytest.raises(BuildAlreadyActiveError):
        backend.start_run(name)

    status = wait_terminal(backend, name, timeout=20)
    assert status.run_state is RunState.CANCELED and status.message == "The build was canceled"
    assert status.start_time == started and status.end_time >= started
    assert "Cancelling build after receiving interrupt" in backend.read_log(name)
    assert local.gallery.version_names(local.image("slow")) == []


def test_concurrent_starts_from_many_instances_start_one_build(local):
    name = local.name("slow")
    backends = [local.backend() for _ in range(6)]  # as if six function instances got the request
    barrier, results = threading.Barrier(len(backends)), []

    def start(backend):
        barrier.wait()
        try:
            backend.start_run(name)
            results.append("started")
        except BuildAlreadyActiveError:
            results.append("refused")

    threads = [threading.Thread(target=start, args=(b,)) for b in backends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["refused"] * 5 + ["started"]
    pid = wait_for(lambda: (local.state.read(name) or {}).get("builderPid"), what="the builder")
    assert backends[0].get_status(name).is_active and pid


def test_a_build_past_its_timeout_fails(local):
    backend, name = local.backend(seconds_per_minute=1.0), local.name("timeout")  # 2 "minutes": 2 s
    backend.start_run(name)
    status = wait_terminal(backend, name)
    assert status.run_state is RunState.FAILED
    assert "context deadline exceeded" in status.message and "timed out" in status.message
    log = backend.read_log(name)
    assert "waiting forever" in log
    assert "PACKER OUT Cancelling build after receiving terminated" in log
    assert log.splitlines()[-1].endswith("context deadline exceeded")


def test_a_killed_builder_is_declared_failed_after_the_heartbeat_window(local):
    backend, name = local.backend(heartbeat_timeout=3.0), local.name("slow")
    backend.start_run(name)
    pid = wait_for(lambda: (local.state.read(name) or {}).get("builderPid"), what="the builder to claim its run")
    wait_for(lambda: backend.get_status(name).run_sub_state is RunSubState.CUSTOMIZING, what="the step to run")
    script_groups = _children(pid)
    os.kill(pid, signal.SIGKILL)
    for child in script_groups:  # the step's process group survives its builder: end it too
        try:
            os.killpg(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    status = wait_terminal(backend, name, timeout=15)
    assert status.run_state is RunState.FAILED and "local builder process stopped unexpectedly" in status.message
    backend.start_run(name)  # the dead run no longer blocks the template
    assert backend.get_status(name).is_active
    backend.cancel_run(name)


def test_a_new_gallery_version_posts_the_event_grid_event(local):
    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers, json.loads(body)))  # header names are case-insensitive
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/runtime/webhooks/EventGrid?functionName=gallery"
        backend, name = local.backend(event_webhook=url), local.name("base")
        backend.start_run(name)
        assert wait_terminal(backend, name).run_state is RunState.SUCCEEDED
        wait_for(lambda: received, what="the event")
    finally:
        server.shutdown()
    headers, events = received[0]
    version_id = backend.run_outputs(name)[0].artifact_id
    assert headers.get("aeg-event-type") == "Notification"
    assert headers.get("content-type") == "application/json"
    [event] = events
    assert event["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert event["subject"] == version_id and event["data"]["resourceUri"] == version_id
    assert event["data"]["operationName"] == "Microsoft.Compute/galleries/images/versions/write"
    assert event["data"]["status"] == "Succeeded" and event["topic"] == f"/subscriptions/sub-{local.unique}"
    assert {"id", "eventTime", "dataVersion", "metadataVersion"} <= set(event)


def test_no_secret_reaches_the_builder_command_line_or_the_scripts(local, azurite):
    backend, name = local.backend(), local.name("slow")
    backend.start_run(name)
    pid = wait_for(lambda: (local.state.read(name) or {}).get("builderPid"), what="the builder")
    command_line = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    assert "AccountKey" not in command_line and name in command_line
    # `unshare`: it and the namespace get an empty environment. Between fork and exec the child
    # still shows the builder's own environment, so wait until it has become `unshare`.
    sandbox = wait_for(lambda: _exec_children(pid), what="the step's process")[0]
    assert Path(f"/proc/{sandbox}/environ").read_bytes() == b""
    assert "AccountKey" not in Path(f"/proc/{sandbox}/cmdline").read_bytes().decode()
    backend.cancel_run(name)


def _exec_children(pid: int) -> list[int]:
    """The children of `pid` that have already exec'd (their command line is no longer the parent's)."""
    parent = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [child for child in _children(pid) if _cmdline(child) not in (parent, b"")]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_script_and_file_sources_resolve_like_the_catalog_says(tmp_path):
    """A relative path or file: URI is read next to the catalog; http(s) is fetched; sha256 is checked."""
    import functools
    import hashlib

    from aibtrigger.adapters.local.steps import StepFailed, Workspace, fetch

    ws = Workspace(
        root=tmp_path / "root", folder=tmp_path / "ws", catalog_dir=FIXTURES, log=None, should_stop=lambda: None
    )
    script = (FIXTURES / "scripts" / "harden.sh").read_bytes()
    digest = hashlib.sha256(script).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURES))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        for uri in (
            "scripts/harden.sh",
            "file:scripts/harden.sh",
            (FIXTURES / "scripts" / "harden.sh").as_uri(),
            f"{base}/scripts/harden.sh",
        ):
            assert fetch(uri, ws, digest.upper()).read_bytes() == script, uri
        with pytest.raises(StepFailed, match="checksum mismatch"):
            fetch(f"{base}/scripts/harden.sh", ws, "0" * 64)
        with pytest.raises(StepFailed, match="error downloading"):
            fetch(f"{base}/scripts/missing.sh", ws, None)
    finally:
        server.shutdown()
    with pytest.raises(StepFailed, match="no such file"):
        fetch("scripts/missing.sh", ws, None)
    with pytest.raises(StepFailed, match="unsupported URI scheme"):
        fetch("ftp://example.com/x.sh", ws, None)


def test_file_destinations_are_absolute_paths_in_the_image():
    from aibtrigger.adapters.local.steps import StepFailed, image_path

    assert image_path("/etc/app/app.conf") == "/etc/app/app.conf"
    assert image_path("etc/x") == "/etc/x"
    for destination in ("../x", "/etc/../../x", "/", ""):
        with pytest.raises(StepFailed):
            image_path(destination)
