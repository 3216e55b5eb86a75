"""A post-build command check runs in the staged version's own image, isolated, never on the host."""

from __future__ import annotations

import uuid

import pytest

from aibtrigger.adapters.local.gallery import LocalGallery
from aibtrigger.adapters.local.image_check import ImageCommands
from aibtrigger.adapters.local.images import busybox_image
from aibtrigger.adapters.local.layout import blob_service
from aibtrigger.adapters.local.rootfs import restamp

pytestmark = pytest.mark.azurite


@pytest.fixture
def staged(azurite, tmp_path):
    """A gallery version whose image has /etc/motd (the host's /etc/motd is beside the point)."""
    gallery = LocalGallery(blob_service(azurite.connection_string))
    archive = restamp(busybox_image(), tmp_path / "image.tar.gz", {"etc/motd": "welcome to the golden image\n"})
    subscription = f"s-{uuid.uuid4().hex[:8]}"
    image = f"/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/web"
    version_id = gallery.create_version(image, "1.0.0", archive, {"excludeFromLatest": True})
    return ImageCommands(gallery, tmp_path / "work"), version_id, tmp_path


def test_a_command_sees_the_image_and_passes_or_fails_by_its_exit_code(staged):
    check, version_id, _ = staged
    passed, detail = check(version_id, "grep -q golden /etc/motd && echo found it", 60)
    assert passed and detail.endswith("exited 0: found it")
    passed, detail = check(version_id, "test -f /etc/nginx/nginx.conf", 60)
    assert not passed and "exited 1" in detail


def test_a_command_cannot_touch_the_host_or_reach_the_network(staged):
    check, version_id, tmp_path = staged
    marker = tmp_path / "host-file"
    marker.write_text("host")
    passed, _ = check(version_id, f"test -e {marker}", 60)
    assert not passed, "the host's files are out of reach"
    passed, detail = check(version_id, "test \"$(grep -c ':' /proc/net/dev)\" = 1 && grep -q ' lo:' /proc/net/dev", 60)
    assert passed, f"offline: its own network namespace has only the loopback interface ({detail})"


def test_a_command_that_hangs_fails_at_its_timeout(staged):
    check, version_id, _ = staged
    passed, detail = check(version_id, "sleep 600", 2)
    assert not passed and "did not finish within 2 s" in detail


def test_a_missing_version_fails_the_check_with_the_reason(staged):
    check, version_id, _ = staged
    passed, detail = check(version_id.replace("1.0.0", "9.9.9"), "true", 60)
    assert not passed and "could not run" in detail and "9.9.9" in detail
