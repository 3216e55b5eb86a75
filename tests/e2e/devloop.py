"""A newcomer's `aibtrigger dev` / `demo` / CLI, each in its own process, in a folder of its own,
with nothing inherited from the test session's settings (the e2e stack fixture sets some)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import yaml

from aibtrigger.devhost.processes import end_processes, is_running, start_time
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
GALLERY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.Compute/"
    "galleries/golden/images/"
)
SKU = "devloop-private"  # a source of its own: a sweep of the examples' source leaves it alone


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIBTRIGGER_", "AzureWebJobs"))}
    return {**env, **extra}


def _quiet(name: str, source: dict, sleep_seconds: int) -> dict:
    """One step that sleeps, writing nothing meanwhile."""
    return {
        "name": name,
        "location": "westeurope",
        "definition": {
            "source": source,
            "customize": [
                {
                    "type": "Shell",
                    "name": "work",
                    "inline": ["echo starting", f"sleep {sleep_seconds}", "echo finished"],
                }
            ],
            "distribute": [{"type": "SharedImage", "galleryImageId": GALLERY + name, "runOutputName": name}],
            "buildTimeoutInMinutes": 30,
        },
    }


def catalog_with(folder: Path, *, sleep_seconds: int) -> Path:
    """The examples' catalog plus `quiet-build` (from a source of its own) and `quiet-child` (built
    from ubuntu-base's image, so a success of ubuntu-base starts it): each one step that sleeps."""
    catalog = yaml.safe_load((ROOT / "examples" / "catalog.yaml").read_text())
    catalog["templates"] += [
        _quiet(
            "quiet-build",
            {
                "type": "PlatformImage",
                "publisher": "Canonical",
                "offer": "0001-com-ubuntu-server-jammy",
                "sku": SKU,
                "version": "latest",
            },
            sleep_seconds,
        ),
        _quiet(
            "quiet-child",
            {"type": "SharedImageVersion", "imageVersionId": GALLERY + "ubuntu-base/versions/latest"},
            sleep_seconds,
        ),
    ]
    shutil.copytree(ROOT / "examples" / "files", folder / "files")  # relative paths resolve from the catalog
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return path


def cli(cwd: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aibtrigger.cli", *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Dev:
    """`aibtrigger dev` started in `folder`; its output goes to a file (read by the assertions)."""

    def __init__(self, folder: Path, port: int, *options: str, env: dict, name: str = "dev") -> None:
        self.folder, self.port, self.env = folder, port, env
        self.output = folder / f"{name}.log"
        with self.output.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "aibtrigger.cli", "dev", "--port", str(port), *options],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def text(self) -> str:
        return self.output.read_text()

    def wait_serving(self) -> dict:
        state_file = self.folder / ".aibtrigger" / "dev.json"

        def serving():
            if self.process.poll() is not None:
                raise AssertionError(f"aibtrigger dev exited {self.process.returncode}:\n{self.text}")
            return "functions at" in self.text and state_file.exists() and json.loads(state_file.read_text())

        return wait_until(serving, "aibtrigger dev to serve", timeout=90, context=lambda: f"\n{self.text}")

    def kill(self) -> None:
        """A crash: no cleanup at all (its Azurite, in a session of its own, lives on)."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def runs(folder: Path, template: str) -> list[dict]:
    result = cli(folder, "runs", "--template", template, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class ProcessesIn:
    """Every process seen with its working folder inside `folder`, by pid and start time."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.seen, self._stop = folder, {}, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            for pid in processes_in(self.folder):
                self.seen.setdefault(pid, start_time(pid))

    def alive(self) -> list[int]:
        return [pid for pid, started in self.seen.items() if started is not None and is_running(pid, started)]


def processes_in(folder: Path) -> list[int]:
    """The processes working in `folder` or below (a builder's is its workspace)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == str(folder) or cwd.startswith(f"{folder}/"):
            found.append(int(entry.name))
    return found


def end_processes_in(folder: Path) -> None:
    end_processes([pid for pid in processes_in(folder) if pid != os.getpid()], grace=10)
