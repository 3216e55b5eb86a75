"""Customizers and validators, run for real against the local "VM" (a directory, $IMAGE_ROOT).

Each script runs as its own process group (so cancel and timeout stop it and everything it
started), with cwd = the image root and a minimal environment: the builder's own environment
holds the storage connection string, and a script that prints `env` must not put it in the log.
"""
from __future__ import annotations

import hashlib
import os
import random
import selectors
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from aibtrigger.adapters.local.packerlog import PackerLog
from aibtrigger.catalog import FileCustomizer, ShellCustomizer

INLINE_SHEBANG = "/bin/sh -e"  # Packer's inline_shebang default


class StepFailed(Exception):
    """A customizer failed; the message is the reason Packer would print."""


class BuildStopped(Exception):
    """The build must end now: reason is 'canceled', 'timeout' or 'superseded'."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Workspace:
    root: Path  # the unpacked image: the build "VM"
    folder: Path  # the build's workspace: scripts, downloads, HOME and TMPDIR live here, outside the image
    catalog_dir: Path  # relative and file: URIs in the catalog are resolved against this folder
    log: PackerLog
    should_stop: Callable[[], str | None]  # a reason to stop ('canceled', 'timeout', ...) or None


def run_shell(step: ShellCustomizer, ws: Workspace) -> None:
    ws.log.ui("(telemetry) Starting provisioner shell")
    if step.inline:
        script = ws.folder / "scripts" / f"packer-shell{random.randrange(10**8, 10**9)}"  # named as Packer does
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("\n".join(step.inline) + "\n", encoding="utf-8")
        command = [*INLINE_SHEBANG.split(), str(script)]
    else:
        script = fetch(step.scriptUri, ws, step.sha256Checksum)
        command = _interpreter_for(script)
    ws.log.ui(f"Provisioning with shell script: {step.scriptUri or script}")
    status = run_process(command, ws)
    if status != 0:
        reason = f"Script exited with non-zero exit status: {status}. Allowed exit codes are: [0]"
        ws.log.ui(reason)
        ws.log.ui("(telemetry) ending shell")
        raise StepFailed(reason)
    ws.log.ui("(telemetry) ending shell")


def run_file(step: FileCustomizer, ws: Workspace) -> None:
    ws.log.ui("(telemetry) Starting provisioner file")
    try:
        source = fetch(step.sourceUri, ws, step.sha256Checksum)
        target = inside(ws.root, step.destination)
        ws.log.ui(f"Uploading {step.sourceUri} => {step.destination}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        ws.log.out(f"{target.name} {target.stat().st_size} bytes")
    finally:
        ws.log.ui("(telemetry) ending file")


def inside(root: Path, destination: str) -> Path:
    """The path `destination` names inside the image; refuses `..` and symlinks that leave it."""
    relative = destination.replace("\\", "/").lstrip("/")
    if not relative or ".." in relative.split("/"):
        raise StepFailed(f"File destination {destination!r} is not a path inside the image")
    real_root = root.resolve()
    target = (real_root / relative).resolve()
    if target != real_root and real_root not in target.parents:
        raise StepFailed(f"File destination {destination!r} leaves the image")
    return target


def fetch(uri: str, ws: Workspace, sha256: str | None) -> Path:
    """A local copy of a catalog-named script or file: a relative path or file: URI is read from
    the catalog's folder, http(s) is downloaded; the checksum, when given, must match."""
    parsed = urllib.parse.urlparse(uri)
    downloads = ws.folder / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / f"{len(list(downloads.iterdir()))}-{Path(parsed.path).name or 'download'}"
    if parsed.scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(uri, timeout=60) as response, open(target, "wb") as handle:
                shutil.copyfileobj(response, handle)
        except OSError as exc:
            raise StepFailed(f"error downloading {uri}: {exc}") from None
    elif parsed.scheme in ("", "file"):
        path = Path(urllib.request.url2pathname(parsed.path) if parsed.scheme else uri)
        path = path if path.is_absolute() else ws.catalog_dir / path
        if not path.is_file():
            raise StepFailed(f"error downloading {uri}: no such file")
        shutil.copyfile(path, target)
    else:
        raise StepFailed(f"unsupported URI scheme in {uri!r} (use a path, file: or http(s):)")
    if sha256:
        actual = hashlib.sha256(target.read_bytes()).hexdigest()
        if actual.lower() != sha256.lower():
            raise StepFailed(f"checksum mismatch for {uri}: expected sha256 {sha256.lower()}, got {actual}")
    return target


def run_process(command: list[str], ws: Workspace) -> int:
    """Run one script to its end, its output going to the log line by line; raises BuildStopped
    (after stopping the whole process group) when the build is canceled or times out."""
    home, tmp = ws.folder / "home", ws.folder / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(home),
           "TMPDIR": str(tmp), "IMAGE_ROOT": str(ws.root), "PACKER_BUILD_NAME": "azure-arm",
           "PACKER_BUILDER_TYPE": "azure-arm"}
    try:
        process = subprocess.Popen(command, cwd=ws.root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:  # e.g. a scriptUri whose shebang names a missing interpreter
        raise StepFailed(f"cannot run {Path(command[0]).name}: {exc.strerror}") from None
    pump = threading.Thread(target=_pump, args=([(process.stdout, ws.log.out), (process.stderr, ws.log.err)],),
                            daemon=True)
    pump.start()
    try:
        while process.poll() is None:
            reason = ws.should_stop()
            if reason:
                raise BuildStopped(reason)
            time.sleep(0.05)
    finally:
        stop_group(process)  # also ends anything the script left running in the background
        pump.join(timeout=2)
    code = process.returncode
    return 128 - code if code < 0 else code  # killed by signal N: report 128+N, as a shell does


def stop_group(process: subprocess.Popen, grace: float = 2.0) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after `grace` seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, or the group never looks empty
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def _interpreter_for(script: Path) -> list[str]:
    """Packer runs a downloaded script directly: its shebang decides; none means /bin/sh."""
    with open(script, "rb") as handle:
        if handle.read(2) == b"#!":
            script.chmod(0o755)
            return [str(script)]
    return ["/bin/sh", str(script)]


def _pump(streams: list[tuple]) -> None:
    """Both pipes in one thread, so stdout and stderr lines reach the log in the order written."""
    writers = {stream.fileno(): write for stream, write in streams}
    partial = {fd: b"" for fd in writers}
    with selectors.DefaultSelector() as selector:
        for fd in writers:
            selector.register(fd, selectors.EVENT_READ)
        while writers:
            for key, _ in selector.select():
                fd = key.fd
                chunk = os.read(fd, 65536)
                if not chunk:  # end of this stream: flush what is left of its last line
                    if partial[fd]:
                        writers[fd](partial[fd].decode("utf-8", errors="replace"))
                    selector.unregister(fd)
                    del writers[fd]
                    continue
                *lines, partial[fd] = (partial[fd] + chunk).split(b"\n")
                for line in lines:
                    writers[fd](line.decode("utf-8", errors="replace"))
