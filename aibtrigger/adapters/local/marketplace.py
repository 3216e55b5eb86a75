"""The local marketplace: platform image versions as tar.gz root filesystems in blob storage.

Publishing a version here is how a "marketplace patch" is simulated; there is no event, the
service finds it by polling, as it must in Azure. A version is a real root filesystem: the base
image (images.py: Debian minbase by default, busybox for tests, or a tarball of yours) stamped
with the version it is (IMAGE_VERSION in /etc/os-release, /etc/issue, /etc/image-source).
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aibtrigger.adapters.local.images import base_image
from aibtrigger.adapters.local.layout import MARKETPLACE_CONTAINER, container, marketplace_prefix, safe_segment
from aibtrigger.adapters.local.rootfs import check_rootfs, os_release, read_text, restamp
from aibtrigger.domain.versions import version_key

_SUFFIX = ".tar.gz"


class LocalMarketplace:
    def __init__(self, blob_service):
        self._container = container(blob_service, MARKETPLACE_CONTAINER)

    def publish(
        self,
        location: str,
        publisher: str,
        offer: str,
        sku: str,
        version: str | None = None,
        *,
        rootfs: Path | None = None,
    ) -> str:
        """Publish a new image version (default: Canonical-style `22.04.YYYYMMDDN`, always newer
        than the latest one) and return its version string. `rootfs`: the tarball to publish
        (default: the base image the AIBTRIGGER_LOCAL_IMAGE setting names)."""
        existing = self.list_versions(location, publisher, offer, sku)
        version = version or next_version(existing, f"{sku} {offer}")  # the release shows in either
        safe_segment(version, "version")
        if version in existing:
            raise ValueError(f"marketplace version {version} of {publisher}:{offer}:{sku} already exists")
        base = check_rootfs(rootfs) if rootfs else base_image()
        release = ".".join(version.split(".")[:2])
        files = {
            "etc/os-release": stamped_os_release(
                read_text(base, "etc/os-release"),
                version,
                name=offer,
                release=release,
                pretty=f"{offer} {sku} {version}",
            ),
            "etc/issue": f"{offer} {release} ({publisher}:{offer}:{sku}:{version}) \\n \\l\n",
            "etc/image-source": f"{location}/{publisher}/{offer}/{sku}/{version}\n",
        }
        name = self._blob(location, publisher, offer, sku, version)
        with tempfile.TemporaryDirectory() as work:
            artifact = restamp(base, Path(work) / "image.tar.gz", files)
            with open(artifact, "rb") as handle:
                self._container.upload_blob(name, handle, overwrite=False)
        return version

    def list_versions(self, location: str, publisher: str, offer: str, sku: str) -> list[str]:
        """Every published version, oldest first (numeric comparison of dotted parts)."""
        prefix = marketplace_prefix(location, publisher, offer, sku)
        names = (blob.name[len(prefix) :] for blob in self._container.list_blobs(name_starts_with=prefix))
        versions = [n[: -len(_SUFFIX)] for n in names if n.endswith(_SUFFIX) and "/" not in n]
        return sorted(versions, key=version_key)

    def latest_version(self, location: str, publisher: str, offer: str, sku: str) -> str | None:
        versions = self.list_versions(location, publisher, offer, sku)
        return versions[-1] if versions else None

    def download(self, location: str, publisher: str, offer: str, sku: str, version: str, dest_dir: Path) -> Path:
        """Save the version's artifact under dest_dir and return its path."""
        from azure.core.exceptions import ResourceNotFoundError

        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / f"{version}{_SUFFIX}"
        try:
            stream = self._container.download_blob(self._blob(location, publisher, offer, sku, version))
        except ResourceNotFoundError:
            raise LookupError(
                f"marketplace image {publisher}:{offer}:{sku}:{version} not found in {location}"
            ) from None
        with open(target, "wb") as handle:
            stream.readinto(handle)
        return target

    @staticmethod
    def _blob(location: str, publisher: str, offer: str, sku: str, version: str) -> str:
        return marketplace_prefix(location, publisher, offer, sku) + safe_segment(version, "version") + _SUFFIX


def stamped_os_release(base: str | None, version: str, *, name: str, release: str, pretty: str) -> str:
    """The base image's os-release with IMAGE_VERSION set (a synthetic one when it has none)."""
    if not base:
        return os_release(name=name, version_id=release, image_version=version, pretty=pretty)
    kept = [line for line in base.splitlines() if line and not line.startswith("IMAGE_VERSION=")]
    return "\n".join([*kept, f'IMAGE_VERSION="{version}"']) + "\n"


def next_version(existing: list[str], names: str, today: datetime | None = None) -> str:
    """Canonical's scheme `<release>.<YYYYMMDD><N>`: the release is taken from the latest version
    (else from the sku or offer in `names`, '22_04-lts' -> 22.04), N counts builds of the day. Always strictly newer
    than every existing version, even one dated in the future."""
    latest = max(existing, key=version_key) if existing else None
    if latest and len(latest.split(".")) >= 2:
        release = ".".join(latest.split(".")[:2])
    else:
        found = re.search(r"(\d+)[._-](\d+)", names)
        release = f"{found.group(1)}.{found.group(2)}" if found else "1.0"
    candidate = f"{release}.{int((today or datetime.now(UTC)).strftime('%Y%m%d')) * 10}"
    if latest and version_key(candidate) <= version_key(latest):
        parts = latest.split(".")
        same_shape = len(parts) == 3 and parts[2].isdigit() and latest.startswith(release + ".")
        candidate = f"{release}.{int(parts[2]) + 1}" if same_shape else f"{latest}.1"
    return candidate
