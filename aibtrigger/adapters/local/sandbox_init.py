"""PID 1 of a build's namespaces: makes the image the root, then runs one command in it.

Started by sandbox.py as `unshare --mount --uts --ipc --pid --fork ... python -I sandbox_init.py SPEC`,
so it runs in fresh namespaces but still sees the host's files. It mounts the image's own /proc and
a minimal /dev, pivots into the image and detaches the host's root (after which no host path exists
for anything in here), then runs the command with the environment SPEC gives and nothing else.
When it exits, the kernel kills whatever the command left running in the PID namespace.

Standard library only, and everything imported before the pivot: afterwards the host's Python
files are out of reach.
"""

import ctypes
import errno
import json
import os
import platform
import signal
import socket
import stat
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MNT_DETACH = 2
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}
PR_CAPBSET_DROP = 24
# Root inside keeps only what installing software takes: Docker's default set without MKNOD,
# NET_RAW and NET_BIND_SERVICE (the build may share the host's network). Everything else goes from
# the bounding set, so no setuid program gets it back: no mounts (the host's disks), no
# open_by_handle_at (DAC_READ_SEARCH: any inode of the host filesystem the image lives on), no raw
# I/O, modules, reboot, clock, network admin, ptrace, immutable files the host could not delete.
KEPT_CAPABILITIES = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_SYS_CHROOT": 18,
    "CAP_AUDIT_WRITE": 29,
    "CAP_SETFCAP": 31,
}
# Kernel-wide settings under /proc: read-only inside (they are not namespaced).
READ_ONLY_PROC = ("sys", "sysrq-trigger", "bus", "fs", "irq")
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _folder(path: str) -> str:
    """A mount point inside the image: an existing folder, or one made (never through a symlink)."""
    if os.path.islink(path):
        raise OSError(errno.ELOOP, f"{path} is a symbolic link in the image; refusing to mount over it")
    os.makedirs(path, exist_ok=True)
    return path


def minimal_dev(root: str) -> None:
    dev = _folder(root + "/dev")
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=4m")
    for name, (major, minor) in DEVICES.items():
        os.mknod(f"{dev}/{name}", stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(f"{dev}/{name}", 0o666)  # mknod applies the umask
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm", 0o1777)
    os.mkdir(f"{dev}/pts", 0o755)


def read_only(path: str) -> None:
    mount(path, path, None, MS_BIND | MS_REC)
    mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def proc(root: str) -> None:
    target = _folder(root + "/proc")
    mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in READ_ONLY_PROC:
        if os.path.exists(f"{target}/{name}"):
            read_only(f"{target}/{name}")


def share_resolver(root: str, resolv_conf: str) -> None:
    """The host's DNS settings, read-only, over the image's own file (which stays as it was): what
    a VM gets from DHCP. Only over a regular file of the image: never follow a link it holds."""
    target = root + "/etc/resolv.conf"
    inside = os.path.realpath(target).startswith(root + "/etc/")
    if not os.path.isfile(resolv_conf) or os.path.islink(target) or not os.path.isfile(target) or not inside:
        return
    mount(resolv_conf, target, None, MS_BIND)
    mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def drop_capabilities() -> None:
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last = int(handle.read())
    for number in range(last + 1):
        if number not in KEPT_CAPABILITIES.values():
            _check(_libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0), f"drop capability {number}")


def enter(root: str, spec: dict) -> None:
    mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing done here shows outside
    mount(root, root, None, MS_BIND | MS_REC)  # pivot_root needs the new root to be a mount point
    # A device node in the image (a block device of the host's disk, say) opens nothing.
    mount("none", root, None, MS_BIND | MS_REMOUNT | MS_NODEV)
    proc(root)
    minimal_dev(root)
    if spec.get("resolv_conf"):
        share_resolver(root, spec["resolv_conf"])
    socket.sethostname(spec["hostname"])
    os.chdir(root)
    _check(_libc.syscall(PIVOT_ROOT[platform.machine()], b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the host's root")  # the old root was stacked on "."
    os.chdir("/")
    drop_capabilities()


def run(argv: list[str], env: dict) -> int:
    """Fork the command, reap every orphan (PID 1's duty), return the command's exit status."""
    child = os.fork()
    if child == 0:
        try:
            os.execve(argv[0], argv, env)
        except OSError as exc:
            os.write(2, f"cannot run {argv[0]} in the image: {exc.strerror}\n".encode())
            os._exit(127)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
    while True:
        pid, status = os.wait()
        if pid == child:
            return os.waitstatus_to_exitcode(status)


def main() -> int:
    spec = json.loads(sys.argv[1])
    try:
        enter(os.path.realpath(spec["root"]), spec)
    except OSError as exc:
        print(f"aibtrigger sandbox: cannot enter the image: {exc}", file=sys.stderr)
        return 125
    code = run(spec["argv"], spec["env"])
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
