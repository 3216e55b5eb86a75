"""checkov (policy linter, offline) on infra/: no failed check, every suppression carries its reason.

checkov pins many packages, so it lives in its own venv, `.venv-infra` (Makefile: `make test`
installs it first). Outside `make test` the scan is skipped, loudly, if that venv is absent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from infra_bicep import INFRA, REPO, missing_tool

CHECKOV = Path(os.environ.get("AIBTRIGGER_CHECKOV", REPO / ".venv-infra" / "bin" / "checkov"))
SUPPRESSION = re.compile(r"checkov:skip=([A-Z0-9_,-]+)(?::(.*))?")
MIN_REASON = 30  # characters: a reason, not a shrug


def _suppressions():
    for path in sorted(INFRA.rglob("*")):
        if path.suffix not in {".bicep", ".json"}:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SUPPRESSION.search(line)
            if match:
                yield path.relative_to(INFRA).as_posix(), number, match.group(1), (match.group(2) or "").strip()


def test_every_suppression_states_its_reason():
    for where, line, check, reason in _suppressions():
        assert "," not in check, f"{where}:{line}: one check per suppression line, each with its own reason"
        assert len(reason) >= MIN_REASON, f"{where}:{line}: suppression of {check} needs a reason (`:why`)"


@pytest.fixture(scope="module")
def checkov_report() -> list[dict]:
    if not CHECKOV.is_file():
        missing_tool(f"checkov not found at {CHECKOV}: run `make .venv-infra/.installed` (or `make test`)")
    result = subprocess.run(
        [
            str(CHECKOV),
            "--skip-download",
            "--directory",
            str(INFRA),
            "--framework",
            "bicep",
            "arm",
            "--output",
            "json",
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "1"},
    )
    assert result.returncode in (0, 1), f"checkov crashed ({result.returncode}):\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    return report if isinstance(report, list) else [report]


def test_checkov_scanned_the_bicep(checkov_report):
    bicep = [r for r in checkov_report if r.get("check_type") == "bicep"]
    assert bicep, f"checkov produced no bicep report: {checkov_report}"
    summary = bicep[0]["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse: {bicep[0]['results'].get('parsing_errors')}"
    assert summary["passed"] >= 20, f"suspiciously few checks ran: {summary}"
    scanned = {check["file_path"] for check in bicep[0]["results"]["passed_checks"]}
    for module in ("storage.bicep", "functionapp.bicep", "results-topic.bicep", "roles.bicep"):
        assert any(path.endswith(module) for path in scanned), f"checkov checked nothing in {module}"


def test_checkov_finds_no_failed_check(checkov_report):
    failed = [
        f"{check['check_id']} {check['check_name']} -- {check['resource']} "
        f"({check['file_path']}:{check['file_line_range']})"
        for report in checkov_report
        for check in report["results"]["failed_checks"]
    ]
    assert not failed, (
        "checkov failures (fix them, or suppress in the resource with `// checkov:skip=ID:reason`):\n"
        + "\n".join(failed)
    )


def test_checkov_skips_are_only_reasoned_suppressions(checkov_report):
    for report in checkov_report:
        for check in report["results"]["skipped_checks"]:
            comment = (check.get("check_result") or {}).get("suppress_comment", "")
            assert len(comment.strip()) >= MIN_REASON and comment != "No comment provided", (
                f"{check['check_id']} skipped on {check['resource']} without a reason"
            )
