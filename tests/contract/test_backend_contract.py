"""The ImageBackend contract: what every backend must do, written against the port only.

Each implementation supplies a driver (below): a backend plus the names of templates that, in that
backend, succeed quickly, fail quickly, or run until canceled, and one that has never run. Today:
"local" (Azurite + builder processes). An "aib" driver (fake ARM server) plugs in the same way.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from aibtrigger.adapters.backend import ImageBackend
from aibtrigger.domain.model import RunState
from aibtrigger.errors import BuildAlreadyActiveError, TemplateNotFoundError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogs"


@dataclass
class Driver:
    backend: ImageBackend
    succeeds: str  # its build ends Succeeded within `patience` seconds, with at least one run output
    fails: str  # its build ends Failed within `patience` seconds
    runs_long: str  # its build stays active until canceled (far longer than a test)
    never_run: str  # known to the backend, never started
    unknown: str = "not-a-known-template"
    patience: float = 30.0


def _local_driver(request, tmp_path: Path) -> Driver:
    from aibtrigger.adapters.local.backend import LocalBackend
    from aibtrigger.adapters.local.layout import blob_service
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.catalog import load_catalog

    azurite = request.getfixturevalue("azurite")
    unique = request.getfixturevalue("unique")
    folder = tmp_path / "catalog"
    shutil.copytree(FIXTURES, folder)
    path = folder / "local-builds.yaml"
    path.write_text(path.read_text().replace("${UNIQUE}", unique))
    LocalMarketplace(blob_service(azurite.connection_string)).publish(
        "westeurope", "Canonical", "ubuntu-24_04-lts", f"server-{unique}"
    )
    backend = LocalBackend(
        load_catalog(path), connection_string=azurite.connection_string, catalog_path=path, workdir=tmp_path / "work"
    )
    return Driver(
        backend,
        succeeds=f"base-{unique}",
        fails=f"fails-{unique}",
        runs_long=f"slow-{unique}",
        never_run=f"multi-{unique}",
    )


def _aib_driver(request, tmp_path: Path) -> Driver:
    from tests.contract.aib_driver import aib_driver_fields  # AibBackend against the fake ARM

    return Driver(**aib_driver_fields(request))


DRIVERS = {"local": _local_driver, "aib": _aib_driver}


@pytest.fixture(params=sorted(DRIVERS))
def driver(request, tmp_path):
    made = DRIVERS[request.param](request, tmp_path)
    yield made
    for name in (made.succeeds, made.fails, made.runs_long):  # leave nothing running
        if made.backend.get_status(name).is_active:
            made.backend.cancel_run(name)
            _wait_terminal(made, name)


def _wait_terminal(driver: Driver, name: str):
    deadline = time.monotonic() + driver.patience
    while time.monotonic() < deadline:
        status = driver.backend.get_status(name)
        if status.run_state is not None and status.run_state.is_terminal:
            return status
        time.sleep(0.1)
    raise AssertionError(f"{name} did not end within {driver.patience} s")


def _wait_active(driver: Driver, name: str):
    status = driver.backend.get_status(name)
    assert status.is_active, f"{name} should be active right after start_run, is {status.run_state}"
    return status


def test_a_template_that_never_ran_has_no_run(driver):
    status = driver.backend.get_status(driver.never_run)
    assert status.run_state is None and not status.is_active
    assert driver.backend.run_outputs(driver.never_run) == []
    assert driver.backend.read_log(driver.never_run) is None


def test_an_unknown_template_is_not_found(driver):
    for call in (driver.backend.get_status, driver.backend.start_run, driver.backend.cancel_run):
        with pytest.raises(TemplateNotFoundError):
            call(driver.unknown)


def test_a_successful_run(driver):
    driver.backend.start_run(driver.succeeds)  # returns without waiting for the build
    running = _wait_active(driver, driver.succeeds)
    assert running.start_time is not None and running.end_time is None
    status = _wait_terminal(driver, driver.succeeds)
    assert status.run_state is RunState.SUCCEEDED, status.message
    assert status.run_sub_state is None
    assert status.start_time == running.start_time and status.end_time >= status.start_time
    outputs = driver.backend.run_outputs(driver.succeeds)
    assert outputs and all(o.provisioning_state == "Succeeded" for o in outputs)
    assert all(o.artifact_id or o.artifact_uri for o in outputs)
    assert driver.backend.read_log(driver.succeeds)


def test_a_failed_run_says_why(driver):
    driver.backend.start_run(driver.fails)
    status = _wait_terminal(driver, driver.fails)
    assert status.run_state is RunState.FAILED and status.message and status.end_time is not None
    assert "exit status" in driver.backend.read_log(driver.fails)


def test_run_is_refused_while_a_build_is_active(driver):
    driver.backend.start_run(driver.runs_long)
    _wait_active(driver, driver.runs_long)
    with pytest.raises(BuildAlreadyActiveError):
        driver.backend.start_run(driver.runs_long)
    assert driver.backend.get_status(driver.runs_long).is_active  # the refusal changed nothing


def test_cancel_shows_canceling_at_once_then_canceled(driver):
    driver.backend.start_run(driver.runs_long)
    started = _wait_active(driver, driver.runs_long).start_time
    driver.backend.cancel_run(driver.runs_long)  # returns without waiting
    status = driver.backend.get_status(driver.runs_long)
    assert status.run_state in (RunState.CANCELING, RunState.CANCELED)
    if status.run_state is RunState.CANCELING:
        assert status.run_sub_state is None and status.end_time is None
        with pytest.raises(BuildAlreadyActiveError):
            driver.backend.start_run(driver.runs_long)  # canceling is still active
    status = _wait_terminal(driver, driver.runs_long)
    assert status.run_state is RunState.CANCELED and status.start_time == started
    assert status.end_time is not None


def test_a_template_runs_again_after_its_run_ended(driver):
    driver.backend.start_run(driver.fails)
    first = _wait_terminal(driver, driver.fails)
    driver.backend.start_run(driver.fails)
    second = _wait_terminal(driver, driver.fails)
    assert second.run_state is RunState.FAILED and second.start_time > first.start_time
