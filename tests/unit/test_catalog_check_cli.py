"""`aibtrigger catalog check [PATH]`: every problem with its path, notes for what is ignored, exit 1 on any."""

import json
from pathlib import Path

import pytest

from aibtrigger.cli import main
from tests.unit.test_template_rules import SHOWN

ROOT = Path(__file__).resolve().parents[2]
BROKEN = """\
templates:
  - name: good
    definition:
      source: {type: PlatformImage, publisher: Canonical, offer: ubuntu, sku: "22_04", version: latest}
      distribute: [{type: VHD, runOutputName: good}]
  - name: Bad_Name
    resource_id: /x
  - name: scripts
    definition:
      source: {type: PlatformImage, publisher: Canonical, offer: ubuntu, sku: "22_04"}
      customize:
        - {type: PowerShell, name: both, inline: [a], scriptUri: "https://x/s.ps1"}
        - {type: Shell, name: neither}
      distribute:
        - {type: VHD, runOutputName: out}
        - {type: VHD, runOutputName: out}
      errorHandling: {onCustomizerError: retry}
      buildTimeoutInMinutes: 1000
"""


@pytest.fixture(autouse=True)
def _no_configured_backend(monkeypatch):
    for name in ("AIBTRIGGER_CATALOG_PATH", "AIBTRIGGER_BACKEND"):
        monkeypatch.delenv(name, raising=False)


def test_the_example_catalog_checks_clean(capsys):
    assert main(["catalog", "check", str(ROOT / "examples" / "catalog.yaml")]) == 0
    assert capsys.readouterr().out.strip().endswith("examples/catalog.yaml: ok (3 templates)")


def test_a_broken_catalog_lists_every_problem_with_its_path_and_exits_1(tmp_path, capsys):
    path = tmp_path / "catalog.yaml"
    path.write_text(BROKEN)
    assert main(["catalog", "check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "problem: templates[1] (Bad_Name).name: String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$'",
        "problem: templates[2] (scripts).definition.errorHandling.onCustomizerError: "
        "Input should be 'cleanup' or 'abort'",
        "problem: templates[2] (scripts).definition.buildTimeoutInMinutes: Input should be less than or equal to 960",
        "problem: templates[2] (scripts).definition.customize[0]: a PowerShell step needs exactly one of 'inline' or "
        "'scriptUri' (it has both)",
        "problem: templates[2] (scripts).definition.customize[1]: a Shell step needs exactly one of 'inline' or "
        "'scriptUri' (it has neither)",
        "problem: templates[2] (scripts).definition.distribute[1].runOutputName: 'out' is also the runOutputName of "
        "distribute[0]: each target needs its own",
        f"{path}: 6 problem(s)",
    ]


def test_read_only_fields_are_noted_and_do_not_fail_the_check(tmp_path, capsys):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"templates": [{"name": "shown", "definition": SHOWN}]}))
    assert main(["catalog", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "note: templates[0] (shown).definition.properties.lastRunStatus: read-only, ignored" in out
    assert "note: templates[0] (shown).definition.properties.source.exactVersion: read-only, ignored" in out
    assert out.strip().endswith("ok (1 templates)")


def test_resource_ids_are_not_compared_without_the_aib_backend(tmp_path, capsys):
    path = tmp_path / "catalog.yaml"
    path.write_text("templates: [{name: remote, resource_id: /subscriptions/s/x}]\n")
    assert main(["catalog", "check", str(path)]) == 0
    assert (
        "note: templates in Azure not compared: the backend is not aib (AIBTRIGGER_BACKEND)" in capsys.readouterr().out
    )


def test_the_path_defaults_to_the_configured_catalog(monkeypatch, capsys):
    monkeypatch.setenv("AIBTRIGGER_CATALOG_PATH", str(ROOT / "examples" / "catalog.yaml"))
    assert main(["catalog", "check"]) == 0
    assert "ok (3 templates)" in capsys.readouterr().out


@pytest.mark.parametrize("content, expected", [(None, "cannot read catalog"), ("templates: [", "is not valid YAML")])
def test_an_unreadable_file_is_a_problem(tmp_path, capsys, content, expected):
    path = tmp_path / "catalog.yaml"
    if content is not None:
        path.write_text(content)
    assert main(["catalog", "check", str(path)]) == 1
    assert expected in capsys.readouterr().out


def test_no_path_and_no_configured_catalog_is_a_usage_error(capsys):
    assert main(["catalog", "check"]) == 2
    assert "AIBTRIGGER_CATALOG_PATH is not set" in capsys.readouterr().err
