"""`aibtrigger try NAME`: build one catalog template locally, now, and say how it went.

A template author's loop before paying for a 30-70 minute AIB build: no Functions host, no
queue, only an Azurite of its own (data kept in .aibtrigger/try, so a child template can build on
the gallery version its base's last try made). The source is the newest matching marketplace or
gallery version there, else the default base image. The log streams as the build writes it; the
end says the verdict, the failure excerpt and where the output was saved. Exit 0 only on success.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import TextIO

from aibtrigger.adapters.local.images import ImageError, base_image
from aibtrigger.adapters.local.sandbox import SandboxError, require_namespaces

STATE_DIR = Path(".aibtrigger") / "try"
_BUILD_PREFIX = re.compile(r"^\[[0-9a-f-]{36}\] ", re.MULTILINE)  # the same build id on every line
SEED_VERSION = "0.0.1"  # a gallery source with no version yet starts from the default image under this number


def try_template(name: str, catalog_path: Path, *, state_dir: Path = STATE_DIR, out: TextIO = sys.stdout) -> int:
    from aibtrigger.catalog import load_catalog
    from aibtrigger.devhost.azurite import start_azurite

    entry = load_catalog(catalog_path).get(name)
    if entry.definition is None:
        print(
            f"aibtrigger try: {name} has no definition to build locally (it names an AIB template only)",
            file=sys.stderr,
        )
        return 2
    try:
        require_namespaces()  # before anything starts: a build never runs on the host
        (state_dir / "azurite").mkdir(parents=True, exist_ok=True)
        azurite = start_azurite(data_dir=(state_dir / "azurite").resolve())
        try:
            return _run(entry, catalog_path, azurite.connection_string, state_dir, out)
        finally:
            azurite.stop()
    except (SandboxError, ImageError) as exc:
        print(f"aibtrigger try: {exc}", file=sys.stderr)
        return 2


def _run(entry, catalog_path: Path, connection: str, state_dir: Path, out: TextIO) -> int:
    from aibtrigger.adapters.local.backend import LocalBackend
    from aibtrigger.catalog import load_catalog

    source = ensure_source(entry, connection, out)
    print(f"== source: {source}", file=out)
    backend = LocalBackend(
        load_catalog(catalog_path),
        connection_string=connection,
        catalog_path=catalog_path,
        workdir=state_dir / "work",
        heartbeat_timeout=20.0,
    )
    started = time.monotonic()
    backend.start_run(entry.name)
    try:
        status = _stream(backend, entry.name, out)
    except KeyboardInterrupt:
        backend.cancel_run(entry.name)
        print("== canceling ...", file=out)
        status = _stream(backend, entry.name, out)
    return _verdict(backend, entry.name, status, time.monotonic() - started, state_dir, connection, out)


def ensure_source(entry, connection: str, out: TextIO) -> str:
    """The template's source as this try will find it: the default image, published under the
    name (and pinned version) the template asks for, when there is none yet."""
    from aibtrigger.adapters.local.gallery import LocalGallery
    from aibtrigger.adapters.local.layout import blob_service, split_gallery_id
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.catalog import PlatformImageSource, SharedImageVersionSource

    source, service = entry.definition.source, blob_service(connection)
    if isinstance(source, PlatformImageSource):
        market = LocalMarketplace(service)
        image = (entry.location, source.publisher, source.offer, source.sku)
        wanted = None if source.tracks_latest else source.version
        if (wanted or market.latest_version(*image)) not in market.list_versions(*image):
            print(f"== publishing the default base image as {':'.join(image[1:])} (made once per machine)", file=out)
            market.publish(*image, version=wanted, rootfs=base_image())
        return f"{':'.join(image[1:])}:{wanted or market.latest_version(*image)}"
    if isinstance(source, SharedImageVersionSource):
        gallery = LocalGallery(service)
        image_id = source.gallery_image_id
        wanted = None if source.tracks_latest else split_gallery_id(source.imageVersionId)["v"]
        if (wanted or gallery.latest_version(image_id)) not in gallery.version_names(image_id):
            print(f"== no version {wanted or ''} of {image_id} yet: starting from the default base image", file=out)
            try:
                gallery.create_version(
                    image_id,
                    wanted or SEED_VERSION,
                    base_image(),
                    {"template": "aibtrigger try (default base image)", "lineage": []},
                )
            except FileExistsError:  # excluded from latest: the build says there is no latest
                pass
        return f"{image_id}/versions/{wanted or gallery.latest_version(image_id)}"
    return getattr(source, "imageId", None) or source.type


def _stream(backend, name: str, out: TextIO):
    """Print the log as it grows; the final status once the run has ended and its log is complete."""
    shown = 0
    while True:
        status = backend.get_status(name)
        log = backend.read_log(name) or ""
        out.write(_BUILD_PREFIX.sub("", log[shown:]))
        out.flush()
        shown = len(log)
        if status.run_state is not None and status.run_state.is_terminal:
            return status
        time.sleep(0.5)


def _verdict(backend, name: str, status, seconds: float, state_dir: Path, connection: str, out: TextIO) -> int:
    from aibtrigger.adapters.local.gallery import LocalGallery
    from aibtrigger.adapters.local.layout import blob_service
    from aibtrigger.domain.logexcerpt import extract_failure
    from aibtrigger.domain.model import RunState

    print(f"== {name}: {status.run_state.value} after {seconds:.0f} s", file=out)
    if status.run_state is not RunState.SUCCEEDED:
        excerpt = extract_failure(backend.read_log(name) or "")
        print(f"   reason: {excerpt.reason if excerpt else status.message}", file=out)
        if excerpt and excerpt.step:
            print(f"   step: {excerpt.step} (exit status {excerpt.exit_status})", file=out)
        for line in excerpt.lines if excerpt else ():
            print(f"   | {line}", file=out)
    gallery = LocalGallery(blob_service(connection))
    for output in backend.run_outputs(name):
        if output.artifact_id and "/galleries/" in output.artifact_id.lower():
            version = gallery.get_version(output.artifact_id) or {}
            for artifact in version.get("artifacts", []):
                path = gallery.download(output.artifact_id, state_dir / "out" / name, file=artifact["name"])
                print(f"   output: {path} (sha256 {artifact['sha256']})", file=out)
            print(f"   gallery version: {output.artifact_id}", file=out)
        elif output.artifact_uri:
            print(f"   output: {output.artifact_uri}", file=out)
    return 0 if status.run_state is RunState.SUCCEEDED else 1
