"""Image artifacts: a tar.gz of a tiny root filesystem stands in for a VM disk.

The local "build VM" is a directory; customizers address it through $IMAGE_ROOT.
"""
from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path


def os_release(*, name: str, version_id: str, image_version: str, pretty: str) -> str:
    return (f'NAME="{name}"\nVERSION_ID="{version_id}"\nPRETTY_NAME="{pretty}"\n'
            f'IMAGE_VERSION="{image_version}"\n')


def archive_from_files(files: dict[str, str]) -> bytes:
    """A tar.gz holding `files` (relative path -> text), with the folders they need."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        folders: set[str] = set()
        for path in sorted(files):
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in folders:
                    folders.add(folder)
                    info = tarfile.TarInfo(f"./{folder}")
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
                    tar.addfile(info)
            data = files[path].encode("utf-8")
            info = tarfile.TarInfo("./" + "/".join(parts))
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pack(root: Path, archive: Path) -> Path:
    """Archive the contents of `root` (not the folder itself) into `archive`."""
    with tarfile.open(archive, mode="w:gz") as tar:
        for child in sorted(root.iterdir()):
            tar.add(child, arcname=f"./{child.name}")
    return archive


def unpack(archive: Path, root: Path) -> Path:
    """Extract with tarfile's 'data' filter: no absolute paths, no `..`, no links leaving `root`,
    no device files. An artifact never writes outside its workspace."""
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="r:gz") as tar:
        tar.extractall(root, filter="data")
    return root


def read_member(archive: Path, path: str) -> str | None:
    """One file's text from an artifact (None when absent): how tests and tools look inside."""
    wanted = path.strip("/")
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.removeprefix("./").lstrip("/") == wanted:
                handle = tar.extractfile(member)
                return handle.read().decode("utf-8", errors="replace") if handle else None
    return None
