"""Reads the hashed locks that `make lock` writes (uv's requirements format) and says where a lock
and pyproject.toml's ranges disagree. Used by tests/unit/test_dependency_lock.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# The project itself, as uv names it in `# via` when a pin is asked for by pyproject.toml.
ROOT = "aibtrigger"
# What the locks are resolved for (`make lock`): a range whose marker excludes it is not pinned.
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
}
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")
_VIA_ONE = re.compile(r"^\s+# via (?P<who>.+)$")
_VIA_MANY = re.compile(r"^\s+#   (?P<who>.+)$")


@dataclass
class Pin:
    version: str
    hashes: list[str]
    via: list[str]  # canonical names of what asks for it; ROOT for pyproject.toml


def parse_lock(text: str) -> dict[str, Pin]:
    """Pins by canonical name. Anything but pins, hashes, `# via` lines and comments is an error."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip().rstrip("\\").strip()
        if match := _PIN.match(line):
            current = Pin(match["version"], [], [])
            name = canonicalize_name(match["name"])
            if name in pins:
                raise ValueError(f"line {number}: {name} is pinned twice")
            pins[name] = current
            current.hashes += _HASH.findall(line)
        elif match := (_VIA_ONE.match(line) or _VIA_MANY.match(line)):
            if current is None:
                raise ValueError(f"line {number}: a `# via` before any pin")
            current.via += _via_names(match["who"])
        elif stripped.startswith("--hash="):
            if current is None or not _HASH.fullmatch(stripped):
                raise ValueError(f"line {number}: a hash that belongs to no pin, or not sha256: {stripped!r}")
            current.hashes.append(stripped.removeprefix("--hash="))
        elif stripped and not stripped.startswith("#"):
            raise ValueError(f"line {number}: not an exact pin (name==version): {stripped!r}")
    return pins


def _via_names(who: str) -> list[str]:
    """`aibtrigger (pyproject.toml)` is the root; `-c requirements.txt` (a constraint) asks for nothing."""
    if who.startswith(("-c ", "-r ")):
        return []
    return [canonicalize_name(who.split(" (")[0])]


def range_disagreements(ranges: list[str], pins: dict[str, Pin]) -> list[str]:
    """Each pyproject range must be pinned, at a version the range allows, and asked for by the root."""
    problems = []
    for text in ranges:
        wanted = Requirement(text)
        if wanted.marker is not None and not wanted.marker.evaluate(TARGET):
            continue
        name = canonicalize_name(wanted.name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{text}: not in the lock")
        elif not wanted.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{text}: the lock pins {pin.version}, outside the range")
        elif ROOT not in pin.via:
            problems.append(f"{text}: pinned, but the lock does not say pyproject.toml asks for it")
    return problems


def unasked_pins(ranges: list[str], pins: dict[str, Pin]) -> list[str]:
    """Pins that no range asks for, directly or through other pins' `# via` (what a removed range leaves)."""
    roots = {canonicalize_name(Requirement(text).name) for text in ranges}
    problems = [f"{name}: has no hash" for name, pin in pins.items() if not pin.hashes]
    for name, pin in pins.items():
        if name not in roots and ROOT in pin.via:
            problems.append(f"{name}: says pyproject.toml asks for it, but no range names it")
    asked, frontier = set(), [name for name in roots if name in pins]
    while frontier:
        name = frontier.pop()
        if name not in asked:
            asked.add(name)
            frontier += [other for other, pin in pins.items() if name in pin.via]
    unasked = [name for name in pins if name not in asked]
    problems += [f"{name}: asked for by no range (via {pins[name].via or 'nothing'})" for name in unasked]
    return problems


def installed_closure(ranges: list[str]) -> dict[str, str]:
    """What the ranges need, followed through the installed packages' own metadata (markers and
    extras evaluated here): name -> installed version. A needed package not installed is an error."""
    found: dict[str, str] = {}
    todo = [Requirement(text) for text in ranges]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        wanted = todo.pop()
        key = (canonicalize_name(wanted.name), frozenset(wanted.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(wanted.name)
        except metadata.PackageNotFoundError:
            raise LookupError(f"{wanted.name} is needed but not installed: run `make setup`") from None
        found[key[0]] = dist.version
        for text in dist.requires or []:
            needed = Requirement(text)
            extras = wanted.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(needed)
    return found
