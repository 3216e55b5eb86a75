"""Image artifacts: a root filesystem as a tar.gz (what the local marketplace and gallery hold).

Owners, modes (setuid, sticky /tmp), links and device nodes are kept as they are: it is an
operating system, not a bag of data files. Paths that would leave the target are still refused.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

FAST = 1  # gzip level of captured images: speed matters more than a few percent of size


def os_release(*, name: str, version_id: str, image_version: str, pretty: str) -> str:
    return f'NAME="{name}"\nVERSION_ID="{version_id}"\nPRETTY_NAME="{pretty}"\nIMAGE_VERSION="{image_version}"\n'


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
    """Archive the contents of `root` (not the folder itself) into `archive`; links stay links."""
    with tarfile.open(archive, mode="w:gz", compresslevel=FAST) as tar:
        for child in sorted(root.iterdir()):
            tar.add(child, arcname=f"./{child.name}")
    return archive


def check_rootfs(path: Path) -> Path:
    """`path`, when it is a tar archive (plain or compressed); else a ValueError saying what it is not."""
    if not Path(path).is_file():
        raise ValueError(f"rootfs tarball {path}: no such file")
    if not tarfile.is_tarfile(path):
        raise ValueError(f"rootfs tarball {path}: not a tar archive (.tar, .tar.gz, .tar.xz)")
    return Path(path)


def restamp(base: Path, archive: Path, files: dict[str, str]) -> Path:
    """`base` (a .tar or .tar.gz rootfs) with `files` (relative path -> text) put in or replaced."""
    replaced = {f"./{name.strip('/')}" for name in files}
    now = time.time()
    with tarfile.open(base, mode="r:*") as source, tarfile.open(archive, mode="w:gz", compresslevel=FAST) as tar:
        for member in source:
            if "./" + member.name.removeprefix("./").lstrip("/") in replaced:
                continue
            tar.addfile(member, source.extractfile(member) if member.isreg() else None)
        for name in sorted(files):
            data = files[name].encode("utf-8")
            info = tarfile.TarInfo(f"./{name.strip('/')}")
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return archive


def read_text(archive: Path, path: str, *, hops: int = 5) -> str | None:
    """A file's text from a rootfs tarball, following symbolic links inside it (etc/os-release is
    one in Debian); None when absent."""
    wanted = path.strip("/")
    with tarfile.open(archive, mode="r:*") as tar:
        for member in tar:
            if member.name.removeprefix("./").lstrip("/") != wanted:
                continue
            if member.issym() and hops:
                target = (
                    member.linkname
                    if member.linkname.startswith("/")
                    else f"{wanted.rsplit('/', 1)[0]}/{member.linkname}"
                    if "/" in wanted
                    else member.linkname
                )
                return read_text(archive, _normal(target), hops=hops - 1)
            handle = tar.extractfile(member) if member.isreg() else None
            return handle.read().decode("utf-8", errors="replace") if handle else None
    return None


def _normal(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts = parts[:-1]
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def unpack(archive: Path, root: Path) -> Path:
    """Extract a root filesystem into `root`: absolute paths, `..` and links leaving `root` are
    refused (tarfile's 'tar' filter), but modes are kept whole (setuid, sticky /tmp), and owners
    by number, never mapped through the host's user names."""
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="r:*") as tar:
        tar.extractall(root, filter=_rootfs_filter, numeric_owner=True)
    return root


def _rootfs_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    checked = tarfile.tar_filter(member, dest)  # raises on a member whose path would leave `dest`
    if member.islnk():  # 'tar' leaves hard links alone, and one to /etc/shadow would be the host's file
        real_dest = os.path.realpath(dest)
        target = os.path.realpath(os.path.join(real_dest, member.linkname))
        if os.path.isabs(member.linkname) or os.path.commonpath([target, real_dest]) != real_dest:
            raise tarfile.LinkOutsideDestinationError(member, target)
    # Symbolic links may point anywhere: they are resolved inside the image, by the build.
    return checked.replace(mode=member.mode, deep=False)


def read_member(archive: Path, path: str) -> str | None:
    """One file's text from an artifact (None when absent): how tests and tools look inside."""
    wanted = path.strip("/")
    with tarfile.open(archive, mode="r:*") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.removeprefix("./").lstrip("/") == wanted:
                handle = tar.extractfile(member)
                return handle.read().decode("utf-8", errors="replace") if handle else None
    return None
