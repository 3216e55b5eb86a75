"""The aib backend (azure-mgmt-imagebuilder, -resource, -compute, storage-blob) against the fake ARM over
HTTPS, with staging logs in an HTTPS + OAuth Azurite. Production code paths: only the credential, the
endpoint and the trusted CA differ. Every fault ends right, and none doubles a Run."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from aibtrigger.domain.logexcerpt import extract_failure
from aibtrigger.domain.model import RunState, RunSubState
from aibtrigger.errors import BackendError, BuildAlreadyActiveError, TemplateNotFoundError
from tests.fakearm import FakeTokenCredential, Fault, Timeline
from tests.fakearm.fixtures import (  # noqa: F401 - the first five are fixtures
    arm_clock,
    arm_credential,
    arm_tls,
    fake_arm,
    make_backend,
    make_sources,
    staging_storage,
)
from tests.fakearm.logs import FAILED_APT_LOG, SAS_SECRET, SUCCESS_LOG

pytestmark = pytest.mark.azurite
PHASES = (("Queued", 60), ("Building", 300), ("Customizing", 1200), ("Distributing", 600))
UBUNTU = ("westeurope", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2")


@pytest.fixture
def arm(fake_arm):
    fake_arm.world.publish(*UBUNTU, "22.04.202409300", "22.04.202410020", "22.04.20241001")
    fake_arm.world.add_template("base", timeline=Timeline(PHASES, log=SUCCESS_LOG))
    return fake_arm


@pytest.fixture
def backend(arm, arm_tls, arm_credential):
    return make_backend(arm, arm_tls, arm_credential)


def builds(arm, name="base") -> int:
    return len(arm.world.runs[name])


# --- run, status, outputs, cancel, adoption ---------------------------------------------------------------
@pytest.mark.parametrize("artifact_style", ["versions", "imageversions"])
def test_status_follows_the_timeline_and_outputs_name_the_new_version(
    arm, backend, arm_clock, arm_tls, arm_credential, artifact_style
):
    arm.world.artifact_style = artifact_style  # the 2025-10-01 spec example says /imageversions/
    sources = make_sources(arm, arm_tls, arm_credential)
    assert backend.get_status("base").run_state is None
    backend.start_run("base")
    seen = []
    for _, seconds in PHASES:
        status = backend.get_status("base")
        assert status.run_state is RunState.RUNNING and status.end_time is None and status.message == ""
        seen.append(status.run_sub_state)
        assert backend.run_outputs("base") == []
        arm_clock.advance(seconds)
    assert seen == [RunSubState.QUEUED, RunSubState.BUILDING, RunSubState.CUSTOMIZING, RunSubState.DISTRIBUTING]
    done = backend.get_status("base")
    assert done.run_state is RunState.SUCCEEDED and done.run_sub_state is None
    assert (done.end_time - done.start_time).total_seconds() == 2160
    [output] = backend.run_outputs("base")
    assert output.name == "base-sig" and output.artifact_id.endswith("/galleries/golden/images/base/versions/1.0.0")
    assert sources.get_version(output.artifact_id)["provisioningState"] == "Succeeded"
    assert backend.describe("base").exact_source_version == "22.04.202410020"  # the numerically newest
    assert arm.count("POST", "run") == 1 and builds(arm) == 1


def test_cancel_goes_canceling_then_canceled_and_is_a_no_op_after(arm, backend, arm_clock):
    backend.start_run("base")
    arm_clock.advance(400)
    backend.cancel_run("base")
    canceling = backend.get_status("base")
    assert (canceling.run_state, canceling.run_sub_state, canceling.end_time) == (RunState.CANCELING, None, None)
    assert canceling.message == "Canceling image build"
    backend.cancel_run("base")  # AIB refuses (OperationNotAllowed): nothing more to cancel
    with pytest.raises(BuildAlreadyActiveError):
        backend.start_run("base")
    arm_clock.advance(30)
    canceled = backend.get_status("base")
    assert (canceled.run_state, canceled.message) == (RunState.CANCELED, "The build was canceled")
    assert canceled.end_time is not None
    backend.cancel_run("base")
    assert arm.count("POST", "cancel") == 3 and arm.count("POST", "run") == 1


def test_a_running_build_is_adopted_without_posting_run(arm, backend):
    arm.world.start_run("base")  # started elsewhere (the portal, another instance)
    with pytest.raises(BuildAlreadyActiveError):
        backend.start_run("base")
    assert arm.count("POST", "run") == 0 and builds(arm) == 1


@pytest.mark.parametrize("status, style", [(409, "wrapped"), (400, "unwrapped"), (409, "nested"), (400, "nested")])
def test_operation_not_allowed_on_run_is_recognised_by_its_code(arm, backend, status, style):
    arm.world.refusal_status, arm.world.error_style = status, style
    arm.faults.add(Fault.race_on_run())  # someone starts it between our read and our Run
    with pytest.raises(BuildAlreadyActiveError, match="OperationNotAllowed"):
        backend.start_run("base")
    assert arm.count("POST", "run") == 1 and builds(arm) == 1


def test_unknown_templates_are_not_found(arm, arm_tls, arm_credential):
    ghost = arm.world.templates["base"]["id"].replace("/base", "/ghost")
    local_only = {
        "source": {"type": "PlatformImage", "publisher": "p", "offer": "o", "sku": "s"},
        "distribute": [{"type": "VHD", "runOutputName": "vhd"}],
    }
    backend = make_backend(
        arm,
        arm_tls,
        arm_credential,
        extra=[{"name": "ghost", "resource_id": ghost}, {"name": "local-only", "definition": local_only}],
    )
    for name in ("ghost", "local-only", "not-in-catalog"):
        with pytest.raises(TemplateNotFoundError):
            backend.start_run(name)
    assert arm.count("POST") == 0 and arm.count("GET", "template", status=404) == 1


# --- faults: each ends right, none doubles a Run ------------------------------------------------------------
def test_504_on_run_whose_build_started_is_adopted_by_rereading(arm, backend):
    arm.faults.add(Fault.gateway_timeout_on_run(build_started=True))
    backend.start_run("base")
    assert arm.count("POST", "run") == 1 and builds(arm) == 1
    assert arm.count("GET", "template") == 2  # before Run, and the re-read that found the build


def test_504_on_run_whose_build_did_not_start_is_posted_once_more(arm, backend):
    arm.faults.add(Fault.gateway_timeout_on_run(build_started=False))
    backend.start_run("base")
    assert arm.count("POST", "run") == 2 and builds(arm) == 1


def test_run_failing_twice_without_a_build_gives_up_after_two_posts(arm, backend):
    arm.faults.add(Fault.gateway_timeout_on_run(build_started=False, times=5))
    with pytest.raises(BackendError, match="GatewayTimeout"):
        backend.start_run("base")
    assert arm.count("POST", "run") == 2 and builds(arm) == 0


def test_run_answered_too_late_is_resolved_by_rereading(arm, arm_tls, arm_credential):
    backend = make_backend(arm, arm_tls, arm_credential, read_timeout=0.5)
    arm.faults.add(Fault.slow("run", "POST", delay=1.5, start_build=True))
    backend.start_run("base")
    assert arm.count("POST", "run") == 1 and builds(arm) == 1


def test_throttling_is_retried_after_retry_after_and_a_429_run_is_not_a_run(arm, backend):
    arm.faults.add(Fault.throttled("template", retry_after=1), Fault.throttled("run", "POST", retry_after=1))
    backend.start_run("base")
    # One 429 each: a retry before Retry-After had passed would have collected another.
    assert arm.count("GET", "template", status=429) == 1 and arm.count("POST", "run", status=429) == 1
    assert arm.count("POST", "run", status=202) == 1 and builds(arm) == 1


def test_internal_error_on_get_is_retried_and_persistent_errors_become_backend_errors(arm, backend):
    arm.faults.add(Fault.internal_error("template"))
    assert backend.get_status("base").run_state is None
    assert arm.count("GET", "template") == 2
    arm.reset_counts()
    arm.faults.add(Fault.internal_error("template", times=50))
    with pytest.raises(BackendError, match="Internal error occurred"):
        backend.get_status("base")
    assert arm.count("GET", "template") == 4  # 1 + retry_total 3
    arm.faults.clear()


def test_cancel_is_safe_to_retry_on_503(arm, backend):
    backend.start_run("base")
    arm.faults.add(Fault.unavailable("cancel", "POST"))
    backend.cancel_run("base")
    assert arm.count("POST", "cancel") == 2 and backend.get_status("base").run_state is RunState.CANCELING


def test_a_token_for_another_audience_is_refused(arm, arm_tls):
    backend = make_backend(arm, arm_tls, FakeTokenCredential(audience_override="https://storage.azure.com"))
    with pytest.raises(BackendError, match="InvalidAuthenticationToken"):
        backend.get_status("base")
    assert arm.count(status=401) >= 1


# --- staging logs, read with a token ---------------------------------------------------------------------
def test_failure_log_is_read_with_a_token_and_yields_a_redacted_excerpt(arm, backend, arm_clock, arm_credential):
    arm.world.set_timeline("base", Timeline(PHASES, "Failed", log=FAILED_APT_LOG))
    assert backend.read_log("base") is None  # never ran
    backend.start_run("base")
    arm_clock.advance(3000)
    assert backend.get_status("base").run_state is RunState.FAILED
    text = backend.read_log("base")
    assert SAS_SECRET not in text and "sig=***" in text
    excerpt = extract_failure(text)
    assert excerpt.exit_status == 100 and excerpt.step == "shell: /tmp/packer-shell2390312212"
    assert any("Unable to lock directory" in line for line in excerpt.lines)
    assert ("https://storage.azure.com/.default",) in arm_credential.scopes_requested
    # A second failed run: its own folder (named in AIB's message); the staging account is remembered.
    arm.world.set_timeline("base", Timeline(PHASES, "Failed", log=FAILED_APT_LOG.replace("status: 100", "status: 7")))
    backend.start_run("base")
    arm_clock.advance(3000)
    assert extract_failure(backend.read_log("base")).exit_status == 7
    assert arm.count("GET", "resources") == 1 and arm.count("GET", "storageAccount") == 1


def test_log_of_a_running_build_is_the_newest_folder_of_this_run_only(arm, backend, arm_clock):
    backend.start_run("base")
    assert "Builds finished but no artifacts" in backend.read_log("base")  # written when it started
    arm_clock.advance(3000)
    arm.world.set_timeline("base", Timeline(PHASES, log=None))  # this run has written no log yet
    backend.start_run("base")
    assert backend.read_log("base") is None  # the older folder belongs to the previous run


def test_logs_are_not_readable_without_the_token(arm, backend, arm_tls, staging_storage):
    from azure.storage.blob import ContainerClient

    arm.world.set_timeline("base", Timeline(PHASES, "Failed", log=FAILED_APT_LOG))
    backend.start_run("base")
    account, endpoint = next(iter(arm.world.accounts.values()))
    anonymous = ContainerClient(endpoint, "packerlogs", connection_verify=arm_tls.ca)
    with pytest.raises(HttpResponseError):
        [blob.name for blob in anonymous.list_blobs()]
    wrong = ContainerClient(
        endpoint,
        "packerlogs",
        connection_verify=arm_tls.ca,
        credential=FakeTokenCredential(audience_override="https://management.azure.com"),
    )
    with pytest.raises(HttpResponseError):
        [blob.name for blob in wrong.list_blobs()]


# --- sources -----------------------------------------------------------------------------------------------
def test_marketplace_latest_is_compared_numerically_and_gallery_versions_are_read(arm, arm_tls, arm_credential):
    sources = make_sources(arm, arm_tls, arm_credential)
    arm.world.publish("westeurope", "Contoso", "hardened", "base", "1.9.0", "1.10.0", "1.2.3")
    # A string sort (what `top=1, orderby='name desc'` could return) would pick 1.9.0.
    assert (
        arm.world.vm_images_json("westeurope", "Contoso", "hardened", "base", top=1, orderby="name desc")[0]["name"]
        == "1.9.0"
    )
    assert sources.latest_version("westeurope", "Contoso", "hardened", "base") == "1.10.0"
    assert sources.list_versions("westeurope", "Contoso", "hardened", "nope") == []
    assert sources.latest_version(*UBUNTU) == "22.04.202410020"
    image = "/subscriptions/{}/resourceGroups/rg-gallery/providers/Microsoft.Compute/galleries/golden/images/web"
    image = image.format(arm.world.subscription)
    arm.world.add_gallery_version(image + "/versions/2.0.0")
    assert sources.get_version(image + "/versions/2.0.0")["provisioningState"] == "Succeeded"
    assert sources.get_version(image + "/imageversions/2.0.0")["name"] == "2.0.0"
    assert sources.get_version(image + "/versions/9.9.9") is None
    assert arm.count("GET", "vmImages") == 3 and arm.count("GET", "galleryVersion") == 3


# --- ARM budget: a 45-minute build through the service's own handlers, a sweep, the buckets ----------------
def test_a_45_minute_build_costs_a_handful_of_arm_calls(arm, backend, arm_clock, arm_tls, arm_credential):
    from tests.fakearm.fixtures import catalog_of
    from tests.fakearm.service import build_once, service_deps

    deps = service_deps(catalog_of(arm), backend, arm_clock, sources=make_sources(arm, arm_tls, arm_credential))
    arm.world.set_timeline("base", Timeline.minutes(45, log=SUCCESS_LOG))
    polls_cold = build_once(deps, arm_clock, "base", "first")  # no history: geometric back-off
    cold = arm.summary()
    arm.reset_counts()
    arm.world.set_timeline("base", Timeline.minutes(45, "Failed", log=FAILED_APT_LOG))
    polls_warm = build_once(deps, arm_clock, "base", "second")  # history says 45 min: sleep through most of it
    warm = arm.summary()
    print(
        f"\n45-minute build, ARM calls without history: {sum(cold.values())} {cold} ({polls_cold} polls)"
        f"\n45-minute build, ARM calls with history:    {sum(warm.values())} {warm} ({polls_warm} polls)"
    )
    # Start: read (service) + read (backend's own check) + Run; one read per poll; the collect reuses the
    # last poll's read, finds the staging account once, and reads outputs only after a success; the
    # new version is read once (only a version `latest` may resolve to is observed).
    assert cold == {
        "GET template": 17,
        "POST run": 1,
        "GET runOutputs": 1,
        "GET resources": 1,
        "GET storageAccount": 1,
        "GET galleryVersion": 1,
    }
    assert warm == {"GET template": 5, "POST run": 1}  # one jump to 90% of 45 min, then 5% steps
    first, second = deps.publisher.events
    assert first["data"]["artifact_ids"][0].endswith("/versions/1.0.0") and first["data"]["failure"] is None
    assert second["data"]["failure"]["exit_status"] == 100 and SAS_SECRET not in str(second)
    assert deps.logs.load(second["data"]["run_id"]).startswith("[7111a125")
    assert {run.source_version for run in deps.store.list_runs("base")} == {"22.04.202410020"}


def test_a_sweep_of_60_templates_stays_inside_the_read_bucket(fake_arm, arm_tls, arm_credential):
    for index in range(60):
        fake_arm.world.add_template(f"t{index:02d}")
    for sku in ("20_04-lts", "22_04-lts-gen2", "24_04-lts"):
        fake_arm.world.publish("westeurope", "Canonical", "ubuntu", sku, "1.0.0", "1.0.1")
    backend, sources = make_backend(fake_arm, arm_tls, arm_credential), make_sources(fake_arm, arm_tls, arm_credential)
    statuses = [backend.get_status(f"t{index:02d}") for index in range(60)]
    latest = {
        sku: sources.latest_version("westeurope", "Canonical", "ubuntu", sku)
        for sku in ("20_04-lts", "22_04-lts-gen2", "24_04-lts")
    }
    print(f"\nsweep of 60 templates + 3 marketplace sources: {fake_arm.count()} ARM reads {fake_arm.summary()}")
    assert all(s.run_state is None for s in statuses) and set(latest.values()) == {"1.0.1"}
    assert fake_arm.count() == 63 and fake_arm.count(status=429) == 0


def test_a_burst_beyond_the_read_bucket_is_throttled_and_completes(
    arm_tls, staging_storage, arm_clock, arm_credential, monkeypatch
):
    from azure.core.pipeline.transport import RequestsTransport

    from tests.fakearm import FakeArm
    from tests.fakearm.throttle import SleptTime, Throttle

    slept = SleptTime()  # the bucket refills only by what the client waited
    monkeypatch.setattr(RequestsTransport, "sleep", lambda self, duration: slept.sleep(duration))
    with FakeArm(arm_tls, clock=arm_clock, staging=staging_storage, throttle=Throttle(now=slept)) as arm:
        arm.world.add_template("base")
        backend = make_backend(arm, arm_tls, arm_credential)
        for _ in range(300):
            backend.get_status("base")
        print(
            f"\nburst of 300 reads on the 250-token read bucket (25/s): {arm.count(status=200)} answered, "
            f"{arm.count(status=429)} throttled, client waited {slept.sleeps} s (Retry-After)"
        )
        # 250 at once, then 25 per second waited: two Retry-After waits of 1 s, no early retry.
        assert arm.count(status=200) == 300 and arm.count(status=429) == 2 and slept.sleeps == [1, 1]


def test_the_async_operation_resource_stays_in_progress_for_the_whole_build(arm, backend, arm_clock):
    from azure.core.rest import HttpRequest

    backend.start_run("base")
    [run] = arm.world.runs["base"]
    client = backend._clients.image_builder(arm.world.subscription)
    url = (
        f"{arm.endpoint}/subscriptions/{arm.world.subscription}/providers/Microsoft.VirtualMachineImages/"
        f"locations/westeurope/operations/{run.operation_id}?api-version=2025-10-01"
    )
    assert client.send_request(HttpRequest("GET", url)).json()["status"] == "InProgress"
    arm_clock.advance(2160)
    assert client.send_request(HttpRequest("GET", url)).json()["status"] == "Succeeded"


# --- pure mappings (no I/O) ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            {
                "runState": "Running",
                "runSubState": "Queued",
                "startTime": "2024-10-02T10:00:00.1234567Z",
                "endTime": "0001-01-01T00:00:00Z",
                "message": "",
            },
            ("Running", "Queued", True, False),
        ),
        (
            {
                "runState": "Canceling",
                "startTime": "2024-10-02T10:00:00Z",
                "endTime": "0001-01-01T00:00:00Z",
                "message": "Canceling image build",
            },
            ("Canceling", None, True, False),
        ),
        (
            {
                "runState": "failed",
                "runSubState": "Distributing",
                "startTime": "2024-10-02T10:00:00Z",
                "endTime": "2024-10-02T10:40:00Z",
            },
            ("Failed", None, True, True),
        ),
        ({"runState": "Paused", "startTime": "2024-10-02T10:00:00Z"}, ("Running", None, True, False)),
        ({}, (None, None, False, False)),
        (None, (None, None, False, False)),
    ],
)
def test_last_run_status_mapping(raw, expected):
    from azure.mgmt.imagebuilder.models import ImageTemplateLastRunStatus

    from aibtrigger.adapters.aib.status import to_build_status

    for given in (raw, ImageTemplateLastRunStatus(raw) if raw else raw):  # REST JSON and the SDK model alike
        status = to_build_status(given)
        assert (status.run_state, status.run_sub_state) == tuple(None if v is None else v for v in expected[:2])
        assert (status.start_time is not None, status.end_time is not None) == expected[2:]


@pytest.mark.parametrize("style", ["wrapped", "unwrapped", "nested"])
def test_operation_not_allowed_is_found_in_every_body_shape(style):
    import json

    from aibtrigger.adapters.aib.errors import is_ambiguous, is_operation_not_allowed, translate
    from tests.fakearm.errors import ArmError

    class Response:
        status_code, reason = 409, "Conflict"

        def text(self):
            return json.dumps(
                ArmError(409, "OperationNotAllowed", "not allowed in run state 'Running'", style=style).body()
            )

    error = HttpResponseError(response=Response())
    assert is_operation_not_allowed(error) and not is_ambiguous(error)
    assert isinstance(translate(error, "run 'base'"), BuildAlreadyActiveError)
