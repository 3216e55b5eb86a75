"""The overview as HTML: the state counts, then one table row per template. Read-only: no action here.

Cells that the live script updates carry `data-k` (the JSON field they show); rows carry
`data-template` and a `st-<state>` class.
"""

from __future__ import annotations

from aibtrigger.status.html_page import Links, e, page, when
from aibtrigger.status.model import STATES, Overview, TemplateRow


def render_overview(view: Overview, links: Links) -> str:
    counts = "".join(
        f'<li class="st-{state}"><span class="badge">{label} <span data-count="{state}">'
        f"{view.counts.get(state, 0)}</span></span></li>"
        for state, label in STATES.items()
    )
    rows = "".join(_row(row, links) for row in view.templates)
    body = (
        f'<h1>Templates</h1><ul class="counts" aria-label="Templates by state">{counts}</ul>'
        f'<div class="scroll"><table><caption>Every template in the catalog ({len(view.templates)}), '
        f"its state, the source version it was last built from and its last result</caption>"
        f'<thead><tr><th scope="col">Template</th><th scope="col">State</th>'
        f'<th scope="col">Built from</th><th scope="col">Newest seen</th>'
        f'<th scope="col">Last result</th></tr></thead><tbody>{rows}</tbody></table></div>'
    )
    return page(
        title="Templates", view="overview", links=links, generated_at=view.generated_at, body=body, current="overview"
    )


def _row(row: TemplateRow, links: Links) -> str:
    return (
        f'<tr class="st-{row.state}" data-template="{e(row.name)}">'
        f'<th scope="row"><a href="{e(links.template(row.name))}">{e(row.name)}</a>'
        f'<p class="src wide">{e(row.source)}</p></th>'
        f'<td><span class="badge" data-k="state_label">{e(row.state_label)}</span> '
        f'<span data-k="sub_state">{e(row.sub_state)}</span></td>'
        f'<td data-k="built_from">{e(row.built_from)}</td>'
        f'<td><span data-k="observed">{e(row.observed)}</span> '
        f'<span class="newer" data-k="newer_observed">{"newer" if row.newer_observed else ""}</span></td>'
        f'<td><span data-k="last_result">{e(row.last_result)}</span> '
        f'<span class="muted" data-k="last_at">{when(row.last_at)}</span></td></tr>'
    )
