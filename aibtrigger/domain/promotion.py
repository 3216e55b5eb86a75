"""Where an image version stands on its way to `latest`, read from the version itself.

The service tags what its runs distribute (domain.provenance) and, for templates whose promotion is
gated, their promotion state (PROMOTION_TAG), so the gallery alone says what each version is:

    staged       published with excludeFromLatest, waiting for its checks, its soak or a person
    promoted     `latest` may resolve to it (excludeFromLatest false)
    rejected     a check failed or a person rejected it: stays excluded, never promoted
    rolled_back  was promoted, then excluded again by a rollback
    retired      superseded and given an endOfLifeDate (retention); still usable until deleted

A version without the tag is promoted when `latest` may resolve to it, else "excluded": made or
changed outside the service, which then leaves it alone.
"""

from __future__ import annotations

from collections.abc import Mapping

PROMOTION_TAG = "aibtrigger.promotion"
STAGED, PROMOTED, REJECTED, ROLLED_BACK, RETIRED, EXCLUDED = (
    "staged",
    "promoted",
    "rejected",
    "rolled_back",
    "retired",
    "excluded",
)


def version_state(version: Mapping) -> str:
    """The promotion state of a gallery version document (adapters.gallery)."""
    tagged = ((version.get("tags") or {}).get(PROMOTION_TAG) or "").strip()
    excluded = bool(version.get("excludeFromLatest"))
    if tagged in (STAGED, REJECTED, ROLLED_BACK) and excluded:
        return tagged
    if excluded:
        return EXCLUDED
    if version.get("endOfLifeDate"):
        return RETIRED
    return PROMOTED
