"""How many real customization.logs does extract_failure read right? (issue 12)

Reads tests/fixtures/logs/expected.json (sources in SOURCES.md beside it) and prints one line per log and the
share read right. Runs against whatever aibtrigger.domain.logexcerpt is checked out: an extract_failure that
takes no `run_state`/`steps` is called the old way (log text only).

    .venv/bin/python bench/log_corpus.py [-v]

A log is read right when: for a run AIB reported as succeeded, there is no excerpt; otherwise there is one,
with the expected step and exit status, the decisive text among its lines, and the expected (and none of the
false-alarm) text in its reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aibtrigger.domain.logexcerpt import extract_failure  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "logs"


def read(text: str, expectation: dict):
    """The excerpt for a run in the expected state, by the new signature when the module has it."""
    try:
        return extract_failure(text, run_state=expectation["run_state"], steps=tuple(expectation.get("steps", ())))
    except TypeError:
        return extract_failure(text)


def misreadings(expectation: dict, excerpt) -> list[str]:
    """What is wrong with an excerpt, judged by the expectation (empty: read right)."""
    if expectation["run_state"] == "Succeeded":
        return [] if excerpt is None else [f"excerpt for a good run: {excerpt.reason!r}"]
    if excerpt is None:
        return ["no excerpt"]
    wrong = []
    if excerpt.step != expectation["step"]:
        wrong.append(f"step {excerpt.step!r} != {expectation['step']!r}")
    if excerpt.exit_status != expectation["exit_status"]:
        wrong.append(f"exit {excerpt.exit_status!r} != {expectation['exit_status']!r}")
    if expectation["decisive"] and not any(expectation["decisive"] in line for line in excerpt.lines):
        wrong.append(f"lines miss {expectation['decisive']!r}")
    if expectation["reason"] and expectation["reason"] not in excerpt.reason:
        wrong.append(f"reason {excerpt.reason!r} misses {expectation['reason']!r}")
    if expectation["not_reason"] and expectation["not_reason"] in excerpt.reason:
        wrong.append(f"reason {excerpt.reason!r} holds the false alarm {expectation['not_reason']!r}")
    return wrong


def main(verbose: bool) -> int:
    expectations = json.loads((CORPUS / "expected.json").read_text())["logs"]
    right = 0
    for expectation in expectations:
        wrong = misreadings(expectation, read((CORPUS / expectation["file"]).read_text(), expectation))
        right += not wrong
        if verbose or wrong:
            print(f"{'ok  ' if not wrong else 'MISS'} {expectation['file']}: {'; '.join(wrong) or 'read right'}")
    print(f"[logs] read right: {right}/{len(expectations)} ({100 * right / len(expectations):.0f}%)")
    print(
        f"[logs] info: an excerpt without a run state exactly where the log shows a failure: "
        f"{sum(_legacy_agrees(e) for e in expectations)}/{len(expectations)}"
    )
    return 0


def _legacy_agrees(expectation: dict) -> bool:
    """The old contract, kept for callers that pass no run state: an excerpt iff the log itself shows a failure."""
    excerpt = extract_failure((CORPUS / expectation["file"]).read_text())
    return (excerpt is not None) == expectation["shows_failure"]


if __name__ == "__main__":
    sys.exit(main("-v" in sys.argv[1:]))
