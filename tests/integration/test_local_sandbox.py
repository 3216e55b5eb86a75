"""The build "VM" without the backend around it: root filesystem tarballs, the sandbox, its steps.

Real namespaces on an unpacked busybox image; no Azurite.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import threading
import time
from pathlib import Path

import pytest

from aibtrigger.adapters.local import generalize
from aibtrigger.adapters.local.images import busybox_image
from aibtrigger.adapters.local.marketplace import stamped_os_release
from aibtrigger.adapters.local.rootfs import pack, read_member, read_text, restamp, unpack
from aibtrigger.adapters.local.steps import BuildStopped, Workspace, run_file, run_shell
from aibtrigger.catalog import FileCustomizer, ShellCustomizer


class Lines:
    """A PackerLog stand-in that keeps what the step wrote (the real one needs blob storage)."""

    def __init__(self):
        self.lines: list[str] = []

    def ui(self, text):
        self.lines.append(f"ui {text}")

    def out(self, text):
        self.lines.append(f"out {text}")

    def err(self, text):
        self.lines.append(f"err {text}")


@pytest.fixture
def ws(tmp_path) -> Workspace:
    root = unpack(busybox_image(), tmp_path / "rootfs")
    (tmp_path / "ws").mkdir()
    return Workspace(root=root, folder=tmp_path / "ws", catalog_dir=tmp_path, log=Lines(), should_stop=lambda: None)


def shell(*inline: str) -> ShellCustomizer:
    return ShellCustomizer(type="Shell", name="t", inline=list(inline))


def test_a_file_written_through_an_absolute_link_lands_in_the_image_not_on_the_host(ws, tmp_path):
    outside = tmp_path / "host-folder"
    outside.mkdir()
    (ws.root / "escape").symlink_to(outside)  # on the host this would name host-folder
    (ws.root / str(outside).lstrip("/")).mkdir(parents=True)  # in the image, the same path exists too
    (tmp_path / "app.conf").write_text("listen = 8080\n")
    run_file(FileCustomizer(type="File", sourceUri="app.conf", destination="/escape/app.conf"), ws)
    assert not (outside / "app.conf").exists()
    assert (ws.root / str(outside).lstrip("/") / "app.conf").read_text() == "listen = 8080\n"


def test_a_destination_ending_in_a_slash_is_a_folder_as_in_packer(ws, tmp_path):
    (tmp_path / "app.conf").write_text("x\n")
    run_file(FileCustomizer(type="File", sourceUri="app.conf", destination="/etc/app/"), ws)
    assert (ws.root / "etc/app/app.conf").read_text() == "x\n"


def test_sudo_works_in_an_image_without_it_and_the_shim_goes_before_capture(ws):
    generalize.add_sudo(ws)
    run_shell(
        shell(
            "sudo -u root -E sh -c 'echo as $(id -u) > /etc/who'",
            "echo x | sudo tee -a /etc/who",
            "sudo DEBUG=1 env | grep -q '^DEBUG=1$'",
        ),
        ws,
    )
    assert (ws.root / "etc/who").read_text() == "as 0\nx\n"
    generalize.drop_sudo(ws)
    assert not (ws.root / "usr/local/bin/sudo").exists()


def test_root_inside_keeps_only_the_capabilities_for_installing_software(ws):
    from aibtrigger.adapters.local.sandbox_init import KEPT_CAPABILITIES

    os.mknod(ws.root / "root/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))  # harmless if it opened
    run_shell(
        shell(
            "grep CapBnd /proc/self/status",
            "id -u",
            "chown 12:34 /etc/passwd && echo chowned",
            "echo x > /root/null 2>/dev/null && echo 'OPENED a device node'; true",
        ),
        ws,
    )
    out = [line[4:] for line in ws.log.lines if line.startswith("out ")]
    bounding = int(next(line for line in out if line.startswith("CapBnd:")).split()[1], 16)
    assert bounding == sum(1 << number for number in KEPT_CAPABILITIES.values())
    assert "0" in out and "chowned" in out
    assert "OPENED a device node" not in out


def test_canceling_a_step_ends_every_process_of_its_namespace(ws):
    stop = threading.Event()
    ws.should_stop = lambda: "canceled" if stop.is_set() else None
    marker = f"sleep 47{os.getpid()}"
    threading.Timer(1.0, stop.set).start()
    with pytest.raises(BuildStopped):
        run_shell(shell(f"{marker}1 &", f"{marker}2"), ws)
    time.sleep(0.5)
    running = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                running.append(proc.name)
        except OSError:
            pass
    assert not running


def test_unpack_keeps_modes_owners_and_device_nodes(tmp_path):
    source = tmp_path / "src"
    (source / "tmp").mkdir(parents=True)
    (source / "tmp").chmod(0o1777)
    (source / "usr/bin").mkdir(parents=True)
    (source / "usr/bin/su").write_text("#!/bin/sh\n")
    os.chown(source / "usr/bin/su", 0, 42)  # before chmod: a chown clears the setuid bit
    (source / "usr/bin/su").chmod(0o4755)
    (source / "etc").mkdir()
    (source / "etc/localtime").symlink_to("/usr/share/zoneinfo/UTC")  # absolute: resolved inside the image
    os.mknod(source / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    root = unpack(pack(source, tmp_path / "a.tar.gz"), tmp_path / "out")
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    assert stat.S_IMODE((root / "usr/bin/su").stat().st_mode) == 0o4755 and (root / "usr/bin/su").stat().st_gid == 42
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert stat.S_ISCHR((root / "null").lstat().st_mode)


@pytest.mark.parametrize(
    "member",
    [
        dict(name="./x", type=tarfile.LNKTYPE, linkname="/etc/hostname"),  # a hard link to a host file
        dict(name="./x", type=tarfile.LNKTYPE, linkname="../../etc/hostname"),
        dict(name="../x", type=tarfile.REGTYPE),
    ],
)
def test_unpack_refuses_members_that_reach_outside(tmp_path, member):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo(member["name"])
        info.type, info.linkname = member["type"], member.get("linkname", "")
        tar.addfile(info, io.BytesIO(b"") if member["type"] == tarfile.REGTYPE else None)
    with pytest.raises(tarfile.FilterError):
        unpack(archive, tmp_path / "out")


def test_an_absolute_member_lands_inside(tmp_path):
    archive = tmp_path / "abs.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo(f"/{tmp_path.name}-absolute")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    assert (unpack(archive, tmp_path / "out") / f"{tmp_path.name}-absolute").read_text() == "hi"
    assert not Path(f"/{tmp_path.name}-absolute").exists()


def test_a_symlink_in_the_archive_cannot_carry_later_members_outside(tmp_path):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("./etc")
        link.type, link.linkname = tarfile.SYMTYPE, str(tmp_path / "host-etc")
        tar.addfile(link)
        tar.addfile(tarfile.TarInfo("./etc/passwd"), io.BytesIO(b""))
    (tmp_path / "host-etc").mkdir()
    with pytest.raises(tarfile.FilterError):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "host-etc" / "passwd").exists()


def test_restamp_replaces_files_and_read_text_follows_links_inside(tmp_path):
    source = tmp_path / "src"
    (source / "usr/lib").mkdir(parents=True)
    (source / "etc").mkdir()
    (source / "usr/lib/os-release").write_text('ID=debian\nIMAGE_VERSION="old"\n')
    (source / "etc/os-release").symlink_to("../usr/lib/os-release")
    base = pack(source, tmp_path / "base.tar.gz")
    assert read_text(base, "etc/os-release") == 'ID=debian\nIMAGE_VERSION="old"\n'
    text = stamped_os_release(read_text(base, "etc/os-release"), "1.2.3", name="x", release="1.2", pretty="x")
    assert text == 'ID=debian\nIMAGE_VERSION="1.2.3"\n'
    stamped = restamp(base, tmp_path / "new.tar.gz", {"etc/os-release": text, "etc/issue": "hi\n"})
    assert read_member(stamped, "etc/os-release") == text and read_member(stamped, "etc/issue") == "hi\n"
    assert read_member(stamped, "usr/lib/os-release") == 'ID=debian\nIMAGE_VERSION="old"\n'


def test_image_choices_that_are_not_images_are_refused_by_name(tmp_path):
    from aibtrigger.adapters.local.images import ImageError, base_image
    from aibtrigger.adapters.local.rootfs import check_rootfs

    with pytest.raises(ImageError, match="not a Debian suite name"):
        base_image("debian:../../etc")
    with pytest.raises(ImageError, match="expected debian, debian:SUITE, busybox or a rootfs tarball"):
        base_image(str(tmp_path / "missing.tar"))
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="not a tar archive"):
        check_rootfs(tmp_path / "notes.txt")


def test_only_a_statically_linked_busybox_makes_the_busybox_image():
    import sys

    from aibtrigger.adapters.local.images import BUSYBOX_BINARIES, is_static_elf

    assert any(is_static_elf(path) for path in BUSYBOX_BINARIES if path.is_file())  # busybox-static
    assert not is_static_elf(Path(os.path.realpath(sys.executable)))  # Python needs its loader and libc
