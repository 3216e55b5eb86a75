"""`aibtrigger try NAME`: one template built locally now, its own Azurite, the log streamed, exit 0 only
on success. Over the busybox image (the catalog's source has no version yet: the default is used)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.azurite
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("try")
    shutil.copytree(ROOT / "examples", folder / "examples")
    path = folder / "examples" / "catalog.yaml"
    catalog = yaml.safe_load(path.read_text())
    pinned = {
        "name": "pinned",
        "location": "westeurope",
        "definition": {
            "source": {
                "type": "PlatformImage",
                "publisher": "Debian",
                "offer": "debian-12",
                "sku": "12",
                "version": "0.20240101.1",
            },
            "customize": [{"type": "Shell", "inline": ["grep IMAGE_VERSION /etc/os-release"]}],
            "distribute": [{"type": "VHD", "runOutputName": "pinned"}],
        },
    }
    path.write_text(yaml.safe_dump({"templates": [*catalog["templates"], pinned]}, sort_keys=False))
    return path


def aibtrigger_try(catalog: Path, name: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIBTRIGGER_", "AzureWebJobs"))}
    return subprocess.run(
        [sys.executable, "-m", "aibtrigger.cli", "try", name, "--catalog", str(catalog), "--image", "busybox"],
        cwd=catalog.parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_try_builds_the_base_then_a_child_from_the_base_it_made(catalog):
    base = aibtrigger_try(catalog, "ubuntu-base")
    assert base.returncode == 0, base.stdout + base.stderr
    assert "PACKER OUT     azure-arm: hardening BusyBox" in base.stdout  # streamed, without the build id
    assert "Provisioning with shell script: /tmp/DeprovisioningScript.sh" in base.stdout
    assert "== ubuntu-base: Succeeded" in base.stdout
    [(path, digest)] = re.findall(r"output: (\S+) \(sha256 ([0-9a-f]{64})\)", base.stdout)
    assert (catalog.parent.parent / path).is_file()

    child = aibtrigger_try(catalog, "web-tier")  # the same try state: built on ubuntu-base's version
    assert child.returncode == 0, child.stdout + child.stderr
    assert "== source: /subscriptions/" in child.stdout and "images/ubuntu-base/versions/1.0.0" in child.stdout


def test_a_failing_template_exits_1_with_the_reason_and_the_failing_lines(catalog):
    result = aibtrigger_try(catalog, "broken-example")
    assert result.returncode == 1
    assert "== broken-example: Failed" in result.stdout
    assert "reason: Script exited with non-zero exit status: 100" in result.stdout
    assert "| E: Unable to locate package nginx-extras-does-not-exist" in result.stdout


def test_a_template_not_in_the_catalog_is_refused_by_name(catalog):
    result = aibtrigger_try(catalog, "no-such-template")
    assert result.returncode == 2 and "no-such-template" in result.stderr


def test_a_pinned_source_version_is_published_from_the_default_image_under_that_version(catalog):
    result = aibtrigger_try(catalog, "pinned")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== source: Debian:debian-12:12:0.20240101.1" in result.stdout
    assert 'PACKER OUT     azure-arm: IMAGE_VERSION="0.20240101.1"' in result.stdout
    assert "output: http://127.0.0.1:" in result.stdout  # a VHD target: the blob's URL


def test_a_rootfs_tarball_of_yours_publishes_as_a_marketplace_and_a_gallery_version(catalog, azurite, tmp_path, unique):
    from aibtrigger.adapters.local.gallery import LocalGallery
    from aibtrigger.adapters.local.images import busybox_image
    from aibtrigger.adapters.local.layout import blob_service
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.adapters.local.rootfs import read_member, restamp

    mine = restamp(busybox_image(), tmp_path / "mine.tar.gz", {"etc/mine": "yes\n"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIBTRIGGER_", "AzureWebJobs"))}
    env.update(AzureWebJobsStorage=azurite.connection_string, AIBTRIGGER_CATALOG_PATH=str(catalog))
    image_id = f"/subscriptions/sub-{unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/mine"

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "aibtrigger.cli", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    published = cli("marketplace", "publish", "--sku", f"mine-{unique}", "--rootfs", str(mine), "--json")
    assert published.returncode == 0, published.stderr
    version = json.loads(published.stdout)["version"]
    service = blob_service(azurite.connection_string)
    archive = LocalMarketplace(service).download(
        "westeurope", "Canonical", "0001-com-ubuntu-server-jammy", f"mine-{unique}", version, tmp_path / "m"
    )
    assert read_member(archive, "etc/mine") == "yes\n" and version in read_member(archive, "etc/os-release")

    added = cli("gallery", "publish", image_id, "--version", "2.0.0", "--rootfs", str(mine))
    assert added.returncode == 0, added.stderr
    assert (
        read_member(LocalGallery(service).download(f"{image_id}/versions/2.0.0", tmp_path / "g"), "etc/mine") == "yes\n"
    )
    again = cli("gallery", "publish", image_id, "--version", "2.0.0", "--rootfs", str(mine))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_without_namespaces_try_refuses_before_building(catalog, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIBTRIGGER_", "AzureWebJobs"))}
    env["PATH"] = str(tmp_path)  # no `unshare` to be found
    result = subprocess.run(
        [sys.executable, "-m", "aibtrigger.cli", "try", "ubuntu-base", "--catalog", str(catalog)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "cannot isolate the build in Linux namespaces" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / ".aibtrigger").exists()  # nothing was started
