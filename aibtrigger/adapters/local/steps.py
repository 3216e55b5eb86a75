"""Customizers and validators, run for real inside the build's "VM" (sandbox.py: the image as `/`).

As Packer does over SSH: a Shell step's script is uploaded to /tmp in the image, made executable,
run (its shebang decides; an inline script gets Packer's `#!/bin/sh -e`) and removed; a File step
is written to its destination. Every write into the image happens inside the sandbox, so a link
in the image resolves inside the image, never on the host. A step's processes are one namespace:
when it ends, is canceled or times out, all of them end.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aibtrigger.adapters.local.packerlog import PackerLog
from aibtrigger.adapters.local.sandbox import Sandbox, SandboxError
from aibtrigger.catalog import FileCustomizer, ShellCustomizer

INLINE_SHEBANG = "#!/bin/sh -e"  # Packer's inline_shebang default
# $1: where the script goes. stdin: the script. Packer's execute_command: `chmod +x {{.Path}}; {{.Path}}`.
RUN_UPLOADED = (
    'umask 022; mkdir -p /tmp && cat > "$1" && chmod +x "$1" || exit 125; "$1"; status=$?; rm -f "$1"; exit $status'
)
# $1: the destination. stdin: the file.
WRITE_FILE = 'umask 022; mkdir -p "$(dirname "$1")" && cat > "$1"'


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
    folder: Path  # the build's workspace on the host: downloads live here, outside the image
    catalog_dir: Path  # relative and file: URIs in the catalog are resolved against this folder
    log: PackerLog
    should_stop: Callable[[], str | None]  # a reason to stop ('canceled', 'timeout', ...) or None
    network: bool = True

    @property
    def sandbox(self) -> Sandbox:
        return Sandbox(self.root, network=self.network)


def run_shell(step: ShellCustomizer, ws: Workspace) -> None:
    ws.log.ui("(telemetry) Starting provisioner shell")
    remote = f"/tmp/packer-shell{random.randrange(10**8, 10**9)}"  # named as Packer does
    if step.inline:
        script = ws.folder / "scripts" / Path(remote).name
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("\n".join([INLINE_SHEBANG, *step.inline]) + "\n", encoding="utf-8")
    else:
        assert step.scriptUri is not None  # the catalog's model holds exactly one of inline and scriptUri
        script = fetch(step.scriptUri, ws, step.sha256Checksum)
    run_script(script, remote, ws, shown_as=step.scriptUri or remote)
    ws.log.ui("(telemetry) ending shell")


def run_script(script: Path, remote: str, ws: Workspace, *, shown_as: str) -> None:
    """Upload `script` to `remote` in the image and run it there; StepFailed when it fails."""
    ws.log.ui(f"Provisioning with shell script: {shown_as}")
    with open(script, "rb") as upload:
        status = run_process(ws.sandbox.shell(RUN_UPLOADED, remote), ws, stdin=upload)
    if status != 0:
        reason = f"Script exited with non-zero exit status: {status}. Allowed exit codes are: [0]"
        ws.log.ui(reason)
        ws.log.ui("(telemetry) ending shell")
        raise StepFailed(reason)


def run_file(step: FileCustomizer, ws: Workspace) -> None:
    ws.log.ui("(telemetry) Starting provisioner file")
    try:
        destination = image_path(step.destination)
        if step.destination.endswith("/"):  # Packer: a folder, the file keeps its name
            destination = image_path(f"{destination}/{Path(urllib.parse.urlparse(step.sourceUri).path).name}")
        source = fetch(step.sourceUri, ws, step.sha256Checksum)
        ws.log.ui(f"Uploading {step.sourceUri} => {step.destination}")
        with open(source, "rb") as upload:
            status = run_process(ws.sandbox.shell(WRITE_FILE, destination), ws, stdin=upload)
        if status != 0:
            raise StepFailed(f"Upload failed: cannot write {step.destination} in the image (exit status {status})")
        ws.log.out(f"{Path(destination).name} {source.stat().st_size} bytes")
    finally:
        ws.log.ui("(telemetry) ending file")


def image_path(destination: str) -> str:
    """The absolute path `destination` names in the image; refuses `..` and an empty path. Links
    are the image's business: they resolve inside it, where the write happens."""
    relative = destination.replace("\\", "/").strip("/")
    if not relative or ".." in relative.split("/"):
        raise StepFailed(f"File destination {destination!r} is not a path inside the image")
    return "/" + relative


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


def run_process(command: list[str], ws: Workspace, *, stdin: IO[bytes] | None = None) -> int:
    """Run one sandboxed command to its end, its output going to the log line by line; raises
    BuildStopped (after ending the whole namespace) when the build is canceled or times out."""
    try:
        process = subprocess.Popen(
            command,
            env={},
            stdin=stdin or subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except (OSError, SandboxError) as exc:
        raise StepFailed(f"cannot start the build's sandbox: {getattr(exc, 'strerror', None) or exc}") from None
    pump = threading.Thread(
        target=_pump, args=([(process.stdout, ws.log.out), (process.stderr, ws.log.err)],), daemon=True
    )
    pump.start()
    try:
        while process.poll() is None:
            reason = ws.should_stop()
            if reason:
                raise BuildStopped(reason)
            time.sleep(0.05)
    finally:
        stop_group(process)  # unshare ends; --kill-child takes the namespace's PID 1, and all with it
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
