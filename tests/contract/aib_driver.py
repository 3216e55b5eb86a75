"""The `aib` driver for the backend contract suite: AibBackend against the fake ARM (HTTPS, real REST
shapes) and an HTTPS + OAuth Azurite for staging logs, on real time so the suite's waits work as
they do for the local backend. `aib_driver_fields(request)` returns the Driver's fields.
"""

from __future__ import annotations

from tests.fakearm import FakeArm, FakeTokenCredential, Timeline, make_tls
from tests.fakearm.azurite_tls import start_staging_azurite
from tests.fakearm.clock import ScaledClock
from tests.fakearm.fixtures import make_backend
from tests.fakearm.logs import FAILED_APT_LOG, SUCCESS_LOG

_SHARED: dict = {}  # one CA and one staging Azurite per test session (stopped when the session ends)


def _quick(outcome: str, log: str) -> Timeline:
    # About a second of real time, through every sub-state; a cancel takes half a second.
    return Timeline(
        tuple((name, 0.25) for name in ("Queued", "Building", "Customizing", "Distributing")),
        outcome,
        log=log,
        cancel_seconds=0.5,
    )


def _tls(request):
    if "tls" not in _SHARED:
        _SHARED["tls"] = make_tls(request.getfixturevalue("tmp_path_factory").mktemp("aib-contract-tls"))
    return _SHARED["tls"]


def _session(request):
    tls = _tls(request)
    if "staging" not in _SHARED:
        staging = start_staging_azurite(tls)
        request.config.add_cleanup(staging.stop)
        _SHARED["staging"] = staging
    return tls, _SHARED["staging"]


def aib_driver_fields(request) -> dict:
    tls, staging = _session(request)
    arm = FakeArm(tls, clock=ScaledClock(1.0), staging=staging)
    request.addfinalizer(arm.close)  # after the suite's own teardown (which cancels what still runs)
    arm.world.add_template("succeeds", timeline=_quick("Succeeded", SUCCESS_LOG))
    arm.world.add_template("fails", timeline=_quick("Failed", FAILED_APT_LOG))
    arm.world.add_template("runs-long", timeline=Timeline((("Queued", 1), ("Building", 3600)), cancel_seconds=0.5))
    arm.world.add_template("never-run")
    backend = make_backend(arm, tls, FakeTokenCredential())
    return {
        "backend": backend,
        "succeeds": "succeeds",
        "fails": "fails",
        "runs_long": "runs-long",
        "never_run": "never-run",
        "patience": 15.0,
    }


def aib_gallery_fields(request) -> dict:
    """The gallery contract's driver fields: AzureGallery against the fake ARM, versions published
    there as AIB (or anyone) would, `latest` as the fake ARM resolves it."""
    from tests.fakearm.fixtures import make_gallery

    tls = _tls(request)
    arm = FakeArm(tls)
    request.addfinalizer(arm.close)
    image = (
        f"/subscriptions/{arm.world.subscription}/resourceGroups/rg-gallery/providers/Microsoft.Compute/"
        "galleries/golden/images/img"
    )

    def publish(version: str) -> str:
        arm.world.add_gallery_version(f"{image}/versions/{version}")
        return f"{image}/versions/{version}"

    return {
        "port": make_gallery(arm, tls, FakeTokenCredential()),
        "image": image,
        "publish": publish,
        "latest": lambda: arm.world.latest_gallery_version(image),
    }
