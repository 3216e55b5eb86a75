"""Rules for Packer's dated internals (debug lines); the table and the real lines are in logrules."""

from __future__ import annotations

import re

from aibtrigger.domain.loglines import LogLine
from aibtrigger.domain.logreading import BuildReading

EXIT_CODE = re.compile(
    r"(?:exited with code:? |returned with exit code )(\d{1,10})(?!\d)"
)  # bounded: no int() of huge digits
REMOTE_EXIT = re.compile(r"Remote command exited with '(\d{1,10})'")
MACHINE_ERROR = re.compile(r'machine readable: [^,]*,error \[\]string\{"(.*)"\}')
PROVISIONER_PLUGIN = re.compile(
    r"packer-(?:provisioner|plugin)-(windows-update|windows-restart|powershell|shell|file"
    r"|breakpoint|windows-shell)"
)
PLUGIN_INTERNALS = ("[INFO]", "[DEBUG]", "[WARN]", "[TRACE]", "Found command", "Opening ", "Uploading ", "Building ")


def telemetry_start(reading: BuildReading, line: LogLine) -> bool:
    words = line.text[line.text.index("(telemetry) ") + 12 :].split()
    if words[:2] != ["Starting", "provisioner"]:
        return False
    reading.start_provisioner(words[2] if len(words) > 2 else "?")
    return True


def telemetry_end(reading: BuildReading, line: LogLine) -> bool:
    """Also takes the other telemetry lines ("Finalizing."): Packer's bookkeeping, never a step's output."""
    words = line.text[line.text.index("(telemetry) ") + 12 :].split()
    if words[:1] == ["ending"]:
        reading.end_step(words[1] if len(words) > 1 else "?")
    elif words[:2] == ["found", "error:"]:
        return False
    return True


def telemetry_found_error(reading: BuildReading, line: LogLine) -> bool:
    reading.give_verdict(line.text[line.text.index("found error:") + 12 :].strip())
    reading.failed = reading.failed or reading.running
    return True


def machine_readable_error(reading: BuildReading, line: LogLine) -> bool:
    if found := MACHINE_ERROR.search(line.text):
        reading.give_verdict(found.group(1))
    reading.remember_debug(line)
    return True


def remote_command_exit(reading: BuildReading, line: LogLine) -> bool:
    """A shell (SSH) command's exit: AIB's Shell customizer has no valid exit codes, so non-zero is a failure."""
    found = REMOTE_EXIT.search(line.text)
    if found is None:  # the rule's trigger matched, its exit code did not (a line cut mid-way): not this rule
        return False
    code = int(found.group(1))
    if code and not reading.cancelled:
        reading.running.exit_status = code
        reading.mark_failure(line.text, line)
    return True


def command_exit_code(reading: BuildReading, line: LogLine) -> bool:
    """A remote command exited: the step's exit status (not a failure by itself: a PowerShell customizer may
    allow other codes), and the command tells the kind of step. Restarts (1115, 1190) and Windows Update (101:
    reboot required) exit non-zero normally, and after a cancel the torn-down command's code says nothing."""
    found = EXIT_CODE.search(line.text)
    if not found:
        return False
    benign = "shutdown" in line.text or "windows-update" in line.text or reading.cancelled
    if not benign and (code := int(found.group(1))):
        reading.running.exit_status = code
        reading.record(line, reading.running)
    command = line.text[line.text.index("command '") + 9 :].lower() if "command '" in line.text else ""
    if command.startswith("powershell") and "windows-update" not in command:
        reading.running.name_by_kind("powershell")
    reading.remember_debug(line)
    return True


def deprovisioning_command(reading: BuildReading, line: LogLine) -> bool:
    reading.call_running("deprovision")
    reading.remember_debug(line)
    return True


def plugin_reveals_kind(reading: BuildReading, line: LogLine) -> bool:
    kind = PROVISIONER_PLUGIN.match(line.plugin or "")
    if not kind:
        return False
    script = line.text[8:-12].strip() if line.text.startswith("Opening ") and line.text.endswith(" for reading") else ""
    reading.running.name_by_kind(kind.group(1), script)
    if not line.text.startswith(PLUGIN_INTERNALS) and not reading.current.cleanup:
        reading.record(line, reading.running)  # "Reboot already in progress, waiting..." is the step's own word
    reading.remember_debug(line)
    return True


def any_debug_line(reading: BuildReading, line: LogLine) -> bool:
    reading.remember_debug(line)
    return True
