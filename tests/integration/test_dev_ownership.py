"""The pieces behind one owner per data folder and a findable dev host: the folder lock, process
identity by pid and start time, dev.json lookup, kept Azurite ports, and the CLI's message helpers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from aibtrigger.clihelp import suggest
from aibtrigger.console import failure_text
from aibtrigger.devhost.devstate import NoDevHostError, find_home, live_state, remove_state, write_state
from aibtrigger.devhost.ownership import FolderInUseError, FolderLock, Owner
from aibtrigger.devhost.ports import PORTS_FILE, load_ports, port_is_free, start_azurite_keeping_ports
from aibtrigger.devhost.processes import children, end_processes, is_running, start_time


def test_a_folder_has_one_owner_and_is_free_again_once_released(tmp_path):
    first = FolderLock(tmp_path, "aibtrigger dev")
    assert first.acquire() is None
    with pytest.raises(FolderInUseError, match=rf"in use by `aibtrigger dev` \(pid {os.getpid()},"):
        FolderLock(tmp_path, "aibtrigger demo").acquire()
    first.release()
    second = FolderLock(tmp_path, "aibtrigger demo")
    assert second.acquire() is None  # released cleanly: nobody stale to name
    second.release()


def test_a_lock_left_by_a_dead_process_is_taken_over_and_named(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / "owner.lock").write_text(
        json.dumps({"pid": pid, "started": 1, "command": "aibtrigger dev", "since": "earlier"})
    )
    lock = FolderLock(tmp_path, "aibtrigger dev")
    previous = lock.acquire()
    assert previous == Owner(pid, 1, "aibtrigger dev", "earlier") and not previous.running
    assert Owner.parse((tmp_path / "owner.lock").read_text()).pid == os.getpid()
    lock.release()


def test_a_reused_pid_does_not_pass_for_the_process_that_had_it():
    mine = start_time(os.getpid())
    assert is_running(os.getpid(), mine) and is_running(os.getpid(), None)
    assert not is_running(os.getpid(), mine - 1)


def test_dev_json_is_found_from_a_subfolder_and_removed_only_by_its_writer(tmp_path):
    home = tmp_path / ".aibtrigger"
    home.mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    me = Owner.me("aibtrigger dev")
    write_state(home, me, "http://127.0.0.1:7071", {"AzureWebJobsStorage": "x"})
    assert find_home(deep) == home.resolve()
    assert live_state(deep)["url"] == "http://127.0.0.1:7071"
    remove_state(home, Owner(me.pid, me.started - 1, me.command, me.since))  # another process's view
    assert (home / "dev.json").exists()
    remove_state(home, me)
    assert not (home / "dev.json").exists()
    with pytest.raises(NoDevHostError, match="no dev host is running for .* `aibtrigger dev`"):
        live_state(deep)


def test_kept_ports_are_read_back_and_a_taken_port_is_seen(tmp_path):
    assert load_ports(tmp_path) is None
    (tmp_path / "aibtrigger-ports.json").write_text('{"blob": 1, "queue": 2, "table": 3}')
    assert load_ports(tmp_path) == (1, 2, 3)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not port_is_free(listener.getsockname()[1])


def test_child_processes_left_behind_are_ended():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    assert sleeper.pid in children()
    end_processes([sleeper.pid], grace=5)
    assert sleeper.wait(timeout=5) is not None and sleeper.pid not in children()


def test_typo_suggestions_and_failure_lines():
    assert suggest("web-teir", ["ubuntu-base", "web-tier"]) == "did you mean web-tier?"
    assert suggest("zzz", ["web-tier", "ubuntu-base"]) == "its templates are ubuntu-base, web-tier"
    assert failure_text({"reason": "canceled", "step": None, "exit_status": None}) == "canceled"
    assert (
        failure_text({"reason": "boom", "step": "shell #1", "exit_status": 0}) == "boom (step shell #1, exit status 0)"
    )


@pytest.mark.azurite
def test_azurite_comes_back_on_its_ports_after_ending_one_a_killed_owner_left(tmp_path):
    said: list[str] = []
    first = start_azurite_keeping_ports(tmp_path, say=said.append)
    try:
        ports = load_ports(tmp_path)
        assert ports and not any(port_is_free(p) for p in ports)
        again = start_azurite_keeping_ports(tmp_path, say=said.append)  # the first one was never stopped
        try:
            assert load_ports(tmp_path) == ports and again.connection_string == first.connection_string
            assert said == [
                f"ending the Azurite (pid {first.process.pid}) that a stopped dev host left running on {tmp_path}"
            ]
            assert first.process.poll() is not None
        finally:
            again.stop()
    finally:
        first.stop()


@pytest.mark.azurite
def test_azurite_moves_and_says_so_when_another_program_holds_its_ports(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        (tmp_path / PORTS_FILE).write_text(json.dumps({"blob": taken, "queue": taken, "table": taken}))
        said: list[str] = []
        azurite = start_azurite_keeping_ports(tmp_path, say=said.append)
        try:
            assert said and "are not available (another program listens on one of them)" in said[0]
            assert taken not in load_ports(tmp_path)
        finally:
            azurite.stop()
