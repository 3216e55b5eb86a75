"""Comparing image versions: marketplace (`22.04.202411050`) and gallery (`1.0.3`) versions alike.

Versions compare part by part (split on '.') as integers, so `1.0.10` is newer than `1.0.9`, which
a string comparison gets wrong. Parts that are not plain digits are tolerated (AIB never produces
them, but a hand-written catalog or a third-party publisher might) with one fixed rule, so that the
order is total and never raises:

- a numeric part sorts before any non-numeric part at the same position (`1.9` < `1.x`);
- non-numeric parts compare as case-insensitive text among themselves (`1.RC` == `1.rc` < `1.z`);
- trailing zero parts do not count (`1.0` == `1.0.0`), and a missing part is older than any
  non-zero one (`1.0` < `1.0.1`).
- surrounding whitespace is ignored; an empty string is the oldest version of all.
"""

from __future__ import annotations

from functools import lru_cache

_NUMERIC, _TEXT = 0, 1


@lru_cache(maxsize=65536)  # the planner compares the same few hundred versions over and over
def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key for `version`; equal keys mean the same version."""
    parts: list[tuple[int, int, str]] = []
    for part in version.strip().split("."):
        part = part.strip()
        if part.isdigit() and part.isascii():
            parts.append((_NUMERIC, int(part), ""))
        else:
            parts.append((_TEXT, 0, part.casefold()))
    while parts and parts[-1] in ((_NUMERIC, 0, ""), (_TEXT, 0, "")):
        parts.pop()  # `1.0.0` is `1`, and `1.` is `1`
    return tuple(parts)


def is_newer(candidate: str, than: str) -> bool:
    """Whether version `candidate` is strictly newer than version `than`."""
    return version_key(candidate) > version_key(than)


def version_of(value: str) -> str:
    """The version part of a gallery image version id, or `value` unchanged when it is a bare version.

    `/subscriptions/.../images/web/versions/1.0.3` -> `1.0.3`: history and events may carry either.
    """
    index = value.lower().rfind("/versions/")  # resource ids are case-insensitive
    return value if index < 0 else value[index + len("/versions/") :]
