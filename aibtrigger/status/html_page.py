"""The page around every view, and the small helpers the views share. Standard library only:
server-rendered HTML, one inline stylesheet and one inline script, nothing fetched from elsewhere
(the page works offline and in a locked network)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from html import escape
from pathlib import Path
from urllib.parse import quote, urlencode

_ASSETS = Path(__file__).with_name("assets")


@cache
def _asset(name: str) -> str:
    return (_ASSETS / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Links:
    """URLs between the views. `base` is the overview's path (`/api/status`); a function key the page
    was opened with (`?code=`) is carried along, so every link and the live updates keep working."""

    base: str
    code: str | None = None

    def _with(self, path: str, **params: str) -> str:
        query = {**({"code": self.code} if self.code else {}), **params}
        return path + ("?" + urlencode(query) if query else "")

    def overview(self) -> str:
        return self._with(self.base)

    def lineage(self) -> str:
        return self._with(self.base + "/lineage")

    def template(self, name: str, **params: str) -> str:
        return self._with(f"{self.base}/templates/{quote(name)}", **params)

    def build(self, name: str) -> str:
        return self._with(f"{self.base}/templates/{quote(name)}/build")

    def run_action(self, run_id: str, action: str) -> str:
        """A staged run's form: `promote` or `reject`."""
        return self._with(f"{self.base}/runs/{quote(run_id)}/{action}")

    def rollback(self, name: str) -> str:
        return self._with(f"{self.base}/templates/{quote(name)}/rollback")


def e(value) -> str:
    """Escaped text; None shows as nothing."""
    return "" if value is None else escape(str(value), quote=True)


def when(moment: datetime | None) -> str:
    """Minutes, in UTC, as the live script writes them too (plain text: 200 <time> tags weigh 9 KB)."""
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def page(
    *, title: str, view: str, links: Links, generated_at: datetime, body: str, current: str = "", attrs: str = ""
) -> str:
    """A whole document. `view` picks the live script's updater; `current` marks the nav entry."""
    nav = "".join(
        f'<a href="{e(href)}"{" aria-current=page" if name == current else ""}>{label}</a>'
        for name, label, href in (("overview", "Overview", links.overview()), ("lineage", "Lineage", links.lineage()))
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(title)} · aibtrigger</title><style>{_asset('status.css')}</style></head>"
        f'<body data-view="{view}"{attrs}><a class="skip" href="#main">Skip to content</a>'
        f'<header><nav aria-label="Status pages">{nav}</nav>'
        f'<p class="stamp">Updated <span id="updated">{generated_at:%H:%M:%S} UTC</span></p></header>'
        f'<main id="main">{body}</main><script>{_asset("status.js")}</script></body></html>'
    )
