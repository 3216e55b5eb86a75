"""Queue message schemas. Strict: unknown fields, wrong types and oversized values are rejected.

A message names a template; it can never carry a definition, a script or a resource id.
"""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aibtrigger.catalog import TEMPLATE_NAME
from aibtrigger.errors import RejectedMessageError

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:+@-]{0,127}$"


class BuildRequestMessage(BaseModel):
    """On `aib-requests`: `{"template": "ubuntu-base", "reason": "...", "requested_by": "..."}`.

    `id` is optional: without it the queue message id deduplicates redeliveries.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str = Field(pattern=TEMPLATE_NAME)
    reason: str = Field("manual request", min_length=1, max_length=1000)
    requested_by: str = Field("unknown", min_length=1, max_length=200)
    id: str | None = Field(None, pattern=_ID)
    follows_run: str | None = Field(None, max_length=200)  # internal: the hand-off of a follow-up
    # Set by the planner's own requests: which cascade this is, and that no person asked.
    upstream: str | None = Field(None, max_length=400)
    signal: Literal["manual", "source", "schedule", "cascade"] = "manual"


class PollMessage(BaseModel):
    """On `aib-polls`: look at run `run_id` of `template` again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str = Field(pattern=TEMPLATE_NAME)
    run_id: str = Field(max_length=200)
    token: str = Field(max_length=64)
    expected_seconds: float | None = Field(None, ge=0)  # median of past builds, for adaptive polling


def parse_message(model: type[BaseModel], body: bytes | str):
    """Parse a message body; RejectedMessageError names what is wrong."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RejectedMessageError(f"not a JSON message: {exc}") from None
    if not isinstance(data, dict):
        raise RejectedMessageError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<message>'}: {e['msg']}" for e in exc.errors())
        raise RejectedMessageError(f"invalid {model.__name__}: {problems}") from None
