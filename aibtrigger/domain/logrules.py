"""The rules that read a customization.log, tried in order on every line; the first that takes a line wins.

Each rule quotes the real line it exists for; the file named in brackets is in tests/fixtures/logs (sources
in SOURCES.md there) or, where marked `events/`, in tests/events/logs. A rule reads only the channels it names:
a script's stdout (`    azure-arm: ...`) is output whatever it says, never a Packer marker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aibtrigger.domain import logrules_debug as debug
from aibtrigger.domain import logrules_ui as ui
from aibtrigger.domain.loglines import LogLine
from aibtrigger.domain.logreading import BuildReading

__all__ = ["RULES", "Rule", "apply_rules"]

DEBUG, UI, SUMMARY, OUTPUT = "debug", "ui", "summary", "output"


@dataclass(frozen=True)
class Rule:
    name: str
    examples: tuple[str, ...]  # real lines, verbatim, that the rule exists for
    source: str  # where they come from: a file in tests/fixtures/logs (see SOURCES.md) or tests/events/logs
    channels: tuple[str, ...]
    needle: str  # a text every line the rule takes holds (a cheap first test; "" for any)
    apply: Callable[[BuildReading, LogLine], bool]  # False: not this rule's line after all, try the next


RULES: tuple[Rule, ...] = (
    # --- Packer's internals ------------------------------------------------------------------------------
    Rule(
        "telemetry: a provisioner starts",
        (
            "[76302954-eb7b-4972-887a-ca465b9a1306] PACKER ERR 2024/04/25 16:19:01 [INFO] (telemetry) Starting "
            "provisioner powershell",
        ),
        "pkraz314_deprovision_started.log",
        (DEBUG, UI),
        "(telemetry) ",
        debug.telemetry_start,
    ),
    Rule(
        "telemetry: a provisioner ends",
        ("2017/07/11 16:48:50 [INFO] (telemetry) ending salt-masterless",),
        "packer5118_salt_remote_command_exit2.log",
        (DEBUG, UI),
        "(telemetry) ",
        debug.telemetry_end,
    ),
    Rule(
        "telemetry: a provisioner failed",
        ("2017/07/11 16:48:50 [INFO] (telemetry) found error: Error executing salt-call: Bad exit",),
        "packer5118_salt_remote_command_exit2.log",
        (DEBUG,),
        "(telemetry) found error:",
        debug.telemetry_found_error,
    ),
    Rule(
        "machine-readable error",
        (
            "[864c0337-b300-48ab-8e8e-7894bc695b7c] PACKER ERR 2023/06/13 08:46:26 machine readable: azure-arm,error "
            '[]string{"Timeout waiting for machine to restart."}',
        ),
        "events/aib2023_windows_restart_timeout.log (Packer's machine-readable shape as in packerazure198)",
        (DEBUG,),
        "machine readable:",
        debug.machine_readable_error,
    ),
    Rule(
        "a shell command exited non-zero",
        (
            "2017/07/11 16:48:50 packer: 2017/07/11 16:48:50 Remote command exited with '2': sudo salt-call --local  "
            "state.highstate --file-root=/srv/salt --pillar-root=/srv/pillar --retcode-passthrough -l info",
        ),
        "packer5118_salt_remote_command_exit2.log",
        (DEBUG,),
        "Remote command exited with '",
        debug.remote_command_exit,
    ),
    Rule(
        "a remote command exited",
        (
            "[64f6f026-0959-4788-bfe8-da8ebd42ae51] PACKER 2024/11/23 00:31:33 "
            "packer-plugin-azure_v2.2.0_x5.0_linux_amd64 "
            "plugin: 2024/11/23 00:31:33 [INFO] command 'powershell -executionpolicy bypass -file "
            '"C:/Windows/Temp/packer-'
            "elevated-shell-67412259-0659-7bfd-11e5-cf6f26b919fb.ps1\"' exited with code: 4294770688",
        ),
        "pkraz455_powershell_4294770688.log",
        (DEBUG,),
        "exit",
        debug.command_exit_code,
    ),
    Rule(
        "the deprovisioning command runs",
        (
            "[76302954-eb7b-4972-887a-ca465b9a1306] PACKER ERR 2024/04/25 16:19:01 packer-provisioner-powershell "
            "plugin: "
            "Found command: if( TEST-PATH c:\\DeprovisioningScript.ps1 ){c:\\DeprovisioningScript.ps1}",
        ),
        "pkraz314_deprovision_started.log",
        (DEBUG,),
        "DeprovisioningScript",
        debug.deprovisioning_command,
    ),
    Rule(
        "the plugin tells the kind of step",
        (
            "[09011877-ba24-4d21-ad29-1220333e0b5c] PACKER 2025/04/08 14:07:23 "
            "packer-plugin-windows-update_v0.16.9_x5.0_"
            "linux_amd64 plugin: 2025/04/08 14:07:23 Retryable error: context canceled",
        ),
        "rds791_windows_update_cancelled.log",
        (DEBUG,),
        "",
        debug.plugin_reveals_kind,
    ),
    Rule(
        "other internals",
        (
            "[64f6f026-0959-4788-bfe8-da8ebd42ae51] PACKER 2024/11/23 00:31:24 [INFO] 108 bytes written for "
            "'uploadData'",
        ),
        "pkraz455_powershell_4294770688.log",
        (DEBUG,),
        "",
        debug.any_debug_line,
    ),
    # --- Packer's messages -------------------------------------------------------------------------------
    Rule(
        "the build is cancelled",
        (
            "[09011877-ba24-4d21-ad29-1220333e0b5c] PACKER 2025/04/08 14:07:23 ui error: Cancelling build after "
            "receiving terminated",
        ),
        "rds791_windows_update_cancelled.log",
        (UI,),
        "Cancelling build",
        ui.cancel_received,
    ),
    Rule(
        "the build errored",
        (
            "2025-02-13T17:20:26.8254142Z Build 'azure-arm.build_image' errored after 24 minutes 41 seconds: Script "
            "exited with non-zero exit status: 1. Allowed exit codes are: [0]",
            "    Build 'azure-arm' errored: Build was cancelled",
        ),
        "runnerimages11581_script_exit1.log, azdocs12156_sysprep_undeployable_cancelled.log",
        (UI,),
        "Build '",
        ui.build_errored,
    ),
    Rule(
        "the closing error summary starts",
        ("2025-02-13T17:20:26.8255036Z ==> Some builds didn't complete successfully and had errors:",),
        "runnerimages11581_script_exit1.log",
        (UI,),
        "Some builds didn't complete",
        ui.error_summary_starts,
    ),
    Rule(
        "a line of the closing error summary",
        (
            "--> azure-arm: Future#WaitForCompletion: context has been cancelled: StatusCode=200 -- Original Error: "
            "context deadline exceeded",
        ),
        "packer8490_sig_publish_deadline.log",
        (SUMMARY,),
        "",
        ui.error_summary_line,
    ),
    Rule(
        "a script exited non-zero",
        (
            "[3c8e0a52-7d1f-4c36-9b7e-2f4d8a1c6e90] PACKER OUT ==> azure-arm: Script exited with non-zero exit "
            "status: 3. "
            "Allowed exit codes are: [0]",
        ),
        "events/local_shell_exit3.log (written by the service's local backend)",
        (UI,),
        "exited with non-zero",
        ui.step_exited_non_zero,
    ),
    Rule(
        "provisioning step had errors",
        ("    ==> azure-arm: Provisioning step had errors: Running the cleanup provisioner, if present...",),
        "packer11004_environment_permission_denied.log",
        (UI,),
        "Provisioning step had errors",
        ui.provisioning_step_had_errors,
    ),
    Rule(
        "an upload failed",
        ("\x1b[1;31m==> azure-arm: Upload failed: scp: /opt/nginx.conf: Permission denied\x1b[0m",),
        "packer8382_upload_permission_denied.log",
        (UI,),
        "Upload failed",
        ui.upload_failed,
    ),
    Rule(
        "the build VM's deployment failed",
        (
            'ng running operation terminated with status \'Failed\': Code="DeploymentFailed" Message="At least one '
            "resource deployment",
            "2016/02/06 08:53:07 ui error: ==> azure-arm: Deployment failed with a status of 'Failed'.",
        ),
        "qtdevops35_deployment_failed.log, packerazure198_deployment_failed.log",
        (UI, SUMMARY),
        "",
        ui.deployment_failed,
    ),
    Rule(
        "a wait timed out",
        (
            "2020-04-24T14:42:52.5767527Z ==> vhd: Future#WaitForCompletion: context has been cancelled: "
            "StatusCode=200 "
            "-- Original Error: context deadline exceeded",
        ),
        "azdocs53477_capture_deadline.log",
        (UI,),
        "context deadline exceeded",
        ui.deadline_exceeded,
    ),
    Rule(
        "the machine never came back",
        ("==> azure-arm: Timeout waiting for machine to restart.",),
        "the message quoted in the title of hashicorp/packer#9532",
        (UI,),
        "Timeout waiting for machine to restart",
        ui.restart_timed_out,
    ),
    Rule(
        "cleanup starts",
        ("2025-02-13T17:20:15.6873183Z ==> azure-arm.build_image: Cleanup requested, deleting resource group ...",),
        "runnerimages11581_script_exit1.log",
        (UI,),
        "",
        ui.cleanup_starts,
    ),
    Rule(
        "Packer announces a step",
        (
            "==> azure-arm: Provisioning with shell script: /var/folders/dr/dhb78bg102bcy6yhc_twl_k00000gn/T/packer-"
            "shell488226559",
            "\x1b[1;32m==> azure-arm: Uploading nginx.conf => /opt/nginx.conf \x1b[0m",
        ),
        "wombat277_waagent_deprovision.log, packer8382_upload_permission_denied.log",
        (UI,),
        "",
        ui.step_announced,
    ),
    Rule(
        "a hidden step starts",
        (
            "==> azure-arm: Deploying deployment template ...",
            "==> azure-arm:  -> SIG publish resource group     : 'test-pkr'",
        ),
        "qtdevops35_deployment_failed.log, packer8490_sig_publish_deadline.log",
        (UI,),
        "",
        ui.hidden_step_starts,
    ),
    Rule(
        "deprovisioning shows",
        (
            "    azure-arm: IMAGE_STATE_UNDEPLOYABLE",
            "[0ca7f19d-2eb3-4405-a951-1f0fe5139a0d] PACKER OUT     azure-arm: Write-Output '>>> Sysprepping VM ...'",
            "[1e333e01-b8d7-45d3-9295-1f49870c39e1] PACKER OUT ==> azure-arm: At C:\\DeprovisioningScript.ps1:4 char:9",
            "    azure-arm: WARNING! The waagent service will be stopped.",
        ),
        "azdocs12156_sysprep_undeployable_cancelled.log, azvmib38_*.log, wombat277_waagent_deprovision.log",
        (UI, OUTPUT),
        "",
        ui.deprovisioning_shows,
    ),
    Rule(
        "any other message",
        ("        azure-arm: /tmp/script_697.sh: line 29: /etc/environment: Permission denied",),
        "packer11004_environment_permission_denied.log",
        (UI, SUMMARY, OUTPUT),
        "",
        ui.any_message,
    ),
)


RULES_BY_CHANNEL: dict[str, tuple[Rule, ...]] = {
    channel: tuple(rule for rule in RULES if channel in rule.channels) for channel in (DEBUG, UI, SUMMARY, OUTPUT)
}


def apply_rules(reading: BuildReading, line: LogLine) -> str | None:
    """Feed one line to the first rule that takes it; the rule's name, or None (CI noise)."""
    reading.tick(line)
    for rule in RULES_BY_CHANNEL.get(line.channel, ()):
        if rule.needle in line.text and rule.apply(reading, line):
            return rule.name
    return None
