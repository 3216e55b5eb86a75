"""Where the local backend keeps things in blob storage, and the small pure helpers around names.

Containers (created on first use):
  local-marketplace  <location>/<publisher>/<offer>/<sku>/<version>.tar.gz   marketplace image versions
  local-gallery      <s>/<rg>/<gallery>/<image>/<version>/{image.tar.gz,version.json}   gallery versions
  local-aib          templates/<name>.json   each template's run state (AIB's lastRunStatus & co.)
  local-images       <template>/<buildId>/<runOutputName>.tar.gz   ManagedImage / VHD outputs
  packerlogs         <buildId>/customization.log   the build log, as AIB writes it to staging storage
Path segments are lower-cased: Azure names and resource ids are case-insensitive.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TypedDict

MARKETPLACE_CONTAINER = "local-marketplace"
GALLERY_CONTAINER = "local-gallery"
STATE_CONTAINER = "local-aib"
IMAGES_CONTAINER = "local-images"
LOGS_CONTAINER = "packerlogs"  # AIB's name in the staging storage account
LOG_BLOB = "customization.log"

# What AIB reports as endTime while a run is still going.
ZERO_TIME = "0001-01-01T00:00:00Z"

_GALLERY_VERSION_ID = re.compile(
    r"^/subscriptions/(?P<s>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"galleries/(?P<g>[^/]+)/images/(?P<i>[^/]+)(?:/(?:image)?versions/(?P<v>[^/]+))?/?$",
    re.IGNORECASE,
)


_MIB = 2**20


def blob_service(connection_string: str):
    """A BlobServiceClient; imported lazily so importing this package stays cheap. Root filesystems
    are tens to hundreds of MB: one request up to 256 MiB, else 32 MiB blocks (4x faster on Azurite
    than the SDK's 4 MiB default)."""
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(
        connection_string,
        max_single_put_size=256 * _MIB,
        max_block_size=32 * _MIB,
        max_single_get_size=256 * _MIB,
        max_chunk_get_size=32 * _MIB,
    )


def container(service, name: str):
    """The container client, creating the container when it does not exist yet."""
    from azure.core.exceptions import ResourceExistsError

    client = service.get_container_client(name)
    try:
        client.create_container()
    except ResourceExistsError:
        pass
    return client


def utc_now() -> str:
    """An ISO-8601 UTC timestamp the way ARM writes them (with a trailing Z)."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    """None for a missing value and for AIB's 'not yet' endTime (0001-01-01)."""
    if not text or text.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(text)


class GalleryIdParts(TypedDict):
    s: str  # subscription
    rg: str  # resource group
    g: str  # gallery
    i: str  # image
    v: str | None  # version; None for an image id


def split_gallery_id(resource_id: str) -> GalleryIdParts:
    """The parts of a gallery image or image version id: s, rg, g, i and v (None for an image id).
    Accepts `/versions/<v>` and the `/imageversions/<v>` spelling seen in the 2025-10-01 spec."""
    match = _GALLERY_VERSION_ID.match(resource_id.strip())
    if not match:
        raise ValueError(f"not a gallery image (version) id: {resource_id!r}")
    s, rg, g, i, v = match.group("s", "rg", "g", "i", "v")
    return {"s": s, "rg": rg, "g": g, "i": i, "v": v}


def gallery_image_id(parts: GalleryIdParts) -> str:
    return (
        f"/subscriptions/{parts['s']}/resourceGroups/{parts['rg']}/providers/Microsoft.Compute/"
        f"galleries/{parts['g']}/images/{parts['i']}"
    )


def gallery_version_id(image_id: str, version: str) -> str:
    return gallery_image_id(split_gallery_id(image_id)) + f"/versions/{version}"


def gallery_prefix(image_id: str) -> str:
    """The blob folder of a gallery image: `<s>/<rg>/<g>/<i>/`."""
    parts = split_gallery_id(image_id)
    return "/".join(part.lower() for part in (parts["s"], parts["rg"], parts["g"], parts["i"])) + "/"


def marketplace_prefix(location: str, publisher: str, offer: str, sku: str) -> str:
    return "/".join(p.lower() for p in (location, publisher, offer, sku)) + "/"


def safe_segment(value: str, what: str) -> str:
    """Refuse names that would change the blob path ('/', '..') rather than silently rewrite them."""
    if not value or "/" in value or value in (".", "..") or "\\" in value:
        raise ValueError(f"invalid {what}: {value!r}")
    return value


_SECRET = re.compile(r"(AccountKey|SharedAccessSignature|sig|SharedAccessKey)=[^;&\s\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    """Text with storage keys and SAS signatures blanked, for anything that reaches a log or a message."""
    return _SECRET.sub(lambda m: f"{m.group(1)}=***", text)
