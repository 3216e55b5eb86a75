"""A newcomer's first hour (issue 18): one owner per data folder, builds that survive a dev-host
restart, a demo that leaves nothing running, and CLI errors that say what to do instead of a traceback.

Every `aibtrigger` here runs in its own process, in a folder of its own, on its own Azurite."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from aibtrigger.devhost.processes import start_time
from aibtrigger.devhost.session import free_port
from tests.e2e.devloop import SKU, Dev, ProcessesIn, catalog_with, clean_env, cli, end_processes_in, runs
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def no_traceback(result) -> bool:
    text = result.stdout + result.stderr
    return "Traceback" not in text and "azure.core" not in text


@pytest.fixture
def folder(tmp_path):
    """tmp_path, and after the test no process left working in it (whatever a failed test left)."""
    yield tmp_path
    end_processes_in(tmp_path)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    folder = tmp_path_factory.mktemp("first-hour")
    env = clean_env(AIBTRIGGER_CATALOG_PATH=str(catalog_with(folder, sleep_seconds=20)))
    dev = Dev(folder, free_port(), env=env)
    try:
        dev.wait_serving()
        assert cli(folder, "marketplace", "publish", "--sku", SKU).returncode == 0
        yield dev
    finally:
        dev.stop()
        end_processes_in(folder)  # a build a failed test left running


def test_a_second_dev_host_or_demo_on_the_same_folder_is_refused_and_the_first_keeps_working(host):
    state_file = host.folder / ".aibtrigger" / "dev.json"
    before = state_file.read_text()
    for command in (["dev", "--port", str(free_port())], ["demo"]):
        second = cli(host.folder, *command, env=host.env)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"in use by `aibtrigger dev` (pid {host.process.pid}" in second.stderr
        assert no_traceback(second) and "Address already in use" not in second.stderr
    assert state_file.read_text() == before  # nobody deletes or rewrites the running host's dev.json
    assert host.process.poll() is None
    assert cli(host.folder, "runs").returncode == 0


def test_commands_find_the_running_host_from_a_subfolder(host):
    deeper = host.folder / "src" / "deeper"
    deeper.mkdir(parents=True)
    result = cli(deeper, "plan", "--json")
    assert result.returncode == 0, result.stderr
    assert {d["template"] for d in json.loads(result.stdout)} >= {"ubuntu-base", "quiet-build"}


def test_a_template_typo_gets_the_nearest_names_and_is_refused(host):
    request = cli(host.folder, "request", "web-teir")
    assert request.returncode == 2 and "did you mean web-tier?" in request.stderr and no_traceback(request)
    listing = cli(host.folder, "runs", "--template", "ubuntu-bsae")
    assert listing.returncode == 2 and "did you mean ubuntu-base?" in listing.stderr
    assert listing.stdout == ""


def test_logs_as_json_while_running_and_after_a_cancel_that_shows_no_exit_status(host):
    assert cli(host.folder, "request", "quiet-build").returncode == 0
    run = wait_until(
        lambda: next((r for r in runs(host.folder, "quiet-build") if r["state"] == "Running"), None),
        "quiet-build to run",
        timeout=90,
    )

    def live_log():
        shown = json.loads(cli(host.folder, "logs", run["run_id"], "--json").stdout)
        return shown["live"] and "starting" in (shown["log"] or "") and shown

    assert wait_until(live_log, "the live log", timeout=60)["state"] == "Running"
    assert cli(host.folder, "cancel", "quiet-build").returncode == 0
    ended = wait_until(
        lambda: next(
            (r for r in runs(host.folder, "quiet-build") if r["run_id"] == run["run_id"] and r["published"]), None
        ),
        "the canceled run to be recorded",
        timeout=90,
    )
    assert ended["state"] == "Canceled"
    shown = cli(host.folder, "show", run["run_id"])
    assert "exit status None" not in shown.stdout
    kept = cli(host.folder, "logs", run["run_id"], "--json")
    assert json.loads(kept.stdout)["live"] is False and kept.returncode in (0, 1)


def test_output_into_a_reader_that_went_away_ends_quietly(host):
    command = [sys.executable, "-m", "aibtrigger.cli", "outcomes", "--json"]
    process = subprocess.Popen(command, cwd=host.folder, env=host.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # gone before the command writes a byte, as `head` is after its lines
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141 and errors == ""
    shell = subprocess.run(
        f"{sys.executable} -m aibtrigger.cli runs --json | head -c 1",
        shell=True,
        cwd=host.folder,
        env=host.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.stderr == "" and shell.stdout == "["


def test_commands_without_a_host_say_how_to_start_one(tmp_path):
    result = cli(tmp_path, "runs")
    assert result.returncode == 2 and "`aibtrigger dev`" in result.stderr and no_traceback(result)
    assert "Field required" not in result.stderr  # not pydantic's view of the missing settings


def test_a_stale_dev_json_and_lock_are_named_then_taken_over(tmp_path):
    # This test's own pid with another start time: a reused pid, which must not pass for the old owner.
    stale = {
        "pid": os.getpid(),
        "started": start_time(os.getpid()) - 1,
        "command": "aibtrigger dev",
        "since": "2026-01-01 00:00:00 UTC",
    }
    home = tmp_path / ".aibtrigger"
    home.mkdir()
    (home / "owner.lock").write_text(json.dumps(stale))
    (home / "dev.json").write_text(
        json.dumps(
            {
                **stale,
                "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;"
                "AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:9/x;",
            }
        )
    )
    result = cli(tmp_path, "runs")
    assert result.returncode == 2 and "no longer running" in result.stderr and no_traceback(result)
    assert "Connection refused" not in result.stderr  # the dead host's storage is not even tried
    dev = Dev(tmp_path, free_port(), env=clean_env())
    try:
        state = dev.wait_serving()
        assert f"taking it over from `aibtrigger dev` (pid {os.getpid()}" in dev.text
        assert state["pid"] == dev.process.pid
        assert cli(tmp_path, "runs").returncode == 0
    finally:
        assert dev.stop() == 0
    assert not (home / "dev.json").exists()  # its own, removed on its way out


def test_a_broken_catalog_stops_dev_at_start_with_the_catalog_error(tmp_path):
    broken = tmp_path / "catalog.yaml"
    broken.write_text("templates:\n  - name: web\n    definition: {}\n")
    result = cli(tmp_path, "dev", "--port", str(free_port()), env=clean_env(AIBTRIGGER_CATALOG_PATH=str(broken)))
    assert result.returncode == 2 and "templates[0] (web)" in result.stderr, result.stderr
    assert "functions at" not in result.stdout and no_traceback(result)
    assert not (tmp_path / ".aibtrigger" / "dev.json").exists()


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_a_build_survives_a_dev_host_restart(tmp_path, stop):
    """Stopped (SIGTERM, as Ctrl-C) or killed (SIGKILL: no cleanup, its Azurite left running) mid-build,
    the dev host comes back on the same Azurite ports and the build's run ends Succeeded."""
    env = clean_env(AIBTRIGGER_CATALOG_PATH=str(catalog_with(tmp_path, sleep_seconds=25)))
    port = free_port()
    quick = ("--message-visibility", "5")  # a killed host's in-flight poll message reappears after this
    first = Dev(tmp_path, port, *quick, env=env)
    before = first.wait_serving()
    assert cli(tmp_path, "marketplace", "publish", "--sku", SKU).returncode == 0
    assert cli(tmp_path, "request", "quiet-build").returncode == 0
    run = wait_until(
        lambda: next((r for r in runs(tmp_path, "quiet-build") if r["state"] == "Running"), None),
        "quiet-build to run",
        timeout=90,
    )
    wait_until(lambda: "starting" in cli(tmp_path, "logs", run["run_id"]).stdout, "the build's first step", timeout=60)
    if stop == "kill":
        first.kill()
    else:
        assert first.stop() == 0  # mid-build: the step sleeps for a while yet
    second = Dev(tmp_path, port, *quick, env=env, name="dev-again")
    try:
        after = second.wait_serving()
        assert after["AzureWebJobsStorage"] == before["AzureWebJobsStorage"]  # Azurite kept its ports
        if stop == "kill":
            assert "taking it over from `aibtrigger dev`" in second.text
            assert "ending the Azurite" in second.text  # left running, its writes saved before the restart
        ended = wait_until(
            lambda: next(
                (r for r in runs(tmp_path, "quiet-build") if r["run_id"] == run["run_id"] and r["published"]), None
            ),
            "the run to end after the restart",
            timeout=180,
        )
        assert ended["state"] == "Succeeded", ended
    finally:
        first.stop()
        second.stop()
        end_processes_in(tmp_path)


def test_demo_waits_for_the_builds_it_started_and_leaves_no_process(folder):
    with ProcessesIn(folder) as processes:
        result = cli(folder, "demo", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "web-tier: run" in result.stdout  # the cascade its build started was waited for
    assert len(processes.seen) >= 3  # the demo, Azurite, a builder at least: the sampler saw them
    assert processes.alive() == [], result.stdout[-2000:]


def test_a_demo_stopped_mid_build_cancels_and_records_it_and_leaves_no_process(folder):
    env = clean_env(AIBTRIGGER_CATALOG_PATH=str(catalog_with(folder, sleep_seconds=300)), PYTHONUNBUFFERED="1")
    output = folder / "demo.log"
    with ProcessesIn(folder) as processes:
        with output.open("w") as out:
            demo = subprocess.Popen(
                [sys.executable, "-m", "aibtrigger.cli", "demo", "--template", "quiet-build"],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(
                lambda: re.search(r"quiet-build\s+Running/Customizing", output.read_text()),
                "the demo's build to run",
                timeout=120,
                context=lambda: output.read_text()[-2000:],
            )
            demo.send_signal(signal.SIGTERM)  # as Ctrl-C
            assert demo.wait(timeout=120) == 130
        finally:
            if demo.poll() is None:
                demo.kill()
    text = output.read_text()
    assert "canceling quiet-build" in text and "Traceback" not in text, text[-3000:]
    assert re.search(r"quiet-build: run \S+ Canceled", text), text[-3000:]
    assert processes.alive() == [], text[-2000:]


def test_a_demo_stopped_while_waiting_for_its_cascade_cancels_it_and_leaves_no_process(folder):
    env = clean_env(AIBTRIGGER_CATALOG_PATH=str(catalog_with(folder, sleep_seconds=300)), PYTHONUNBUFFERED="1")
    output = folder / "demo.log"
    with ProcessesIn(folder) as processes:
        with output.open("w") as out:
            demo = subprocess.Popen(
                [sys.executable, "-m", "aibtrigger.cli", "demo"],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            # The demo follows the cascade it started (its base, then the slow child) until it is stopped.
            wait_until(
                lambda: re.search(r"quiet-child\s+Running/Customizing", output.read_text()),
                "the cascade's slow build to run",
                timeout=180,
                context=lambda: output.read_text()[-2000:],
            )
            demo.send_signal(signal.SIGTERM)
            assert demo.wait(timeout=120) == 130
        finally:
            if demo.poll() is None:
                demo.kill()
    text = output.read_text()
    assert re.search(r"quiet-child: run \S+ Canceled", text) and "Traceback" not in text, text[-3000:]
    assert processes.alive() == [], text[-2000:]
