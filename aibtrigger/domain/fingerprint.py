"""The input fingerprint of a build: a hash of everything that determines the image it makes. Pure.

Inputs, each named so a skip can say which did not change:
- `definition`: the definition's customizers, validators and distribute targets, as canonical JSON
  (a Shell or File step's `scriptUri` counts with its `sha256Checksum` where given: without one,
  a script changed behind the same URI cannot be seen, as AIB itself cannot);
- `source`: the source key (marketplace publisher/offer/sku in a region, or a gallery image);
- `version`: the exact source version, which for a child is its parent's image version.

Two builds with the same fingerprint would make the same image: a signal builds only when the
fingerprint would change, and a failure is counted against the fingerprint it failed with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

INPUT_NAMES = ("definition", "source", "version")


def definition_digest(definition) -> str:
    """sha256 (16 hex) of what in a definition shapes the image; '' for an entry without a definition."""
    if definition is None:
        return ""
    dump = definition.model_dump(mode="json", by_alias=True, exclude_none=True)  # duck-typed: a pydantic model
    shaping = {name: dump.get(name) for name in ("customize", "validate", "distribute")}
    return _sha(json.dumps(shaping, sort_keys=True, separators=(",", ":")))


def build_inputs(digest: str, key, version: str | None) -> dict[str, str]:
    """The named inputs of a build from source `key` at `version` (None: not known yet)."""
    return {"definition": digest, "source": "/".join(key) if key else "", "version": version or ""}


def fingerprint(inputs: Mapping[str, str]) -> str:
    return _sha(json.dumps({n: inputs.get(n, "") for n in INPUT_NAMES}, sort_keys=True))


def covers(before: Mapping[str, str] | None, now: Mapping[str, str]) -> bool:
    """Whether a build from `before` already used `now`'s inputs or newer ones: same definition and
    source, a version at least as new. A build uses the latest version when it runs, so what the
    service has observed may lag what a finished build used; that build still covers it."""
    from aibtrigger.domain.versions import version_key

    if not before or not now.get("version") or not before.get("version"):
        return before == now
    return (before.get("definition"), before.get("source")) == (
        now.get("definition"),
        now.get("source"),
    ) and version_key(before["version"]) >= version_key(now["version"])


def unchanged(before: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """The inputs that did not change, as a person reads them (`source .../sku@22.04.1`)."""
    kept = [n for n in INPUT_NAMES if before.get(n) == now.get(n)]
    return [
        f"definition {now['definition']}"
        if n == "definition"
        else f"source {now['source']}@{now['version']}"
        if n == "source" and "version" in kept
        else f"source {now['source']}"
        if n == "source"
        else f"version {now['version']}"
        for n in kept
        if not (n == "version" and "source" in kept)
    ]


def changed(before: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """The inputs that changed, each as `name before -> now`."""
    return [
        f"{n} {before.get(n) or '(none)'} -> {now.get(n) or '(none)'}"
        for n in INPUT_NAMES
        if before.get(n) != now.get(n)
    ]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
