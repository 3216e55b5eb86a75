"""Local builds happen inside the image, never on the host: hostile templates, deprovisioning, capture.

Real Azurite, real builder processes, real namespaces, the busybox image (a few seconds a build).
Isolation is checked by what a build can see and what it leaves, never by signalling everything:
if isolation were broken, that would hit the host.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from aibtrigger.adapters.local.backend import LocalBackend
from aibtrigger.adapters.local.gallery import LocalGallery
from aibtrigger.adapters.local.layout import blob_service
from aibtrigger.adapters.local.marketplace import LocalMarketplace
from aibtrigger.adapters.local.rootfs import read_member
from aibtrigger.adapters.local.sandbox import SCRIPT_ENV
from aibtrigger.catalog import load_catalog
from aibtrigger.domain.model import RunState
from tests.waiting import wait_until

pytestmark = pytest.mark.azurite
REPO = Path(__file__).resolve().parents[2]
SHELL_VARIABLES = {"PWD", "SHLVL", "_", "OLDPWD"}


def hostile_steps(unique: str, host_paths: list[str]) -> list[str]:
    return [
        f"echo hostile > /etc/hostile-{unique}",
        f"echo hostile > /tmp/hostile-{unique}",
        "env | sort | sed 's/^/ENV /'",
        'for p in /proc/[0-9]*; do echo "PROC ${p#/proc/} $(cat $p/comm)"; done',
        *[f"if [ -e '{path}' ]; then echo 'REACHED {path}'; fi" for path in host_paths],
        "find / -xdev -iname '*azurite*' | sed 's/^/FOUND /'",
        'echo "HOSTNAME $(hostname)"',
        # Harmless even if they worked: a mount in the build's own namespace, a node in its /tmp.
        "mkdir -p /mnt/probe; mount -t tmpfs probe /mnt/probe 2>/dev/null && echo 'MOUNTED a filesystem'",
        "mknod /tmp/disk b 8 0 2>/dev/null && echo 'MADE a device node'",
        "grep ' /proc/sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1 | sed 's/^/PROCSYS /'",
        f"sleep 3{unique[:6].translate(str.maketrans('abcdef', '123456'))} &",  # must not outlive the step
    ]


class Builds:
    """A catalog of the given templates over the busybox image, and a backend to build them."""

    def __init__(self, azurite, unique: str, tmp_path: Path, templates: list[dict], *, rootfs: Path | None = None):
        self.unique, self.tmp = unique, tmp_path
        self.service = blob_service(azurite.connection_string)
        self.gallery = LocalGallery(self.service)
        self.sku = f"iso-{unique}"
        LocalMarketplace(self.service).publish("westeurope", "Debian", "busybox", self.sku, rootfs=rootfs)
        catalog_path = tmp_path / "catalog.yaml"
        catalog_path.write_text(yaml.safe_dump({"templates": [self._entry(t) for t in templates]}))
        self.backend = LocalBackend(
            load_catalog(catalog_path),
            connection_string=azurite.connection_string,
            catalog_path=catalog_path,
            workdir=tmp_path / "work",
        )

    def image_id(self, name: str) -> str:
        return (
            f"/subscriptions/sub-{self.unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/{name}"
        )

    def _entry(self, template: dict) -> dict:
        name = template["name"]
        definition = {
            "source": {
                "type": "PlatformImage",
                "publisher": "Debian",
                "offer": "busybox",
                "sku": self.sku,
                "version": "latest",
            },
            "customize": [{"type": "Shell", "name": name, "inline": template["inline"]}],
            "distribute": [{"type": "SharedImage", "runOutputName": name, "galleryImageId": self.image_id(name)}],
        }
        if "validate" in template:
            definition["validate"] = {"inVMValidations": [{"type": "Shell", "inline": template["validate"]}]}
        return {"name": f"{name}-{self.unique}", "location": "westeurope", "definition": definition}

    def build(self, name: str, *, timeout: float = 120.0):
        template = f"{name}-{self.unique}"
        self.backend.start_run(template)
        status = wait_until(
            lambda: (s := self.backend.get_status(template)).run_state.is_terminal and s,
            f"{template} to end",
            timeout=timeout,
        )
        return status, self.backend.read_log(template) or ""

    def output(self, name: str, file: str = "image.tar.gz") -> tuple[dict, Path]:
        [output] = self.backend.run_outputs(f"{name}-{self.unique}")
        version = self.gallery.get_version(output.artifact_id)
        return version, self.gallery.download(output.artifact_id, self.tmp / "out", file=file)


def _host_processes_with(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(proc.name))
        except OSError:
            pass
    return found


def test_a_hostile_template_changes_only_its_image_and_sees_only_its_own_processes(azurite, unique, tmp_path):
    host_paths = [
        str(REPO),
        str(REPO / ".aibtrigger"),
        str(tmp_path),
        str(Path.home() / ".cache" / "aibtrigger"),
        "/work",
    ]
    builds = Builds(azurite, unique, tmp_path, [{"name": "hostile", "inline": hostile_steps(unique, host_paths)}])
    status, log = builds.build("hostile")
    assert status.run_state is RunState.SUCCEEDED, status.message
    lines = [re.sub(r"^.*azure-arm: ", "", line) for line in log.splitlines() if " azure-arm: " in line]

    # The host is unchanged; the image holds the writes.
    assert not Path(f"/etc/hostile-{unique}").exists() and not Path(f"/tmp/hostile-{unique}").exists()
    _, archive = builds.output("hostile")
    assert read_member(archive, f"etc/hostile-{unique}") == "hostile\n"
    assert read_member(archive, f"tmp/hostile-{unique}") == "hostile\n"

    # Only the build's own processes: its PID 1, the step's shell and what that shell runs.
    processes = dict(line.split()[1:3] for line in lines if line.startswith("PROC "))
    assert "1" in processes and len(processes) <= 5, processes
    assert "node" not in processes.values()  # Azurite, running on this host right now
    # Neither the host's environment nor its files.
    variables = {line[4:].split("=", 1)[0] for line in lines if line.startswith("ENV ")}
    assert variables and variables <= set(SCRIPT_ENV) | SHELL_VARIABLES, variables
    assert not [line for line in lines if line.startswith(("REACHED", "FOUND"))]
    assert "HOSTNAME aib-build" in lines
    # Root inside, without what would reach the host's disks and kernel settings.
    assert not [line for line in lines if line.startswith(("MOUNTED", "MADE"))] and "PROCSYS ro" in lines
    sleeper = f"sleep 3{unique[:6].translate(str.maketrans('abcdef', '123456'))}"
    assert not _host_processes_with(sleeper), "the step's background process outlived its namespace"


def test_deprovisioning_runs_last_and_cleans_the_captured_image(azurite, unique, tmp_path):
    dirty = [
        "echo 0123456789abcdef > /etc/machine-id",
        "mkdir -p /etc/ssh /var/log/app",
        "echo key > /etc/ssh/ssh_host_ed25519_key",
        "echo started > /var/log/app/app.log",
        "echo 'rm -rf /' > /root/.ash_history",
        "echo kept > /etc/app-setting",
    ]
    waagent = [
        "mkdir -p /usr/sbin /var/lib",
        "printf '#!/bin/sh\\necho \"$*\" > /var/lib/waagent-ran\\n' > /usr/sbin/waagent",
        "chmod +x /usr/sbin/waagent",
    ]
    still_dirty = ["test -s /etc/machine-id", "test -s /var/log/app/app.log"]  # validation comes before
    builds = Builds(
        azurite,
        unique,
        tmp_path,
        [{"name": "dirty", "inline": dirty, "validate": still_dirty}, {"name": "agent", "inline": waagent}],
    )
    status, log = builds.build("dirty")
    assert status.run_state is RunState.SUCCEEDED, status.message
    assert "Provisioning with shell script: /tmp/DeprovisioningScript.sh" in log
    assert "waagent not found: clearing machine-id, SSH host keys, logs and shell history" in log
    _, archive = builds.output("dirty")
    assert read_member(archive, "etc/machine-id") == ""
    assert read_member(archive, "var/log/app/app.log") == ""
    assert read_member(archive, "etc/ssh/ssh_host_ed25519_key") is None
    assert read_member(archive, "root/.ash_history") is None
    assert read_member(archive, "etc/app-setting") == "kept\n"
    assert read_member(archive, "usr/local/bin/sudo") is None, "the build-time sudo shim is not shipped"
    assert read_member(archive, "tmp/DeprovisioningScript.sh") is None

    status, _ = builds.build("agent")  # an image with the Azure agent: AIB's own command
    assert status.run_state is RunState.SUCCEEDED, status.message
    _, archive = builds.output("agent")
    assert read_member(archive, "var/lib/waagent-ran") == "-force -deprovision+user\n"


def test_a_raw_ext4_image_is_captured_when_asked_with_checksums_in_the_metadata(azurite, unique, tmp_path, monkeypatch):
    monkeypatch.setenv("AIBTRIGGER_LOCAL_DISK_IMAGE", "1")  # the builder process inherits it
    builds = Builds(azurite, unique, tmp_path, [{"name": "disk", "inline": ["echo on-disk > /etc/motd"]}])
    status, _ = builds.build("disk")
    assert status.run_state is RunState.SUCCEEDED, status.message
    version, archive = builds.output("disk")
    _, disk = builds.output("disk", file="disk.ext4")
    described = {a["name"]: a for a in version["artifacts"]}
    assert described["image.tar.gz"]["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert described["disk.ext4"]["sha256"] == hashlib.sha256(disk.read_bytes()).hexdigest()
    assert described["disk.ext4"]["format"] == "raw-ext4" and described["disk.ext4"]["size"] == disk.stat().st_size
    shown = subprocess.run(["debugfs", "-R", "cat /etc/motd", str(disk)], capture_output=True, text=True)
    assert shown.stdout == "on-disk\n", shown.stderr


def test_network_off_gives_the_build_no_interface_but_loopback(azurite, unique, tmp_path, monkeypatch):
    monkeypatch.setenv("AIBTRIGGER_LOCAL_NETWORK", "off")
    step = ["sed -n '3,$p' /proc/net/dev | cut -d: -f1 | sed 's/^ */IFACE /'"]
    builds = Builds(azurite, unique, tmp_path, [{"name": "offline", "inline": step}])
    status, log = builds.build("offline")
    assert status.run_state is RunState.SUCCEEDED, status.message
    assert re.findall(r"IFACE (\S+)", log) == ["lo"]


def test_without_namespaces_the_build_fails_up_front_and_nothing_runs_on_the_host(
    azurite, unique, tmp_path, monkeypatch
):
    marker = tmp_path / "ran-on-the-host"
    builds = Builds(azurite, unique, tmp_path, [{"name": "nons", "inline": [f"touch {marker}"]}])
    no_tools = tmp_path / "no-tools"
    no_tools.mkdir()
    monkeypatch.setenv("PATH", str(no_tools))  # the builder cannot find `unshare`
    status, _ = builds.build("nons")
    assert status.run_state is RunState.FAILED
    assert "cannot isolate the build in Linux namespaces" in status.message
    assert "never runs a template's scripts on the host" in status.message
    time.sleep(0.5)
    assert not marker.exists()
    assert shutil.which("unshare", path=str(no_tools)) is None


def test_apt_installs_a_debian_package_inside_a_debootstrap_image(azurite, unique, tmp_path):
    """The default image, made by debootstrap once per machine (a few minutes the first time);
    apt reaches Debian's registry from inside the build, as it would from an Azure VM."""
    from aibtrigger.adapters.local.images import debian_image

    install = [
        "export DEBIAN_FRONTEND=noninteractive",
        "sudo apt-get update -q",
        "sudo apt-get install -y -q --no-install-recommends hello",
        "sudo rm -rf /var/lib/apt/lists/*",
    ]

    def host_has_hello():
        return subprocess.run(["dpkg", "-s", "hello"], capture_output=True).returncode == 0

    host_had_hello = host_has_hello()
    builds = Builds(
        azurite,
        unique,
        tmp_path,
        [{"name": "apt", "inline": install, "validate": ["hello -g built"]}],
        rootfs=debian_image(),
    )
    status, log = builds.build("apt", timeout=900)
    assert status.run_state is RunState.SUCCEEDED, status.message + log[-3000:]
    assert "PACKER OUT     azure-arm: built" in log  # the package's program ran in validation
    assert host_has_hello() == host_had_hello  # apt changed the image's package database, not the host's
    _, archive = builds.output("apt")
    assert read_member(archive, "usr/share/doc/hello/copyright") is not None
    assert "ID=debian" in read_member(archive, "usr/lib/os-release")
    assert read_member(archive, "etc/hostname") == "localhost\n"  # not the machine debootstrap ran on
    assert read_member(archive, "etc/resolv.conf") == ""  # the host's DNS settings were only lent
    assert read_member(archive, "var/lib/dpkg/status").count("Package: hello\n") == 1


def test_a_network_setting_that_is_neither_on_nor_off_is_refused_when_the_backend_is_made(
    azurite, tmp_path, monkeypatch
):
    from aibtrigger.errors import ConfigError

    monkeypatch.setenv("AIBTRIGGER_LOCAL_NETWORK", "sometimes")
    with pytest.raises(ConfigError, match="AIBTRIGGER_LOCAL_NETWORK='sometimes': use on or off"):
        LocalBackend(
            load_catalog(REPO / "examples" / "catalog.yaml"),
            connection_string=azurite.connection_string,
            catalog_path=REPO / "examples" / "catalog.yaml",
            workdir=tmp_path,
        )
