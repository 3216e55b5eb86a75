"""Rewrites pyproject.toml's list of mypy's known findings: the error codes each module of aibtrigger/
still has, so `make lint` holds every other module (and every other code) to a clean check.

The list only shrinks by fixing: fix a module, run this, and its entry goes. Run it after a merge
that brings findings in (`.venv/bin/python bench/mypy_known.py`), and read the diff: a new entry
is a finding someone added, better fixed than listed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN = "# >>> mypy known findings: written by bench/mypy_known.py; fix a module, then rerun it to shrink this\n"
END = "# <<< mypy known findings\n"
_FINDING = re.compile(r"^(?P<path>aibtrigger/\S+?)\.py:\d+: error: .*\[(?P<code>[a-z-]+)\]$")


def without_block(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if (start == -1) != (end == -1) or end < start:
        raise SystemExit("pyproject.toml: the known-findings markers are broken; restore both lines")
    return text if start == -1 else text[:start].rstrip("\n") + "\n" + text[end + len(END) :]


def findings(config_text: str) -> dict[str, set[str]]:
    """module -> error codes, from mypy run with the config minus the known list."""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", dir=REPO, delete=False) as config:
        config.write(config_text)
    try:
        mypy = [sys.executable, "-m", "mypy", "--config-file", config.name, "--no-incremental", "aibtrigger"]
        result = subprocess.run(mypy, cwd=REPO, capture_output=True, text=True)
    finally:
        Path(config.name).unlink()
    if result.returncode not in (0, 1) or "error:" in result.stderr:
        raise SystemExit(f"mypy did not run:\n{result.stdout}{result.stderr}")
    found: dict[str, set[str]] = defaultdict(set)
    for line in result.stdout.splitlines():
        if match := _FINDING.match(line):
            found[match["path"].replace("/", ".").removesuffix(".__init__")].add(match["code"])
    return found


def block(found: dict[str, set[str]]) -> str:
    """One override per set of codes, modules sorted: a stable text that diffs well."""
    by_codes: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for module, codes in sorted(found.items()):
        by_codes[tuple(sorted(codes))].append(module)
    parts = [BEGIN]
    for codes, modules in sorted(by_codes.items()):
        listed = "".join(f'    "{module}",\n' for module in modules)
        quoted = ", ".join(f'"{code}"' for code in codes)
        parts.append(f"[[tool.mypy.overrides]]\nmodule = [\n{listed}]\ndisable_error_code = [{quoted}]\n")
    return "\n".join(parts) + END


def main() -> None:
    pyproject = REPO / "pyproject.toml"
    rest = without_block(pyproject.read_text())
    found = findings(rest)
    pyproject.write_text(rest + ("\n" + block(found) if found else ""))
    total = sum(len(codes) for codes in found.values())
    print(f"mypy known findings: {len(found)} modules, {total} module/code pairs listed in pyproject.toml")


if __name__ == "__main__":
    main()
