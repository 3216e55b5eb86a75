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


def _session(request):
    if not _SHARED:
        tls = make_tls(request.getfixturevalue("tmp_path_factory").mktemp("aib-contract-tls"))
        staging = start_staging_azurite(tls)
        request.config.add_cleanup(staging.stop)
        _SHARED.update(tls=tls, staging=staging)
    return _SHARED["tls"], _SHARED["staging"]


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
