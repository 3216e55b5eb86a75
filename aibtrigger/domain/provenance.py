"""Provenance: what the service's runs tag the image versions they distribute with, and reading it back.

The tags travel with the version (AIB `artifactTags` become the gallery image version's tags; the
local gallery keeps them in the version's metadata), so a decision about a version reads who made
it, for which upstream change, from which exact source version and with which input fingerprint,
instead of guessing from "whoever holds a claim now". A version without them was made outside the
service: a fresh root change. Azure tag values hold at most 256 characters.
"""

from __future__ import annotations

from collections.abc import Mapping

TAGS = {
    "run_id": "aibtrigger.run",
    "template": "aibtrigger.template",
    "upstream": "aibtrigger.upstream",
    "source_version": "aibtrigger.sourceVersion",
    "fingerprint": "aibtrigger.fingerprint",
}
_MAX_VALUE = 256


def provenance_tags(provenance: Mapping[str, str]) -> dict[str, str]:
    return {tag: str(provenance.get(name) or "")[:_MAX_VALUE] for name, tag in TAGS.items()}


def with_exact_source(provenance: Mapping, exact_version: str | None) -> dict:
    """The provenance once the build knows the exact source version it used: its fingerprint follows
    (`inputs`, when given, are the expected inputs the service computed at the start)."""
    from aibtrigger.domain.fingerprint import fingerprint
    from aibtrigger.domain.versions import version_of

    if not exact_version:
        return dict(provenance)
    inputs = provenance.get("inputs")
    exact = version_of(exact_version)
    found = {**provenance, "source_version": exact}
    if inputs:
        found["fingerprint"] = fingerprint({**inputs, "version": exact})
    return found


def provenance_of(version: Mapping | None) -> dict[str, str] | None:
    """The provenance a version document carries (its `tags`), or None: made outside the service."""
    tags = (version or {}).get("tags") or {}
    found = {name: tags.get(tag) or "" for name, tag in TAGS.items()}
    return found if found["run_id"] and found["template"] else None
