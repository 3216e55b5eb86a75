"""Rules for Packer's messages and a script's output; the table and the real lines are in logrules."""

from __future__ import annotations

import re

from aibtrigger.domain.loglines import LogLine
from aibtrigger.domain.logreading import BuildReading

DEPLOYMENT_FAILED = re.compile(
    r"DeploymentFailed|Deployment failed|InvalidTemplateDeployment|RequestDisallowedByPolicy"
    r"|policy violation"
)
ERRORED = re.compile(r"Build '[^']*' errored(?: after [^:]*)?: ")
STEP_ANNOUNCEMENTS = (
    ("Provisioning with shell script: ", "shell"),
    ("Provisioning with Powershell...", "powershell"),
    ("Provisioning with powershell script: ", "powershell"),
    ("Restarting Machine", "windows-restart"),
    ("Uploading the Windows update elevated script", "windows-update"),
)
CLEANUP_STARTS = (
    "Deleting individual resources",
    "The resource group was not created",
    "Removing the created Deployment",
    "Cleanup requested",
    "Deleting Virtual Machine deployment",
    "Deleting resource group",
    "Wait completed",
    "Builds finished",
)
SOURCE_STARTS = (
    "Running builder",
    "Preparing builder",
    "Creating Azure Resource Manager",
    "ARM Client successfully",
    "Creating resource group",
    "Using existing resource group",
    "Validating deployment template",
    "Deploying deployment template",
    "Getting the VM's IP address",
    "Getting the public IP address",
    "Getting the certificate's URL",
    "Setting the certificate's URL",
    "Waiting for WinRM",
    "Waiting for SSH",
    "Connected to WinRM",
    "Connected to SSH",
)
CAPTURE_STARTS = (
    "Powering off machine",
    "Capturing image",
    "Generalizing machine",
    "Snapshotting",
    "Querying the machine's properties",
)
DEPROVISION_SIGNS = re.compile(
    r"DeprovisioningScript|>>> Sysprepping VM|IMAGE_STATE_|The waagent service will be stopped"
    r"|waagent -force -deprovision"
)


def cancel_received(reading: BuildReading, line: LogLine) -> bool:
    if not line.text.startswith("Cancelling build after receiving"):
        return False
    reading.record(line)
    reading.cancel(line.text.rsplit(" ", 1)[-1])
    return True


def build_errored(reading: BuildReading, line: LogLine) -> bool:
    errored = ERRORED.match(line.text)
    if not errored:
        return False
    verdict = line.text[errored.end() :].strip()
    if verdict.startswith("Build was cancelled"):
        reading.cancel(None)  # killed with no "Cancelling build" line of its own
    reading.give_verdict(verdict)
    reading.begin_cleanup()
    return True


def error_summary_starts(reading: BuildReading, line: LogLine) -> bool:
    reading.in_error_summary = True
    reading.begin_cleanup()
    return True


def error_summary_line(reading: BuildReading, line: LogLine) -> bool:
    if not reading.in_error_summary:
        return False  # `--> azure-arm: <artifact>` after a good build
    reading.give_verdict(line.text.strip())
    return True


def step_exited_non_zero(reading: BuildReading, line: LogLine) -> bool:
    if not line.text.startswith(
        ("Script exited with non-zero exit status", "Windows Update script exited with non-zero")
    ):
        return False
    reading.mark_failure(line.text.strip(), line)
    return True


def provisioning_step_had_errors(reading: BuildReading, line: LogLine) -> bool:
    reading.mark_failure(line.text.strip())
    reading.begin_cleanup()
    return True


def upload_failed(reading: BuildReading, line: LogLine) -> bool:
    reading.mark_failure(line.text.strip(), line)
    return True


def deployment_failed(reading: BuildReading, line: LogLine) -> bool:
    """The build VM's deployment failed: AIB's `source` step, before any customizer (later, the same words are
    a script's stderr, which Packer also shows as `==> azure-arm: ...`)."""
    if reading.provisioners_started or reading.announced or not DEPLOYMENT_FAILED.search(line.text):
        return False
    if reading.running.name is None:
        reading.call_running("source")
    reading.mark_failure(line.text.strip(), line)
    return True


def deadline_exceeded(reading: BuildReading, line: LogLine) -> bool:
    reading.mark_failure(line.text.strip(), line)
    return True


def restart_timed_out(reading: BuildReading, line: LogLine) -> bool:
    reading.mark_failure(line.text.strip(), line)
    return True


def cleanup_starts(reading: BuildReading, line: LogLine) -> bool:
    if not line.text.startswith(CLEANUP_STARTS):
        return False
    reading.begin_cleanup()
    reading.record(line)
    return True


def step_announced(reading: BuildReading, line: LogLine) -> bool:
    for prefix, kind in STEP_ANNOUNCEMENTS:
        if line.text.startswith(prefix):
            reading.announce_step(kind, line.text[len(prefix) :].strip() if prefix.endswith(": ") else "")
            break
    else:
        if not (line.text.startswith("Uploading ") and " => " in line.text):
            return False
        reading.announce_step("file", line.text[10:].strip())
    reading.record(line)
    return True


def hidden_step_starts(reading: BuildReading, line: LogLine) -> bool:
    text = line.text.lstrip()
    if text.startswith(SOURCE_STARTS) and not reading.provisioners_started and not reading.announced:
        reading.enter_hidden_step("source")
    elif text.startswith(CAPTURE_STARTS):
        reading.enter_hidden_step("capture")
    elif text.startswith(("-> SIG ", "Publishing to Shared Image Gallery")):
        reading.enter_hidden_step("distribute")
    else:
        return False
    reading.record(line)
    return True


def deprovisioning_shows(reading: BuildReading, line: LogLine) -> bool:
    if not DEPROVISION_SIGNS.search(line.text):
        return False
    if not reading.current.cleanup:
        reading.call_running("deprovision")
    reading.record(line)
    return True


def any_message(reading: BuildReading, line: LogLine) -> bool:
    reading.record(line)
    return True
