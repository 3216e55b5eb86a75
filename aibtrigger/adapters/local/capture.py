"""Capture: the customized root filesystem as a tarball, and as a raw ext4 disk image when asked.

Each artifact carries its SHA-256 and size, which the gallery version's metadata records.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aibtrigger.adapters.local.rootfs import pack

ROOTFS_NAME = "image.tar.gz"
DISK_NAME = "disk.ext4"


class CaptureError(Exception):
    """The image could not be captured; the message says why."""


@dataclass(frozen=True)
class Artifact:
    name: str  # its file name in the gallery version
    path: Path
    format: str  # rootfs-tar-gzip | raw-ext4
    sha256: str
    size: int

    def describe(self) -> dict:
        return {"name": self.name, "format": self.format, "sha256": self.sha256, "size": self.size}


def capture(root: Path, folder: Path, *, disk: bool) -> list[Artifact]:
    artifacts = [artifact_of(pack(root, folder / ROOTFS_NAME), "rootfs-tar-gzip")]
    if disk:
        artifacts.append(artifact_of(ext4_image(root, folder / DISK_NAME), "raw-ext4"))
    return artifacts


def ext4_image(root: Path, image: Path) -> Path:
    """`mkfs.ext4 -d`: a raw disk image holding `root`, sized to it with room for metadata."""
    mkfs = shutil.which("mkfs.ext4")
    if not mkfs:
        raise CaptureError("a raw ext4 image was asked for, and mkfs.ext4 is not installed (Debian: e2fsprogs)")
    megabytes = _size_of(root) * 5 // 4 // 2**20 + 64
    with open(image, "wb") as handle:
        handle.truncate(megabytes * 2**20)
    result = subprocess.run(
        [mkfs, "-q", "-F", "-L", "aib-root", "-d", str(root), str(image)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise CaptureError(f"mkfs.ext4 failed: {result.stderr.strip()[-300:]}")
    return image


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_of(path: Path, kind: str) -> Artifact:
    return Artifact(path.name, path, kind, sha256_of(path), path.stat().st_size)


def _size_of(root: Path) -> int:
    total = 0
    for folder, dirs, files in os.walk(root):
        for name in files + dirs:
            total += os.lstat(os.path.join(folder, name)).st_blocks * 512 + 256  # + an inode's worth
    return total
