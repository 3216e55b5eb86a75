"""Retention: of one gallery image's versions, which `prune` keeps (and why), which it deletes (and
why), and which kept ones it gives an endOfLifeDate. Pure: the versions and `now` are given.

Each version meets the keep rules in order; the first that holds keeps it and names why. A version
that no rule keeps is deleted.
  current_latest    `latest` resolves to it (the highest Succeeded version not excluded from latest)
  in_progress       still being created, updated or deleted: its fate is not settled yet
  pinned            a catalog entry's source names exactly this version: its builds need it
  in_use            an active build (a claim) builds from it: deleting it would break that build
  not_ours          no provenance tags, and no run of the template names it: made outside the service,
                    so a person's to delete, not ours (see `recorded` below)
  other_template    made by another template: that template's own policy decides
  staged            waiting for its checks, its soak or a person: promotion decides, not retention
  excluded_by_hand  excluded from latest outside the service (no promotion tag), not failed: left alone
  newest_promoted   among the image's newest `keep` promoted versions (a person's own count too: each
                    is a version `latest` can fall back to)
  too_young         published less than `min_age_days` ago
  age_unknown       no publishedDate: not known to be old enough
A version without provenance tags (the aib backend tags only a successful run's versions: a failed or
unrecovered distribution leaves its version untagged) is the template's own only with proof: a run of
the template whose record names it (`recorded`: its outputs, or the versions its recovery watched),
and it was published after that run began. Without both it is not_ours.

So what goes is the service's own: promoted versions superseded by `keep` newer ones, and rejected,
rolled-back or failed versions, each once older than `min_age_days`.

Retirement: a kept version the service made and promoted that is older than the current latest
(superseded) and has no endOfLifeDate yet gets one: the day `prune` may delete it by age
(publishedDate + min_age_days), or now when that day has passed. It goes once `keep` newer promoted
versions exist. An endOfLifeDate already set, by a person or an earlier prune, is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from aibtrigger.domain.promotion import EXCLUDED, PROMOTED, REJECTED, RETIRED, ROLLED_BACK, STAGED, version_state
from aibtrigger.domain.provenance import provenance_of
from aibtrigger.domain.versions import version_key

KEEP, DELETE = "keep", "delete"


@dataclass(frozen=True)
class Verdict:
    version_id: str
    version: str
    action: str  # KEEP or DELETE
    rule: str  # the keep rule that holds, or why it goes: superseded, rejected, rolled_back, failed
    reason: str
    state: str  # domain.promotion.version_state
    size_bytes: int | None = None
    end_of_life: datetime | None = None  # set: the endOfLifeDate prune gives this kept version


@dataclass(frozen=True)
class RetentionPlan:
    verdicts: tuple[Verdict, ...]  # oldest version first

    @property
    def kept(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.action == KEEP]

    @property
    def deleted(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.action == DELETE]

    @property
    def retired(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.end_of_life is not None]

    @property
    def freed_bytes(self) -> int:
        """What the deletions free, as far as known (see `unknown_sizes`)."""
        return sum(v.size_bytes or 0 for v in self.deleted)

    @property
    def unknown_sizes(self) -> int:
        return sum(1 for v in self.deleted if v.size_bytes is None)


class Version(NamedTuple):
    id: str
    name: str
    state: str
    provisioning: str
    made_by: str | None  # the template its provenance names; None: not made by the service
    published: datetime | None
    size_bytes: int | None

    @property
    def promoted(self) -> bool:
        return self.provisioning == "Succeeded" and self.state in (PROMOTED, RETIRED)


class Image(NamedTuple):
    """What the rules know about the whole image and the policy."""

    template: str
    keep: int
    min_age: timedelta
    now: datetime
    latest: Version | None  # what `latest` resolves to: the newest promoted version
    newest_promoted: frozenset[str]  # ids of the newest `keep` promoted versions
    pinned: Mapping[str, Collection[str]]  # lower-cased version id -> the templates pinned to it
    in_use: Mapping[str, Collection[str]]  # lower-cased version id -> the templates building from it now

    def age(self, v: Version) -> str:
        return f"{(self.now - v.published).days} days old" if v.published else "age unknown"


Rule = Callable[[Version, Image], str | None]  # the reason it keeps the version, or None


def _current_latest(v: Version, image: Image) -> str | None:
    return "the current latest: what `latest` resolves to" if v is image.latest else None


def _in_progress(v: Version, image: Image) -> str | None:
    return None if v.provisioning in ("Succeeded", "Failed") else f"provisioning state {v.provisioning}: not settled"


def _pinned(v: Version, image: Image) -> str | None:
    by = image.pinned.get(v.id.lower())
    return f"pinned in the catalog by {', '.join(sorted(by))}: their source names exactly this version" if by else None


def _in_use(v: Version, image: Image) -> str | None:
    by = image.in_use.get(v.id.lower())
    return f"an active build of {', '.join(sorted(by))} builds from it" if by else None


def _not_ours(v: Version, image: Image) -> str | None:
    return None if v.made_by else "no provenance tags: not made by aibtrigger, so not ours to delete"


def _other_template(v: Version, image: Image) -> str | None:
    return None if v.made_by == image.template else f"made by template {v.made_by}: its own retention decides"


def _staged(v: Version, image: Image) -> str | None:
    return "staged: waiting for promotion" if v.state == STAGED else None


def _excluded_by_hand(v: Version, image: Image) -> str | None:
    # A failed version is never `latest` whatever its flag (a staged template distributes excluded)
    by_hand = v.state == EXCLUDED and v.provisioning != "Failed"
    return "excluded from latest outside the service: left alone" if by_hand else None


def _newest_promoted(v: Version, image: Image) -> str | None:
    return f"one of the newest {image.keep} promoted versions (keep)" if v.id in image.newest_promoted else None


def _too_young(v: Version, image: Image) -> str | None:
    young = v.published is not None and image.now - v.published < image.min_age
    return f"younger than {image.min_age.days} days (min_age_days): {image.age(v)}" if young else None


def _age_unknown(v: Version, image: Image) -> str | None:
    return "no publishedDate: not known to be old enough" if v.published is None else None


KEEP_RULES: tuple[tuple[str, Rule], ...] = (
    ("current_latest", _current_latest),
    ("in_progress", _in_progress),
    ("pinned", _pinned),
    ("in_use", _in_use),
    ("not_ours", _not_ours),
    ("other_template", _other_template),
    ("staged", _staged),
    ("excluded_by_hand", _excluded_by_hand),
    ("newest_promoted", _newest_promoted),
    ("too_young", _too_young),
    ("age_unknown", _age_unknown),
)


def plan_retention(
    versions: Iterable[Mapping],
    *,
    template: str,
    keep: int,
    min_age_days: int,
    now: datetime,
    pinned: Mapping[str, Collection[str]] | None = None,
    in_use: Mapping[str, Collection[str]] | None = None,
    recorded: Mapping[str, datetime] | None = None,
) -> RetentionPlan:
    """The plan for one gallery image's version documents (adapters.gallery), under `template`'s policy.
    `pinned` and `in_use`: version ids (any case) -> the templates pinned to them, or building from them.
    `recorded`: version ids (any case) a run of `template` names -> when that run began."""
    own = {k.lower(): began for k, began in (recorded or {}).items()}
    found = _by_number(versions, template, own)
    promoted = [v for v in found if v.promoted]
    image = Image(
        template=template,
        keep=keep,
        min_age=timedelta(days=min_age_days),
        now=now,
        latest=promoted[-1] if promoted else None,
        newest_promoted=frozenset(v.id for v in promoted[-keep:]) if keep > 0 else frozenset(),
        pinned=_lowered(pinned),
        in_use=_lowered(in_use),
    )
    return RetentionPlan(tuple(_verdict(v, image) for v in found))


def current_latest(versions: Iterable[Mapping]) -> str | None:
    """The id of the version `latest` resolves to: the highest Succeeded one not excluded from latest."""
    promoted = [v for v in _by_number(versions) if v.promoted]
    return promoted[-1].id if promoted else None


def changed_since_listed(verdict: Verdict, versions: Sequence[Mapping], fresh: RetentionPlan) -> str | None:
    """Why `verdict`, planned from an earlier listing, must not be acted on now; None when it still holds.
    `versions` is the image's listing taken just before the change, `fresh` its plan. A deletion never
    changes what `latest` resolves to: not the current latest, nor one whose loss would leave it empty."""
    now = next((v for v in fresh.verdicts if v.version_id == verdict.version_id), None)
    if now is None:
        return "no longer listed"
    if (now.action, now.rule) != (verdict.action, verdict.rule):
        return f"now {'kept' if now.action == KEEP else 'deleted'}, {now.rule}: {now.reason}"
    if verdict.end_of_life is not None and now.end_of_life is None:
        return f"no longer retired: {now.reason}"
    if verdict.action == DELETE:
        rest = [doc for doc in versions if str(doc.get("id") or "") != verdict.version_id]
        if current_latest(rest) != current_latest(versions):
            return "deleting it would change what `latest` resolves to"
    return None


def _lowered(by_id: Mapping[str, Collection[str]] | None) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for version_id, names in (by_id or {}).items():
        found.setdefault(version_id.lower(), set()).update(names)
    return found


def _by_number(
    versions: Iterable[Mapping], template: str = "", recorded: Mapping[str, datetime] | None = None
) -> list[Version]:
    return sorted((_version(doc, template, recorded or {}) for doc in versions), key=lambda v: version_key(v.name))


def _verdict(v: Version, image: Image) -> Verdict:
    for name, rule in KEEP_RULES:
        reason = rule(v, image)
        if reason:
            return Verdict(v.id, v.name, KEEP, name, reason, v.state, v.size_bytes, _end_of_life(v, image))
    why, reason = _why_it_goes(v, image)
    return Verdict(v.id, v.name, DELETE, why, f"{reason}; {image.age(v)}", v.state, v.size_bytes)


def _why_it_goes(v: Version, image: Image) -> tuple[str, str]:
    if v.provisioning == "Failed":
        return "failed", "provisioning failed"
    if v.state in (REJECTED, ROLLED_BACK):
        return v.state, v.state.replace("_", " ")
    return "superseded", f"superseded: {image.keep} newer promoted versions are kept"


def _end_of_life(v: Version, image: Image) -> datetime | None:
    """Superseded versions of ours get the day they become deletable by age (never before now)."""
    latest = image.latest
    if v.state != PROMOTED or v.provisioning != "Succeeded" or v.made_by != image.template:
        return None
    if latest is None or version_key(v.name) >= version_key(latest.name):
        return None
    deletable = v.published + image.min_age if v.published else image.now
    return max(deletable, image.now)


def _version(doc: Mapping, template: str, recorded: Mapping[str, datetime]) -> Version:
    provenance = provenance_of(doc)
    size = doc.get("sizeBytes")
    version_id = str(doc.get("id") or "")
    published = parse_instant(doc.get("publishedDate"))
    began = recorded.get(version_id.lower())
    made_by = provenance["template"] if provenance else None
    if made_by is None and began is not None and published is not None and published >= began:
        made_by = template  # untagged, but a run of the template names it and it came after that run began
    return Version(
        id=version_id,
        name=str(doc.get("name") or ""),
        state=version_state(doc),
        provisioning=str(doc.get("provisioningState") or "Unknown"),
        made_by=made_by,
        published=published,
        size_bytes=size if isinstance(size, int) and size >= 0 else None,
    )


def parse_instant(value) -> datetime | None:
    """An ISO 8601 date (Azure's has 7 fractional digits; a naive one is UTC), or None when unreadable."""
    if not value:
        return None
    try:
        found = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)
