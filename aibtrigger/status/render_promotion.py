"""A template's staged versions and rollback as HTML: per staged run its versions, soak, checks, history
and next step, with its Promote and Reject forms; the template's Rollback form.

The forms post to admin-level functions (the host's master key, as POST /api/runs/{id}/promote): they
change what every scale set and child template picks up. A page opened with a function key shows
them, and the host refuses them; the hint next to them says so. Plain forms, no script needed.
"""

from __future__ import annotations

from aibtrigger.status.html_page import Links, e, when
from aibtrigger.status.promotion_view import OUTCOMES, Outcome, StagedVersion

_ADMIN_HINT = (
    "Admin level, as their HTTP endpoints (<code>POST /api/runs/{id}/promote</code>, <code>/reject</code>, "
    "<code>/api/templates/{name}/rollback</code>): they change what <code>latest</code> resolves to, so the "
    "host takes them only with its master key, and refuses them (401) from a page opened with a function "
    "key. Your signed-in name is recorded with your reason, and published."
)


def outcome_notice(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""
    if not outcome.changed:
        return (
            f'<p class="notice" role="status">{e(outcome.subject)} was already {e(outcome.state.replace("_", " "))}: '
            f"nothing changed.</p>"
        )
    return f'<p class="notice" role="status">{e(outcome.subject)} {e(OUTCOMES[outcome.state])}</p>'


def staged_section(staged: tuple[StagedVersion, ...], links: Links) -> str:
    if not staged:
        return ""
    items = "".join(_staged(i, version, links) for i, version in enumerate(staged))
    return (
        f'<section id="staged" aria-labelledby="h-staged"><h2 id="h-staged">Staged versions ({len(staged)})</h2>'
        f'<p class="muted">Published excluded from <code>latest</code>: scale sets and child templates keep the '
        f"previous version until one is promoted.</p>"
        f'<p class="muted" id="hint-staged">{_ADMIN_HINT}</p>{items}</section>'
    )


def rollback_form(name: str, images: tuple[str, ...], links: Links) -> str:
    if not images:
        return ""
    listed = "".join(f"<li><code>{e(image)}</code></li>" for image in images)
    return (
        f'<section id="rollback" aria-labelledby="h-rollback"><h2 id="h-rollback">Roll back</h2>'
        f"<p>Excludes the current <code>latest</code> of these images again, so <code>latest</code> falls back to "
        f"the version before it, and the children that track it rebuild from that one. Refused, changing "
        f"nothing, when there is no earlier version to fall back to.</p><ul>{listed}</ul>"
        f'<p class="muted" id="hint-rollback">{_ADMIN_HINT}</p>'
        f'<form method="post" action="{e(links.rollback(name))}">'
        f'<div><label for="rollback-reason">Reason (required)</label><input id="rollback-reason" name="reason" '
        f'required maxlength="1000" placeholder="what is wrong with the current version" '
        f'aria-describedby="hint-rollback"></div>'
        f'<button type="submit" class="danger">Roll back {e(name)}</button></form></section>'
    )


def _staged(i: int, version: StagedVersion, links: Links) -> str:
    versions = "".join(f"<li><code>{e(v)}</code></li>" for v in version.versions) or "<li>none recorded</li>"
    soak = when(version.soak_until) if version.soak_until else "no soak time"
    return (
        f'<article class="staged" data-run="{e(version.run_id)}" aria-labelledby="h-staged-{i}">'
        f'<h3 id="h-staged-{i}">Run {e(version.run_id)}</h3><dl class="facts">'
        f"<dt>Versions</dt><dd><ul>{versions}</ul></dd>"
        f"<dt>Staged since</dt><dd>{when(version.since)}</dd><dt>Soak ends</dt><dd>{soak}</dd>"
        f'<dt>Next step</dt><dd class="next-{e(version.next_kind)}"><strong>{e(version.next_step)}</strong></dd></dl>'
        f"{_checks(i, version)}{_actions(i, version)}{_forms(i, version.run_id, links)}</article>"
    )


def _checks(i: int, version: StagedVersion) -> str:
    if not version.checks:
        return '<p class="muted">No post-build checks.</p>'
    rows = "".join(
        f'<tr class="c-{e(c.result)}"><th scope="row">{e(c.label)}</th><td><b>{e(c.result)}</b></td>'
        f'<td class="detail">{e(c.detail)}</td><td>{when(c.at)}</td></tr>'
        for c in version.checks
    )
    return (
        f'<div class="scroll"><table aria-labelledby="h-checks-{i}"><caption id="h-checks-{i}">Post-build checks'
        f'</caption><thead><tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">Detail</th>'
        f'<th scope="col">When</th></tr></thead><tbody>{rows}</tbody></table></div>'
    )


def _actions(i: int, version: StagedVersion) -> str:
    if not version.actions:
        return '<p class="muted">Nobody has acted on it yet.</p>'
    items = "".join(
        f"<li>{when(a.at)}: <strong>{e(a.action)}</strong> by {e(a.by)}"
        f"{f' ({e(a.state)})' if a.state else ''}: {e(a.why)}</li>"
        for a in version.actions
    )
    return f'<h4 id="h-actions-{i}">History</h4><ol class="actions" aria-labelledby="h-actions-{i}">{items}</ol>'


def _forms(i: int, run_id: str, links: Links) -> str:
    return (
        f'<div class="forms"><form method="post" action="{e(links.run_action(run_id, "promote"))}">'
        f'<div><label for="promote-reason-{i}">Reason (optional)</label><input id="promote-reason-{i}" '
        f'name="reason" maxlength="1000" placeholder="why it may become latest" aria-describedby="hint-staged">'
        f'</div><button type="submit">Promote {e(run_id)}</button></form>'
        f'<form method="post" action="{e(links.run_action(run_id, "reject"))}">'
        f'<div><label for="reject-reason-{i}">Reason (required)</label><input id="reject-reason-{i}" '
        f'name="reason" required maxlength="1000" placeholder="what is wrong with it" aria-describedby="hint-staged">'
        f'</div><button type="submit" class="danger">Reject {e(run_id)}</button></form></div>'
    )
