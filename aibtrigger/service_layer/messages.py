"""Queue message schemas. Strict: unknown fields, wrong types and oversized values are rejected.

A message names a template; it can never carry a definition, a script or a resource id.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aibtrigger.catalog import TEMPLATE_NAME
from aibtrigger.errors import RejectedMessageError

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:+@-]{0,127}$"
MAX_EXPECTED_SECONDS = 366 * 24 * 3600  # a build's median duration; beyond it no delay can be computed


class BuildRequestMessage(BaseModel):
    """On `aib-requests`: `{"template": "ubuntu-base", "reason": "...", "requested_by": "..."}`.

    `id` is optional: without it the queue message id deduplicates redeliveries.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str = Field(pattern=TEMPLATE_NAME)
    reason: str = Field("manual request", min_length=1, max_length=1000)
    requested_by: str = Field("unknown", min_length=1, max_length=200)
    id: str | None = Field(None, pattern=ID_PATTERN)
    # Set by the planner's own requests: which cascade this is, and that no person asked.
    upstream: str | None = Field(None, max_length=400)
    signal: Literal["manual", "source", "schedule", "cascade"] = "manual"
    # The planner's: the input fingerprint it would build; a template already built (or failed) from it skips.
    fingerprint: str | None = Field(None, pattern=r"^[0-9a-f]{16}$")
    source_version: str | None = Field(None, max_length=200)  # the source version that fingerprint is of
    # `aibtrigger request NAME --force`: build even when the inputs did not change.
    force: bool = False


class PollMessage(BaseModel):
    """On `aib-polls`: look at run `run_id` of `template` again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str = Field(pattern=TEMPLATE_NAME)
    run_id: str = Field(max_length=200)
    token: str = Field(max_length=64)
    # Median of past builds, for adaptive polling: finite and bounded (timedelta() overflows otherwise).
    expected_seconds: float | None = Field(None, ge=0, le=MAX_EXPECTED_SECONDS, allow_inf_nan=False)


def parse_message(model: type[BaseModel], body: bytes | str):
    """Parse a message body; RejectedMessageError names what is wrong."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, DuplicateKeyError) as exc:
        raise RejectedMessageError(f"not a JSON message: {exc}") from None
    except RecursionError:  # json.loads gives up on ~1,000 levels of nesting with it, not a ValueError
        raise RejectedMessageError("not a JSON message: nested too deeply") from None
    if not isinstance(data, dict):
        raise RejectedMessageError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<message>'}: {e['msg']}" for e in exc.errors())
        raise RejectedMessageError(f"invalid {model.__name__}: {problems}") from None


class DuplicateKeyError(ValueError):
    """A key appears twice in one object: readers disagree on which value counts, so none does."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"duplicate key {key!r}")
            seen.add(key)
    return found
