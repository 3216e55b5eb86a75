"""P8 local builds (issue 13): a cold first build and a warm `aibtrigger try` of the example template,
against the old directory-based build, measured in the same run.

New path: `aibtrigger try ubuntu-base` in a scratch folder, the scripts inside the unpacked image in
their own namespaces, deprovisioned, captured. Cold: an empty rootfs cache (AIBTRIGGER_ROOTFS_CACHE
points at a scratch folder), so debootstrap runs; warm: the same folder again (image cached, source
published). Also a warm try over the busybox image, and debootstrap alone.

Baseline: the directory-based builder as it was before issue 13 (commit OLD_COMMIT, extracted with
`git archive` into a scratch folder, kept for this comparison only): its marketplace image was three
text files and its scripts ran on the host against $IMAGE_ROOT. Driven by the same small driver as
the new builder (publish the source, LocalBackend.start_run, wait for the verdict) on one Azurite.

    .venv/bin/python bench/p8_builds.py            # cold (debootstrap) included, ~2-4 minutes
    .venv/bin/python bench/p8_builds.py --quick    # skips the cold build: the cache must be warm
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

OLD_COMMIT = "a13090659941f7383b3b83f76a073d6e5b90ffce"  # main before issue 13: the directory-based local builder
TEMPLATE = "ubuntu-base"
DRIVER = """
import json, sys, time
from pathlib import Path
from aibtrigger.adapters.local.backend import LocalBackend
from aibtrigger.adapters.local.layout import blob_service
from aibtrigger.adapters.local.marketplace import LocalMarketplace
from aibtrigger.catalog import load_catalog

connection, catalog_path, workdir, name, sku = sys.argv[1:6]
catalog = load_catalog(Path(catalog_path))
entry = catalog.get(name)
source = entry.definition.source
started = time.perf_counter()
LocalMarketplace(blob_service(connection)).publish(entry.location, source.publisher, source.offer, sku)
published = time.perf_counter()
backend = LocalBackend(catalog, connection_string=connection, catalog_path=Path(catalog_path), workdir=Path(workdir))
backend.start_run(name)
while not ((status := backend.get_status(name)).run_state and status.run_state.is_terminal):
    time.sleep(0.1)
print(json.dumps({"publish": published - started, "build": time.perf_counter() - published,
                  "state": status.run_state.value, "message": status.message[:300]}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the cold build (debootstrap)")
    args = parser.parse_args(argv)
    from aibtrigger.devhost.azurite import start_azurite

    with tempfile.TemporaryDirectory(prefix="p7-") as scratch:
        tmp = Path(scratch)
        old_tree = _old_tree(tmp / "old")
        cold = None if args.quick else _try(tmp / "cold", cache=tmp / "rootfs-cache")
        warm_cache = None if args.quick else tmp / "rootfs-cache"  # else: this machine's own cache
        warm = _try(tmp / "cold" if cold else tmp / "warm", cache=warm_cache, repeat=not cold)
        busybox = _try(tmp / "busybox", cache=warm_cache, image="busybox", repeat=True)
        azurite = start_azurite()
        try:
            old = _drive(old_tree, old_tree / "examples" / "catalog.yaml", azurite.connection_string, tmp, "old")
            new = _drive(
                common.ROOT,
                common.ROOT / "examples" / "catalog.yaml",
                azurite.connection_string,
                tmp,
                "new",
                env={"AIBTRIGGER_ROOTFS_CACHE": str(warm_cache)} if warm_cache else None,
            )
        finally:
            azurite.stop()
        debootstrap = _debootstrap_alone(tmp / "deb-cache") if not args.quick else None

    baseline = old["publish"] + old["build"]
    label = f"old directory-based build at {OLD_COMMIT[:7]}: publish + build, same run"
    if cold is not None:
        common.figure(
            "P8",
            "cold first build, `try ubuntu-base` incl. debootstrap",
            cold,
            "s",
            baseline=baseline,
            baseline_label=label,
        )
    common.figure(
        "P8",
        "warm `try ubuntu-base` (Debian image cached, source published)",
        warm,
        "s",
        baseline=baseline,
        baseline_label=label,
    )
    common.figure(
        "P8", "warm `try ubuntu-base` on the busybox test image", busybox, "s", baseline=baseline, baseline_label=label
    )
    common.figure(
        "P8",
        "build alone (start_run -> Succeeded), Debian image",
        new["build"],
        "s",
        baseline=old["build"],
        baseline_label=f"old build alone at {OLD_COMMIT[:7]}, same run",
        note=f"new {new['state']}, old {old['state']}",
    )
    common.figure(
        "P8",
        "publishing a marketplace version, Debian image",
        new["publish"],
        "s",
        baseline=old["publish"],
        baseline_label="old: a 3-file tarball",
    )
    if debootstrap is not None:
        common.figure("P8", "debootstrap bookworm minbase alone, into an empty cache", debootstrap, "s")
    return 0 if new["state"] == "Succeeded" and old["state"] == "Succeeded" else 1


def _try(folder: Path, *, cache: Path | None, image: str | None = None, repeat: bool = False) -> float:
    """Seconds for `aibtrigger try ubuntu-base` in `folder` (twice when `repeat`: the second is timed)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **({"AIBTRIGGER_ROOTFS_CACHE": str(cache)} if cache else {})}
    env.pop("AIBTRIGGER_LOCAL_IMAGE", None)
    command = [
        sys.executable,
        "-m",
        "aibtrigger.cli",
        "try",
        TEMPLATE,
        "--catalog",
        str(common.ROOT / "examples" / "catalog.yaml"),
        *(["--image", image] if image else []),
    ]
    for _ in range(2 if repeat else 1):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=1800)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"try failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return elapsed


def _drive(tree: Path, catalog: Path, connection: str, tmp: Path, label: str, env: dict | None = None) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(tree), **(env or {})}
    environment.pop("AIBTRIGGER_LOCAL_IMAGE", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            DRIVER,
            connection,
            str(catalog),
            str(tmp / f"work-{label}"),
            TEMPLATE,
            "22_04-lts-gen2",
        ],
        cwd=tmp,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"{label} driver failed:\n{done.stdout}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _old_tree(target: Path) -> Path:
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(common.ROOT), "archive", OLD_COMMIT, "aibtrigger", "examples"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def _debootstrap_alone(cache: Path) -> float:
    env = {**os.environ, "AIBTRIGGER_ROOTFS_CACHE": str(cache)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from aibtrigger.adapters.local.images import debian_image; debian_image()"],
        env=env,
        check=True,
        timeout=1800,
    )
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
