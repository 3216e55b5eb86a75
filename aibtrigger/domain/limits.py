"""Store limits, enforced where values are made, so no write ever fails for being too large.

An Azure Tables string property holds 64 KiB (32,768 UTF-16 code units); a queue message 64 KiB,
of which base64 leaves 49,152 bytes of UTF-8. Text is measured in the unit its store counts, and a
cut says so in the value itself. JSON is written with `ensure_ascii=False`: escaping turns one
non-ASCII character into six.
"""

from __future__ import annotations

import json

TABLE_BUDGET_UNITS = 30_000  # one property holds 32,768: room for the JSON around a list of lines
QUEUE_BUDGET_BYTES = 40_000  # one published event, with room for the queue's own envelope


def utf16_units(text: str) -> int:
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def fit_text(text: str, units: int) -> str:
    """`text`, cut to `units` UTF-16 code units with the cut said at its end."""
    if utf16_units(text) <= units:
        return text
    marker = " [cut: {} more characters]"
    keep = max(0, units - len(marker.format(len(text))))
    while utf16_units(text[:keep]) > keep:  # astral characters count twice
        keep -= 1
    return text[:keep] + marker.format(len(text) - keep)


def fit_lines(lines: tuple[str, ...], units: int) -> tuple[str, ...]:
    """The last lines that fit in `units` once written as a JSON list (the end of a log matters most);
    the first line kept says how many were cut."""
    kept: list[str] = []
    used = 2
    for line in reversed(lines):
        line = fit_text(line, units // 4)
        cost = utf16_units(json.dumps(line, ensure_ascii=False)) + 1
        if used + cost > units - 60:
            kept.append(f"[cut: {len(lines) - len(kept)} earlier lines]")
            break
        kept.append(line)
        used += cost
    return tuple(reversed(kept))


def json_bytes(value) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def fit_excerpt(excerpt, units: int = TABLE_BUDGET_UNITS):
    """A FailureExcerpt whose JSON fits `units`: reason and step cut, then the oldest lines dropped."""
    from dataclasses import replace

    if excerpt is None:
        return None
    small = replace(excerpt, reason=fit_text(excerpt.reason, 2_000), step=excerpt.step and fit_text(excerpt.step, 500))
    lines_budget = units - utf16_units(json.dumps(small.to_dict() | {"lines": []}, ensure_ascii=False))
    return replace(small, lines=fit_lines(small.lines, lines_budget))


def fit_event(event: dict, budget: int = QUEUE_BUDGET_BYTES) -> dict:
    """A published event within `budget` bytes of UTF-8: fewer failure lines (the last ones kept), then a
    shorter message, until it fits (the whole log stays in the log store; the event says where)."""
    data = dict(event["data"])
    failure = data.get("failure") or {}
    lines = list(failure.get("lines") or ())
    keep = len(lines)
    while json_bytes({**event, "data": data}) > budget:
        if keep > 0:
            keep //= 2
            cut = [f"[cut: {len(lines) - keep} earlier lines]"] if keep < len(lines) else []
            data["failure"] = {**failure, "lines": cut + lines[len(lines) - keep :]}
        elif len(data.get("message") or "") > 200:
            data["message"] = fit_text(data["message"], len(data["message"]) // 2)
        else:
            data["reasons"] = [fit_text("; ".join(data.get("reasons") or ()), 2_000)]
            break
    return {**event, "data": data}
