"""A build's "VM": the unpacked image as `/`, in its own Linux namespaces (util-linux `unshare`).

Mount, PID, UTS and IPC namespaces always; network too when the build is offline. Inside, PID 1 is
sandbox_init.py: it mounts the image's /proc and a minimal /dev, pivots into the image and detaches
the host's root, then runs the command as root with a clean environment. The host's files,
processes and environment are out of reach; killing `unshare` (its own process group) kills PID 1
(--kill-child), and with it every process of the namespace.

Where namespaces cannot be made, `require_namespaces` says so before anything runs: a build never
falls back to running on the host.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

INIT = Path(__file__).with_name("sandbox_init.py")
HOSTNAME = "aib-build"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What a script sees, and nothing of the builder's own environment (which holds the storage key).
SCRIPT_ENV = {
    "PATH": PATH,
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "LANG": "C.UTF-8",
    "PACKER_BUILD_NAME": "azure-arm",
    "PACKER_BUILDER_TYPE": "azure-arm",
}


class SandboxError(Exception):
    """The build's namespaces cannot be made; the message says why and what would fix it."""


@dataclass(frozen=True)
class Sandbox:
    root: Path
    network: bool = True

    def command(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        """The host command that runs `argv` (a path inside the image) as root inside the image."""
        spec = {
            "root": str(self.root.resolve()),
            "argv": argv,
            "env": {**SCRIPT_ENV, **(env or {})},
            "hostname": HOSTNAME,
            "resolv_conf": "/etc/resolv.conf" if self.network else None,
        }
        return [*unshare_prefix(network=self.network), sys.executable, "-I", str(INIT), json.dumps(spec)]

    def shell(self, script: str, *args: str) -> list[str]:
        """`script` run by the image's own /bin/sh, with `args` as $1..."""
        return self.command(["/bin/sh", "-c", script, "sh", *args])


def unshare_prefix(*, network: bool) -> list[str]:
    namespaces = ["--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child=SIGKILL"]
    return [_unshare(), *namespaces, *([] if network else ["--net"]), "--"]


def _unshare() -> str:
    found = shutil.which("unshare")
    if not found:
        raise SandboxError(
            "local builds run in Linux namespaces, and `unshare` (util-linux) is not installed: install util-linux"
        )
    return found


@functools.lru_cache(maxsize=1)
def _probe() -> str | None:
    """None when namespaces can be made here, else why not (checked once per process)."""
    if not sys.platform.startswith("linux"):
        return f"local builds need Linux namespaces; this is {sys.platform}"
    try:
        result = subprocess.run(
            [*unshare_prefix(network=False), "/bin/true"], capture_output=True, text=True, timeout=30, env={}
        )
    except (OSError, subprocess.TimeoutExpired, SandboxError) as exc:
        return str(exc)
    if result.returncode != 0:
        return (result.stderr.strip() or f"unshare exited {result.returncode}") + (
            "" if os.geteuid() == 0 else " (the local builder must run as root to create namespaces)"
        )
    return None


def require_namespaces() -> None:
    """Raise SandboxError, up front, when this machine cannot isolate a build."""
    why = _probe()
    if why:
        raise SandboxError(
            f"cannot isolate the build in Linux namespaces ({why}); the local backend never runs "
            "a template's scripts on the host"
        )
