"""Base root filesystems for the local marketplace, made once per machine and cached.

  debian[:SUITE]  a Debian minbase made by `debootstrap` from Debian's registry (the default image;
                  a few minutes the first time), cached as <cache>/<suite>-<arch>.tar.gz
  busybox         busybox-static and its applets, a few MB and a second to make: for fast tests
  PATH            any rootfs tarball of your own (.tar or .tar.gz)
The setting AIBTRIGGER_LOCAL_IMAGE picks the default; the cache is AIBTRIGGER_ROOTFS_CACHE or
~/.cache/aibtrigger/rootfs. Each image is made under a lock, so concurrent builders make it once.
"""

from __future__ import annotations

import fcntl
import os
import platform
import re
import shutil
import struct
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from aibtrigger.adapters.local.rootfs import check_rootfs, pack

IMAGE_SETTING = "AIBTRIGGER_LOCAL_IMAGE"
CACHE_SETTING = "AIBTRIGGER_ROOTFS_CACHE"
MIRROR_SETTING = "AIBTRIGGER_DEBIAN_MIRROR"
DEFAULT_SUITE = "bookworm"
BUSYBOX_BINARIES = (Path("/usr/bin/busybox"), Path("/bin/busybox"))  # where Debian's busybox-static puts it
PT_INTERP = 3  # an ELF program header naming the dynamic loader: not runnable in an image without libc
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "ppc64le": "ppc64el", "s390x": "s390x"}


class ImageError(Exception):
    """A base image cannot be made; the message says what is missing."""


def base_image(choice: str | None = None) -> Path:
    """The tarball `choice` names (default: the AIBTRIGGER_LOCAL_IMAGE setting, else debian)."""
    choice = choice or os.environ.get(IMAGE_SETTING) or "debian"
    if choice == "busybox":
        return busybox_image()
    if choice == "debian" or choice.startswith("debian:"):
        suite = choice.partition(":")[2] or DEFAULT_SUITE
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,30}", suite):
            raise ImageError(f"{IMAGE_SETTING}={choice!r}: {suite!r} is not a Debian suite name (e.g. bookworm)")
        return debian_image(suite)
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ImageError(f"{IMAGE_SETTING}={choice!r}: expected debian, debian:SUITE, busybox or a rootfs tarball")
    return check_rootfs(path)


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_SETTING)
    base = (
        Path(configured)
        if configured
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aibtrigger" / "rootfs"
    )
    base.mkdir(parents=True, exist_ok=True)
    return base


def debian_arch() -> str:
    machine = platform.machine()
    if machine not in _ARCH:
        raise ImageError(f"no Debian architecture known for this machine ({machine})")
    return _ARCH[machine]


def debian_image(suite: str = DEFAULT_SUITE) -> Path:
    target = cache_dir() / f"{suite}-{debian_arch()}.tar.gz"
    with _made_once(target) as partial:
        if partial:
            debootstrap = _tool("debootstrap", "debootstrap")
            mirror = os.environ.get(MIRROR_SETTING) or "http://deb.debian.org/debian"
            with tempfile.TemporaryDirectory(dir=target.parent) as work:
                root = Path(work) / "root"
                result = subprocess.run(
                    [debootstrap, "--variant=minbase", f"--arch={debian_arch()}", suite, str(root), mirror],
                    capture_output=True,
                    text=True,
                )
                if result.returncode != 0:
                    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
                    raise ImageError(f"debootstrap {suite} from {mirror} failed:\n{tail}")
                _forget_the_host(root)
                pack(root, partial)
    return target


def _forget_the_host(root: Path) -> None:
    """debootstrap copies the host's hostname and resolv.conf in; a build gets its own (the DNS
    settings are lent read-only while it runs). Package lists are stale the next day: apt-get update."""
    (root / "etc/hostname").write_text("localhost\n")
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n")
    for lists in (root / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()


def busybox_image() -> Path:
    target = cache_dir() / f"busybox-{debian_arch()}.tar.gz"
    with _made_once(target) as partial:
        if partial:
            binary = _static_busybox()
            with tempfile.TemporaryDirectory(dir=target.parent) as work:
                pack(_busybox_tree(binary, Path(work) / "root"), partial)
    return target


def _busybox_tree(binary: Path, root: Path) -> Path:
    for folder in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "proc", "dev", "var/log", "home"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(binary, root / "bin/busybox")
    applets = subprocess.run([binary, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = root / applet
        if not link.exists() and applet != "bin/busybox":
            link.symlink_to("/bin/busybox")
    files = {
        "etc/os-release": 'NAME="BusyBox"\nID=busybox\nPRETTY_NAME="BusyBox (aibtrigger test image)"\n',
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
        "etc/group": "root:x:0:\n",
        "etc/hostname": "localhost\n",
        "etc/resolv.conf": "",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def _static_busybox() -> Path:
    """A statically linked busybox (Debian's `busybox` package is dynamic: useless in an empty image)."""
    for attempt in range(2):
        found = next((path for path in BUSYBOX_BINARIES if path.is_file() and is_static_elf(path)), None)
        if found:
            return found
        if attempt == 0 and os.geteuid() == 0 and shutil.which("apt-get"):
            subprocess.run(["apt-get", "install", "-y", "-q", "busybox-static"], capture_output=True, text=True)
    raise ImageError(
        "the busybox image needs a statically linked busybox: install the Debian package "
        "busybox-static (apt-get install busybox-static)"
    )


def is_static_elf(path: Path) -> bool:
    with open(path, "rb") as handle:
        header = handle.read(64)
        if header[:4] != b"\x7fELF":
            return False
        order = "<" if header[5] == 1 else ">"
        wide = header[4] == 2  # ELFCLASS64: where the program header table is said differs
        offset = struct.unpack(order + ("Q" if wide else "I"), header[32:40] if wide else header[28:32])[0]
        size, count = struct.unpack(order + "HH", header[54:58] if wide else header[42:46])
        handle.seek(offset)
        for _ in range(count):
            if struct.unpack(order + "I", handle.read(size)[:4])[0] == PT_INTERP:
                return False
    return True


def _tool(command: str, package: str) -> str:
    """The tool's path; installed with apt-get when missing and we may (root on Debian/Ubuntu)."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", package], capture_output=True, text=True)
        found = shutil.which(command)
    if not found:
        raise ImageError(
            f"`{command}` is needed to make the local base image: install the Debian package "
            f"{package} (apt-get install {package})"
        )
    return found


@contextmanager
def _made_once(target: Path):
    """Yields where to write `target` when it must be made (else None), holding a lock meanwhile so
    others wait, then reuse it. It appears under its name only once complete."""
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if target.exists():
                yield None
                return
            partial = target.with_name(target.name + ".partial")
            yield partial
            partial.replace(target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
