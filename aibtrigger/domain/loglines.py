"""One line of a customization.log, freed of the prefixes its writers put in front of it.

AIB wraps Packer's output in three dialects (2019 `PACKER OUT|ERR ...`, 2019-2023 `[<guid>] PACKER OUT|ERR ...`,
2023+ `[<guid>] PACKER <date> ui: ...`); people paste it with markdown or CI prefixes, or paste Packer's own
output. Each prefix is a named rule below, with a real line it was written for (sources: tests/fixtures/logs).
Anchored regexes only: linear on any input.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

__all__ = ["LogLine", "LineReader"]

# Prefix rules, applied in this order (each real line is quoted from the fixture named after it).
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # "\x1b[1;31m==> azure-arm: Upload failed: ..." (packer8382)
CI_TIMESTAMP = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z ?"
)  # "2025-02-13T17:20:26.8254142Z Build ..." (runnerimages11581)
TEAMCITY = re.compile(
    r"\[\d\d:\d\d:\d\d\]\[[^\]]{0,40}\] ?"
)  # "[14:52:42][Step 1/1]     restapiserver: ..." (packerpr5385)
CI_NOISE = "##["  # "##[debug]Match start index: -1" (azdocs53477): the CI task's own chatter
MACHINE_READABLE = re.compile(
    r"\d{9,11},[^,]{0,64},ui,(?:say|message|error),"
)  # "1589606815,,ui,error,==> azure-arm: ..." (packer9261)
AIB_PREFIX = re.compile(
    r"[\s*_#>`]*(?:\[[^\]]{0,64}\] ?)?[\s*_#>`]*PACKER(?: (?:OUT|ERR))?(?: |$)"
)  # "**_### *PACKER ERR 2023/07/03 ..." (rds753)
PACKER_DATE = re.compile(
    r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) ?"
)  # "PACKER 2025/04/08 14:07:23 ui error: ..." (rds791)
UI_CALL = re.compile(
    r"ui(?: error)?:(?: |$)"
)  # "2016/02/06 08:53:07 ui error: ==> azure-arm: Deployment failed ..." (packerazure198)
PLUGIN = re.compile(
    r"(packer[\w.-]*?)(?:\.exe)?(?: plugin)?: (?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?"
)  # "packer-plugin-azure plugin: 2023/07/03 16:53:52 [INFO] ..." (rds753)
# The message itself: `==> builder: m` (Packer, or a script's stderr), `--> builder: m` (closing summary),
# `    builder: m` (a script's stdout), else a bare message ("Build 'azure-arm' errored: ...").
ARROW = re.compile(
    r"\s*(==>|-->)\s*(?:([\w.-]+):(?: |$))?"
)  # "    ==> azure-arm: Resource group has been deleted." (azdocs12156)
OUTPUT = re.compile(r"(?:\s+[\w.-]+|azure-arm[\w.-]*): ?")  # "azure-arm: IMAGE_STATE_COMPLETE" (runnerimages6250)
UI_STARTS = ("==>", "-->", "Build '")
READ_CHARS = 8000  # of a longer line only the start is read: markers sit at the start, and regexes stay cheap


class LogLine(NamedTuple):
    """A message and what kind of line carried it.

    channel: "ui" (Packer's message or a script's stderr), "summary" (`-->`), "output" (a script's stdout),
    "debug" (dated internals), "noise" (a CI runner's own lines).
    """

    text: str
    channel: str
    at: datetime | None = None
    plugin: str | None = None  # who logged a debug line, e.g. packer-provisioner-powershell
    dated_twin: bool = False  # a `<date> ui: m` line, usually followed by its plain twin `m`


class LineReader:
    """Turns raw lines into LogLines; remembers only whether the previous line was a debug line."""

    def __init__(self) -> None:
        self._after_debug = False

    def read(self, raw: str) -> LogLine:
        line = self._read(raw[:READ_CHARS])
        self._after_debug = line.channel == "debug"
        return line

    def _read(self, raw: str) -> LogLine:
        text = ANSI_COLOUR.sub("", raw) if "\x1b" in raw else raw
        at = None
        first = text[:1]
        if first.isdigit() or first.isspace():
            if stamp := CI_TIMESTAMP.match(text):
                at, text = _time(stamp), text[stamp.end() :]
            elif machine := MACHINE_READABLE.match(text):
                return _message(text[machine.end() :], at)
        elif first == "[" and (teamcity := TEAMCITY.match(text)):
            text = text[teamcity.end() :]
        if text.startswith(CI_NOISE):
            return LogLine(text, "noise", at)
        prefixed = AIB_PREFIX.match(text)
        if prefixed:
            text = text[prefixed.end() :]
        if dated := PACKER_DATE.match(text):
            at, text = _time(dated), text[dated.end() :]
            if ui := UI_CALL.match(text):
                return _message(text[ui.end() :], at, dated_twin=True)
            return _debug(text, at)
        if not prefixed and self._after_debug and not text.lstrip().startswith(UI_STARTS) and not OUTPUT.match(text):
            return _debug(text, at)  # an undated bare line continues the debug line before it
        return _message(text, at)


def _message(text: str, at: datetime | None, dated_twin: bool = False) -> LogLine:
    if arrow := ARROW.match(text):
        channel = "summary" if arrow.group(1) == "-->" else "ui"
        return LogLine(text[arrow.end() :].rstrip(), channel, at, dated_twin=dated_twin)
    if output := OUTPUT.match(text):
        return LogLine(text[output.end() :].rstrip(), "output", at, dated_twin=dated_twin)
    return LogLine(text.strip(), "ui", at, dated_twin=dated_twin)


def _debug(text: str, at: datetime | None) -> LogLine:
    plugin = PLUGIN.match(text)
    if plugin:
        text = text[plugin.end() :]
    return LogLine(text.strip(), "debug", at, plugin.group(1) if plugin else None)


def _time(match: re.Match[str]) -> datetime | None:
    # both date patterns have the same six groups, all digits
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:  # a date that does not exist (fuzzed input): no time rather than an error
        return None
