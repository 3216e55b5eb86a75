"""extract_failure on real customization.logs (tests/fixtures/logs, sources in SOURCES.md), and every rule of
aibtrigger.domain.logrules on the real lines it exists for (issue 12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aibtrigger.domain.logexcerpt import extract_failure
from aibtrigger.domain.loglines import LineReader
from aibtrigger.domain.logreading import BuildReading
from aibtrigger.domain.logrules import RULES, apply_rules
from aibtrigger.domain.model import RunState

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
EVENTS = Path(__file__).resolve().parents[1] / "events" / "logs"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())["logs"]


def corpus(name: str) -> str:
    return (CORPUS / name).read_text()


def test_every_fixture_has_an_expectation_and_a_source():
    files = {path.name for path in CORPUS.glob("*.log")}
    assert files == {row["file"] for row in EXPECTED}
    assert len(files) >= 25
    sources = (CORPUS / "SOURCES.md").read_text()
    assert all(f"| {name} |" in sources for name in files)
    assert {row["dialect"] for row in EXPECTED} >= {"aib-guid", "aib-2023", "aib-no-prefix", "packer"}
    assert {row["os"] for row in EXPECTED} >= {"windows", "linux"}


@pytest.mark.parametrize("row", EXPECTED, ids=[row["file"] for row in EXPECTED])
def test_fixture_is_read_as_expected(row):
    got = extract_failure(corpus(row["file"]), run_state=row["run_state"])
    if row["run_state"] == "Succeeded":
        assert got is None
        return
    assert got is not None and got.reason and "\n" not in got.reason and 0 < len(got.lines) <= 20
    assert (got.step, got.exit_status) == (row["step"], row["exit_status"])
    if row["decisive"]:
        assert any(row["decisive"] in line for line in got.lines), got.lines
    if row["reason"]:
        assert row["reason"] in got.reason
    if row["not_reason"]:
        assert row["not_reason"] not in got.reason


@pytest.mark.parametrize("row", EXPECTED, ids=[row["file"] for row in EXPECTED])
def test_without_a_run_state_an_excerpt_only_where_the_log_shows_a_failure(row):
    assert (extract_failure(corpus(row["file"])) is not None) == row["shows_failure"]


# --- every rule, by the real lines that motivated it -----------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "example"),
    [(rule, example) for rule in RULES for example in rule.examples],
    ids=[f"{rule.name}: {example[-40:]}" for rule in RULES for example in rule.examples],
)
def test_each_rule_takes_the_real_line_it_exists_for(rule, example):
    reading, reader = BuildReading((), 20), LineReader()
    if rule.name == "a line of the closing error summary":  # only read inside the closing summary
        apply_rules(reading, reader.read("==> Some builds didn't complete successfully and had errors:"))
    assert apply_rules(reading, reader.read(example)) == rule.name


@pytest.mark.parametrize("rule", [rule for rule in RULES if ".log" in rule.source], ids=lambda rule: rule.name)
def test_rule_examples_are_quoted_verbatim_from_their_sources(rule):
    texts = []
    for name in re.findall(r"[\w/*.-]+\.log", rule.source):
        folder, pattern = (EVENTS, name[len("events/") :]) if name.startswith("events/") else (CORPUS, name)
        texts += [path.read_text() for path in folder.glob(pattern)]
    assert texts
    for example in rule.examples:
        assert any(example in text for text in texts), example


def test_rules_have_distinct_names_and_no_one_letter_names():
    names = [rule.name for rule in RULES]
    assert len(set(names)) == len(names)


# --- the cases issue 12 names ----------------------------------------------------------------------------


def test_remote_command_exit_after_permission_denied_is_a_failure():
    log = corpus("packer11004_environment_permission_denied.log").splitlines()[:2] + [
        "2017/07/11 16:48:50 packer: 2017/07/11 16:48:50 [ERROR] Remote command exited with '1': "
        "chmod +x /tmp/script_697.sh; /tmp/script_697.sh"
    ]
    got = extract_failure("\n".join(log))
    assert got.exit_status == 1 and "Remote command exited with '1'" in got.reason
    assert "/tmp/script_697.sh: line 29: /etc/environment: Permission denied" in got.lines


@pytest.mark.parametrize(
    ("name", "step", "reason"),
    [
        ("aib2019_policy_denied.log", "source", "policy violation"),
        ("aib2019_deprovision_waagent.log", "deprovision", "deprovisioning step failed"),
        ("cancelled_clean_exit0.log", "powershell: /tmp/powershell-provisioner1183921", "was running for 2 minutes"),
        ("aib2020_powershell_16001.log", "customize[2]", "16001"),
        ("aib2020_windows_update_eof.log", "customize[0]", "unexpected EOF"),
        (
            "aib2020_sysprep_cancelled.log",
            "deprovision",
            "build cancelled after receiving terminated while deprovision",
        ),
    ],
)
def test_issue_cases(name, step, reason):
    got = extract_failure((EVENTS / name).read_text(), run_state=RunState.FAILED)
    assert got.step == step and reason in got.reason


@pytest.mark.parametrize("name", ["ok_windows_false_alarms.log", "ok_newest_skipping_image.log", "local_ok.log"])
def test_false_alarms_stay_false_even_when_the_run_failed_for_another_reason(name):
    text = (EVENTS / name).read_text()
    assert extract_failure(text) is None
    got = extract_failure(text, run_state="Failed")
    assert not re.search(r"\b(101|1190|401)\b|no artifacts|Skipping image creation", got.reason), got.reason


# --- the template's names, run states, bad input ---------------------------------------------------------


def test_the_nth_provisioner_is_named_by_the_template():
    log = (EVENTS / "local_shell_exit3.log").read_text()
    assert extract_failure(log).step == "customize[1]"
    assert extract_failure(log, steps=["install base packages", "configure agent"]).step == "configure agent"
    assert extract_failure(log, steps=["only one"]).step == "customize[1]"  # beyond the names given
    assert extract_failure(log, steps=["install", None]).step == "customize[1]"  # an unnamed customizer
    assert extract_failure(log, steps=("install", "")).step == "customize[1]"


def test_a_succeeded_run_has_no_excerpt_and_any_other_state_has_one():
    failing = (EVENTS / "local_shell_exit3.log").read_text()
    assert extract_failure(failing, run_state=RunState.SUCCEEDED) is None
    for state in ("Failed", "Canceled", RunState.TIMED_OUT, "PartiallySucceeded"):
        assert extract_failure("", run_state=state).reason.startswith("no failure line in the log")
    assert extract_failure(None, run_state="Failed").reason == "Failed: no customization.log to read"  # type: ignore[arg-type]


@pytest.mark.parametrize("steps", ["install", [1, 2], ["ok", b"x"], 7, None])
def test_steps_that_are_not_names_are_refused_with_a_clear_error(steps):
    with pytest.raises(TypeError, match="steps must"):
        extract_failure("x", steps=steps)


# --- never raises, never empty for a failed run ----------------------------------------------------------

FRAGMENTS = [
    "[3c8e0a52-7d1f-4c36-9b7e-2f4d8a1c6e90] PACKER OUT ",
    "PACKER ERR 2020/04/30 23:38:58 ",
    "PACKER 2023/09/14 ",
    "ui: ",
    "ui error: ",
    "==> azure-arm: ",
    "    azure-arm: ",
    "--> azure-arm: ",
    "2025-02-13T17:20:26.8Z ",
    "[14:52:42][Step 1/1] ",
    "1589606815,,ui,error,",
    "**_### *",
    "\x1b[1;31m",
    "##[debug]",
    "(telemetry) Starting provisioner ",
    "(telemetry) ending ",
    "(telemetry) found error: ",
    "Build 'azure-arm' errored after 1 second: ",
    "Build was cancelled",
    "Cancelling build after receiving ",
    "Script exited with non-zero exit status: ",
    "Provisioning step had errors",
    "Remote command exited with '",
    "command 'powershell' exited with code: ",
    "packer-provisioner-windows-restart plugin: ",
    "Opening x for reading",
    "DeprovisioningScript",
    "IMAGE_STATE_UNDEPLOYABLE",
    "Deployment failed",
    "context deadline exceeded",
    "Upload failed",
    "Running builder",
    "Capturing image",
    "-> SIG ",
    "Uploading a => b",
    "Exception",
    "9" * 30,
    "0",
    "1",
    "'",
    ":",
    " ",
    "\n",
    "\r",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=60),
    st.integers(min_value=-2, max_value=6),
    st.sampled_from([None, "Failed", "Canceled", "Succeeded"]),
    st.lists(st.sampled_from(["install", "harden", "validate"]), max_size=3),
)
def test_fuzz_never_raises_and_a_failed_run_always_gets_a_reason(parts, max_lines, run_state, steps):
    got = extract_failure("".join(parts), max_lines=max_lines, run_state=run_state, steps=steps)
    if run_state == "Succeeded":
        assert got is None
    elif run_state is not None:
        assert got is not None and got.reason
    if got is not None:
        assert "\n" not in got.reason and len(got.lines) <= max(max_lines, 0)


# --- found reviewing the rewrite --------------------------------------------------------------------------

AIB = "[3c8e0a52-7d1f-4c36-9b7e-2f4d8a1c6e90] PACKER"


def test_deployment_words_in_a_customizers_stderr_are_no_source_failure():
    log = "\n".join(
        [
            f"{AIB} ERR 2020/04/30 23:38:58 [INFO] (telemetry) Starting provisioner powershell",
            f"{AIB} OUT ==> azure-arm: Write-Error 'Deployment failed with a status of Failed' (a test script)",
            f"{AIB} ERR 2020/04/30 23:39:00 [INFO] (telemetry) ending powershell",
            f"{AIB} OUT Build 'azure-arm' finished after 3 minutes.",
        ]
    )
    assert extract_failure(log) is None


def test_a_secret_in_a_step_name_is_masked():
    log = "\n".join(
        [
            f"{AIB} OUT ==> azure-arm: Uploading https://st.blob.core.windows.net/c/f.zip?sv=1&sig=SECRET => C:/f.zip",
            f"{AIB} OUT Build 'azure-arm' errored: Error uploading file",
        ]
    )
    got = extract_failure(log)
    assert got.step.startswith("file: ") and "SECRET" not in got.step and "sig=***" in got.step


def test_a_log_cut_between_steps_says_the_last_step_had_ended():
    log = "\n".join(
        [
            f"{AIB} ERR 2020/04/30 23:38:58 [INFO] (telemetry) Starting provisioner shell",
            f"{AIB} OUT     azure-arm: done",
            f"{AIB} ERR 2020/04/30 23:39:58 [INFO] (telemetry) ending shell",
        ]
    )
    got = extract_failure(log, run_state="Failed", steps=["install"])
    assert got.step == "install" and got.reason == "no failure line in the log; the last step, install, had ended"


def test_no_lines_asked_for_means_none_even_from_internals_only():  # found by the fuzz test
    log = f"PACKER ERR 2020/04/30 23:38:58 {AIB} OUT "
    assert extract_failure(log, run_state="Failed", max_lines=0).lines == ()
    assert extract_failure(log, run_state="Failed", max_lines=1).lines == (f"{AIB} OUT",)


def test_a_remote_exit_line_without_its_code_is_no_crash():
    """Found by the fuzz test: the rule's trigger matched a line whose exit code was cut off, and the
    reader raised AttributeError (the run could then not be recorded)."""
    log = "[1] PACKER ERR 2020/04/30 23:38:58 packer: [ERROR] Remote command exited with '\n"
    got = extract_failure(log, run_state="Failed")
    assert got is not None and got.reason
