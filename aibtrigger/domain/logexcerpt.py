"""Why did a build fail? Reason, customizer, exit status and last output lines from a customization.log.

Reads AIB's three dialects (2019 `PACKER OUT|ERR ...`, 2019-2023 `[<guid>] PACKER OUT|ERR ...`, 2023+
`[<guid>] PACKER <date> ui: ...` / `[<guid>] PACKER ==> ...`) and lines that lost their prefix.
One pass, memory bounded by max_lines, anchored regexes only: linear on any input.
"""
from __future__ import annotations

import re
from collections import deque

from aibtrigger.domain.model import FailureExcerpt

__all__ = ["extract_failure", "redact"]

# SAS signatures, storage and Service Bus/Event Grid keys, bearer tokens, Authorization header credentials.
# Keys also as JSON or YAML fields ("AccountKey": "...").
_SECRET = re.compile(r"(?i)(\bsig=|\b(?:AccountKey|SharedAccessKey)[\"']?\s*[:=]\s*[\"']?|\bBearer\s+|"
                     r"\bAuthorization[\"']?\s*[:=]\s*[\"']?(?:Basic|SharedKey(?:Lite)?|Digest)\s+)[^\s&;\"'<>,]+")
_PREFIX = re.compile(r"[*> ]*(?:\[[^\]]{0,64}\] ?)?PACKER(?: OUT| ERR)?(?: |$)")
_DATE = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ?")
_UI = re.compile(r"\s*(==>|-->)?\s*(?:azure-arm[\w.-]*: ?)?")
_ERRORED = re.compile(r"Build '[^']*' errored(?: after [^:]*)?: ")
_STATUS = re.compile(r"(?i)non-zero exit status: (\d{1,10})(?!\d)")  # bounded: int() refuses huge digit strings
_CODE = re.compile(r"(?:exited with code:? |returned with exit code )(\d{1,10})(?!\d)")
_MACHINE_ERROR = re.compile(r'machine readable: [^,]*,error \[\]string\{"(.*)"\}')
_UI_STARTS = ("==>", "-->", "azure-arm", "Build '")
_STEP_FAILED = ("Script exited with non-zero exit status", "Windows Update script exited with non-zero")
# Cleanup, cancel and Packer's closing summary: never part of a customizer's output.
_AFTER_STEP = ("Provisioning step had errors", "Deleting individual resources", "The resource group was not created",
               "Removing the created Deployment", "Cleanup requested", "Deleting Virtual Machine deployment",
               "Deleting resource group", "Cancelling build after receiving", "Some builds didn't complete",
               "Builds finished", "Wait completed")
_AFTER_CUSTOMIZE = ("Powering off machine", "Capturing image", "Snapshotting", "Generalizing machine")
_STARTS = (("Provisioning with shell script: ", "shell"), ("Provisioning with Powershell...", "powershell"),
           ("Provisioning with powershell script: ", "powershell"), ("Restarting Machine", "windows-restart"),
           ("Uploading the Windows update elevated script", "windows-update"))
_KEEP_CHARS, _SHOW_CHARS, _WINDOW = 4000, 1000, 12


def redact(text: str) -> str:
    """Mask SAS signatures, account and shared access keys, bearer tokens and Authorization header
    credentials (the value becomes ***)."""
    return _SECRET.sub(r"\1***", text)


class _Seg:
    """A stretch of the log: one customizer's run, or builder work around the customizers."""

    def __init__(self, name: str | None, keep: int, custom: bool = False, cleanup: bool = False):
        self.name, self.custom, self.cleanup = name, custom, cleanup
        self.lines: deque[list] = deque(maxlen=keep + _WINDOW)  # [text, source, repeats, twins seen]
        self.code: int | None = None
        self.deprov = self.frozen = False

    def add(self, text: str, source: str) -> None:
        text = text[:_KEEP_CHARS].rstrip()
        if self.frozen or not text.strip():
            return
        # A UI message is often logged twice, dated (`<date> ui: m`) and plain (`m`): count its twin once.
        for i in range(len(self.lines) - 1, max(-1, len(self.lines) - 1 - _WINDOW), -1):
            e = self.lines[i]
            if e[0] == text and e[1] != source and e[3] < e[2]:
                e[3] += 1
                return
        if self.lines and self.lines[-1][0] == text and self.lines[-1][1] == source:
            self.lines[-1][2] += 1  # a polling loop must not push the real error out of the excerpt
        else:
            self.lines.append([text, source, 1, 0])


def extract_failure(log_text: str, *, max_lines: int = 20) -> FailureExcerpt | None:
    """The failure a customization.log shows, or None when it shows none (success, benign alarms, clean cancel).

    step: `<kind> #<n>` (n-th customizer started, from `(telemetry)` lines), else `<kind>: <script>` from
    Packer's UI lines; `deprovision` for AIB's hidden last step; None when no customizer was involved.
    """
    if isinstance(log_text, (bytes, bytearray)):
        log_text = bytes(log_text).decode("utf-8", "replace")
    if not isinstance(log_text, str):
        return None
    keep = max(int(max_lines), 0)
    current = last_work = _Seg(None, keep)
    last_custom = failed = cancel_seg = errored = arrow = machine = marker = cancel = None
    telemetry, started, errors_block, clean_cancel, prev_debug = False, 0, False, False, False

    for line in log_text.splitlines():
        p = _PREFIX.match(line)
        rest = line[p.end():] if p else line
        d = _DATE.match(rest)
        body = rest[d.end():] if d else rest
        if d and body.startswith(("ui:", "ui error:")):
            is_debug, text, source = False, body[body.index(":") + 1:], "log"
        elif d or (not p and prev_debug and not body.lstrip().startswith(_UI_STARTS)):
            is_debug, text, source = True, body, ""  # an undated bare line continues the debug line before it
        else:
            is_debug, text, source = False, body, "out"
        prev_debug = is_debug

        u = None if is_debug else _UI.match(text)
        # `    azure-arm: x` is a script's own stdout: whatever it says, it is output, never a Packer marker.
        output = u is not None and u.group(1) is None and "azure-arm" in text[:u.end()]
        t = -1 if output else text.find("(telemetry) ")
        if t >= 0:
            words = text[t + 12:].split()
            if words[:2] == ["Starting", "provisioner"]:
                telemetry, started = True, started + 1
                current = last_custom = _Seg(f"{words[2] if len(words) > 2 else '?'} #{started}", keep, True)
            elif words[:1] == ["ending"]:
                current = _Seg(None, keep, cleanup=True)
            continue
        if current.custom and "DeprovisioningScript" in text:
            current.deprov = True
        if is_debug:
            c = _CODE.search(text) if "exit" in text else None
            if c and "shutdown" not in text and "windows-update" not in text:  # their 1190/1115/101 are normal
                if cancel and c.group(1) == "0":
                    clean_cancel = True
                elif current.custom and not current.frozen:
                    current.code = int(c.group(1))
            elif machine is None and (i := text.find("machine readable: ")) >= 0:
                machine = m.group(1) if (m := _MACHINE_ERROR.match(text, i)) else None
            continue

        msg, collect = text[u.end():], False
        if output:
            collect = True
        elif e := _ERRORED.match(msg):
            errored = errored or msg[e.end():].strip()
        elif u.group(1) == "-->" and errors_block:
            arrow = arrow or msg.strip()
        elif msg.startswith(_STEP_FAILED):
            target = current if current.custom else last_custom
            if target is not None:
                target.add(msg, source)
                target.frozen, failed = True, failed or target
            marker = marker or msg.strip()
        elif msg.startswith(_AFTER_STEP):
            if msg.startswith("Provisioning step had errors"):
                marker = marker or msg.strip()
                if last_custom is not None and failed is None:
                    last_custom.frozen, failed = True, last_custom
            elif msg.startswith("Cancelling build"):
                cancel, cancel_seg = msg.strip(), current
            errors_block = errors_block or msg.startswith("Some builds didn't complete")
            current = _Seg(None, keep, cleanup=True)
        elif msg.startswith(_AFTER_CUSTOMIZE):
            last_custom, current = None, _Seg(None, keep)
            last_work = current
        elif not telemetry and (start := _customizer_start(msg)):
            if start[0] == "powershell" and start[1] and current.custom and current.name == "powershell":
                current.name = f"powershell: {start[1]}"  # the script line after `Provisioning with Powershell...`
            else:
                current = last_custom = _Seg(": ".join(filter(None, start)), keep, custom=True)
            current.add(msg, source)
        else:
            collect = True
        if collect:
            current.add(msg, source)
            last_work = last_work if current.cleanup or current.custom else current

    raw = errored or arrow or machine
    if cancel and (raw is None and marker is None or raw is not None and "cancel" in raw.lower()):
        if clean_cancel:
            return None  # a requested cancel that let the running command finish cleanly: nothing failed
        seg, raw, status = cancel_seg, cancel, None
        reason = "build cancelled after receiving " + cancel.rsplit(" ", 1)[-1]
    elif raw is None and marker is None:
        return None
    else:
        raw, seg = raw or marker, failed or last_custom or last_work
        status = int(s.group(1)) if (s := _STATUS.search(raw)) else (seg.code or None)
        if "context deadline exceeded" in raw.lower():
            reason = "build timed out (context deadline exceeded)"
        elif raw.startswith("Provisioning step had errors"):
            reason = "Provisioning step had errors" + (f": last command exited with code {status}" if status else "")
        else:
            reason = raw
    if seg.deprov:
        reason = f"deprovisioning step failed: {reason}"
    lines = [text if n == 1 else f"{text} (repeated {n} times)" for text, _, n, _ in seg.lines]
    if not lines or raw not in lines[-1]:
        lines.append(raw)
    shown = tuple(_show(x) for x in lines[-keep:]) if keep else ()
    return FailureExcerpt(reason=_show(reason), step="deprovision" if seg.deprov else seg.name,
                          exit_status=status, lines=shown)


def _customizer_start(msg: str) -> tuple[str, str] | None:
    """Kind and script of a customizer starting, from Packer's UI lines (for logs without `(telemetry)`)."""
    for prefix, kind in _STARTS:
        if msg.startswith(prefix):
            return kind, msg[len(prefix):].strip() if prefix.endswith(": ") else ""
    return ("file", msg[10:].strip()) if msg.startswith("Uploading ") and " => " in msg else None


def _show(text: str) -> str:
    text = redact(text)  # before cutting, so a cut never leaves the start of a secret unmasked
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "…"
