"""The catalog: the only templates the service may ever build, with their definitions and policies.

A YAML (or JSON) file, validated here so that every problem is reported with its entry and field
path. `definition` is an AIB image template as Azure shows it: its `properties` or the whole resource
(template_paste), every writable property of the API (template_model), checked by AIB's own
cross-field rules (template_rules). Read-only fields are accepted, ignored and noted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from aibtrigger.errors import CatalogError
from aibtrigger.template_model import (  # noqa: F401 (re-exported)
    GALLERY_IMAGE_ID,
    RUN_OUTPUT_NAME,
    FileCustomizer,
    ManagedImageDistributor,
    ManagedImageSource,
    PlatformImageSource,
    PowerShellCustomizer,
    SharedImageDistributor,
    SharedImageVersionSource,
    ShellCustomizer,
    TemplateDefinition,
    Versioning,
    VhdDistributor,
    _Strict,
)
from aibtrigger.template_paste import Pasted, unpaste
from aibtrigger.template_rules import template_problems

TEMPLATE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"


# --- catalog entries --------------------------------------------------------------------------------
class MaintenanceWindow(_Strict):
    """When builds may start; semantics in aibtrigger.domain.schedule (wraps past midnight, IANA timezone)."""

    days: list[str] | None = None  # Mon..Sun (or full names); omitted: every day
    start: str  # "HH:MM", local time in `timezone`
    end: str  # "HH:MM"; earlier than start: the window ends the next day; "24:00": midnight
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _valid_window(self):
        from aibtrigger.domain.schedule import parse_window

        parse_window(self)  # ValueError names the bad day, time or zone
        return self


class WebhookCheck(_Strict):
    """POST the new version's provenance to `url`; a 2xx answer within the timeout passes."""

    kind: Literal["webhook"] = "webhook"
    name: str | None = None  # what reports call it; default: the URL's host
    url: str = Field(pattern=r"^https?://")
    timeout_seconds: float = Field(default=30.0, gt=0, le=120)  # within the reconciler's function timeout


class CommandCheck(_Strict):
    """Local backend only: run `run` (a shell command) inside the captured image; exit 0 passes."""

    kind: Literal["command"] = "command"
    name: str | None = None  # default: the command
    run: str = Field(min_length=1)
    timeout_seconds: float = Field(default=120.0, gt=0, le=240)  # within the reconciler's function timeout


PostBuildCheck = Annotated[WebhookCheck | CommandCheck, Field(discriminator="kind")]


class Promotion(_Strict):
    """When a new version becomes `latest` (what children and scale sets pick up).

    immediate: at once (AIB's own behaviour). after_checks: when every check passed and `soak_minutes`
    went by. manual: when a person promotes it (`aibtrigger promote RUN_ID`). Until then the version
    is staged: published with excludeFromLatest, so `latest` still resolves to the previous one."""

    mode: Literal["immediate", "after_checks", "manual"] = "immediate"
    soak_minutes: int = Field(default=0, ge=0, le=60 * 24 * 30)
    checks: list[PostBuildCheck] = Field(default_factory=list)

    @property
    def stages(self) -> bool:
        return self.mode != "immediate"

    @model_validator(mode="after")
    def _checks_need_a_gate(self):
        if self.mode == "immediate" and (self.checks or self.soak_minutes):
            raise ValueError("checks and soak_minutes need mode after_checks or manual: immediate promotes at once")
        if self.mode == "after_checks" and not (self.checks or self.soak_minutes):
            raise ValueError("mode after_checks needs at least one check or a soak_minutes")
        return self


class Retention(_Strict):
    """Which promoted versions `prune` keeps: the newest `keep`, and any younger than `min_age_days`.
    Never the current latest, never a staged version."""

    keep: int = Field(ge=1)
    min_age_days: int = Field(default=0, ge=0)


class Policy(_Strict):
    """When and how a template is rebuilt, beyond 'its source changed'."""

    paused: bool = False
    schedule: str | None = None  # 6-field NCRONTAB, seconds first, UTC: "0 0 3 * * Sun"
    only_if_changed: bool = False  # with a schedule: build at a tick only if its lineage has a newer version
    maintenance_window: MaintenanceWindow | None = None
    max_consecutive_failures: int = Field(default=5, ge=0)  # auto-disable after N; 0: never
    promotion: Promotion = Field(default_factory=Promotion)
    retention: Retention | None = None  # None: `prune` leaves this template's versions alone

    @field_validator("schedule")
    @classmethod
    def _ncrontab(cls, value: str | None) -> str | None:
        from aibtrigger.domain.schedule import parse_schedule

        return None if value is None else parse_schedule(value).expression

    @model_validator(mode="after")
    def _only_if_changed_needs_a_schedule(self):
        if self.only_if_changed and not self.schedule:
            raise ValueError("only_if_changed needs a schedule: such a template builds at its scheduled ticks only")
        return self


class TemplateEntry(_Strict):
    name: str = Field(pattern=TEMPLATE_NAME)
    location: str = "westeurope"
    definition: TemplateDefinition | None = None
    resource_id: str | None = None  # the image template in Azure, for the aib backend
    policy: Policy = Field(default_factory=Policy)

    @model_validator(mode="after")
    def _has_something_to_build(self):
        if self.definition is None and self.resource_id is None:
            raise ValueError("an entry needs a 'definition' (local backend) or a 'resource_id' (aib backend)")
        return self

    @model_validator(mode="after")
    def _staging_needs_versions_kept_from_latest(self):
        """A gated promotion stages a version by publishing it excluded from `latest`; a distributor that
        does not say so would make every build `latest` at once, whatever the policy."""
        if not self.policy.promotion.stages or self.definition is None:
            return self
        mode = self.policy.promotion.mode
        galleries = [d for d in self.definition.distribute if isinstance(d, SharedImageDistributor)]
        if not galleries:
            raise ValueError(
                f"policy.promotion.mode {mode} stages gallery image versions, and this template has no "
                "SharedImage distributor: use mode immediate, or distribute to a gallery"
            )
        loose = [d.runOutputName for d in galleries if d.excludeFromLatest is not True]
        if loose:
            raise ValueError(
                f"policy.promotion.mode {mode} needs every SharedImage distributor to publish with "
                f'"excludeFromLatest": true (the service promotes the version later); missing on '
                f"runOutputName {', '.join(loose)}"
            )
        return self


class Catalog(_Strict):
    templates: list[TemplateEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self):
        seen: set[str] = set()
        for index, entry in enumerate(self.templates):
            if entry.name in seen:
                raise ValueError(f"templates[{index}]: duplicate template name {entry.name!r}")
            seen.add(entry.name)
        return self

    @cached_property
    def by_name(self) -> dict[str, TemplateEntry]:
        return {entry.name: entry for entry in self.templates}

    def get(self, name: str) -> TemplateEntry:
        """The entry called `name`; raises UnknownTemplateError when the catalog has none."""
        from aibtrigger.errors import UnknownTemplateError

        try:
            return self.by_name[name]
        except KeyError:
            raise UnknownTemplateError(f"template {name!r} is not in the catalog") from None

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def with_definitions(self, definitions: dict[str, TemplateDefinition]) -> Catalog:
        """This catalog with the given entries' definitions filled in (read from Azure for
        `resource_id`-only entries); CatalogError if the lineage they reveal has a cycle."""
        from aibtrigger.domain.lineage import validate_lineage

        try:
            filled = Catalog(
                templates=[
                    entry.model_copy(update={"definition": definitions[entry.name]})
                    if entry.name in definitions
                    else entry
                    for entry in self.templates
                ]
            )
        except ValidationError as exc:  # e.g. a gated promotion, and a template in Azure not excluding from latest
            problems = [
                f"{_entry_path(int(e['loc'][1]), self.model_dump()) if len(e['loc']) > 1 else ''}: "
                f"{e['msg']} (the definition read from Azure)"
                for e in exc.errors()
            ]
            raise CatalogError("; ".join(problems)) from None
        validate_lineage(filled)
        return filled


@dataclass
class CatalogReport:
    """What checking a catalog found: the catalog (None when invalid), every problem ("path: message")
    and notes about accepted input that is not used (read-only fields)."""

    catalog: Catalog | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_catalog(data: object) -> CatalogReport:
    """Validate a loaded document, all of it: schema, AIB's template rules, lineage."""
    normalized, pasted = _unpaste_definitions(data)
    report = CatalogReport(None)
    try:
        report.catalog = Catalog.model_validate(normalized)
    except ValidationError as exc:
        report.problems += [_describe(_as_pasted(e, pasted), data) for e in exc.errors()]
    for index, paste in pasted.items():
        definition = _entry_path(index, data) + ".definition."
        properties = definition + ("properties." if paste.whole_resource else "")
        report.problems += [f"{definition}{path}: {message}" for path, message in paste.problems]
        report.problems += [f"{properties}{path}: {message}" for path, message in template_problems(paste.properties)]
        report.notes += [f"{definition}{path}: read-only, ignored" for path in paste.ignored]
    if report.catalog is not None and not report.problems:
        from aibtrigger.domain.lineage import validate_lineage

        try:
            validate_lineage(report.catalog)
        except CatalogError as exc:
            report.problems.append(f"templates: {exc}")
    if report.problems:
        report.catalog = None
    return report


def parse_catalog(data: object, *, origin: str = "catalog") -> Catalog:
    """Validate a loaded document; errors name the entry (by position and name) and the field."""
    report = check_catalog(data)
    if report.catalog is None:
        raise CatalogError(f"{origin} is invalid:\n" + "\n".join(f"  {problem}" for problem in report.problems))
    return report.catalog


def read_catalog_document(path: str | Path) -> object:
    """The catalog file's content (YAML, or JSON by its suffix), not validated yet."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".json":
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{path} is not valid JSON: {exc}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path} is not valid YAML: {exc}") from None


def load_catalog(path: str | Path) -> Catalog:
    return parse_catalog(read_catalog_document(path), origin=str(path))


def _unpaste_definitions(data: object) -> tuple[object, dict[int, Pasted]]:
    """The document with each entry's definition made into writable properties (template_paste)."""
    templates = data.get("templates") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(templates, list):
        return data, {}
    entries, pasted = [], {}
    for index, entry in enumerate(templates):
        if isinstance(entry, dict) and entry.get("definition") is not None:
            paste = pasted[index] = unpaste(entry["definition"])
            entry = _with_pasted_resource({**entry, "definition": paste.properties}, paste)
        entries.append(entry)
    return {**data, "templates": entries}, pasted


def _with_pasted_resource(entry: dict, paste: Pasted) -> dict:
    """The entry takes the pasted resource's region when it names none; a region or an id that
    contradicts the entry is a problem (a template pasted into the wrong entry)."""
    if paste.location and "location" not in entry:
        entry["location"] = paste.location
    elif paste.location and _region(entry["location"]) != _region(paste.location):
        paste.problems.append(
            ("location", f"{paste.location!r} differs from the entry's location {entry['location']!r}")
        )
    named = entry.get("resource_id")
    if paste.resource_id and isinstance(named, str) and named.lower() != paste.resource_id.lower():
        paste.problems.append(("id", f"{paste.resource_id!r} is not the entry's resource_id {named!r}"))
    return entry


def _region(name: object) -> str:
    """ "West Europe" and "westeurope" name the same region."""
    return str(name).replace(" ", "").lower()


def _as_pasted(error: Mapping[str, Any], pasted: dict[int, Pasted]) -> Mapping[str, Any]:
    """A schema error's location in the document as written: inside `properties` for a whole resource."""
    loc = tuple(error["loc"])
    if (
        len(loc) > 3
        and loc[0] == "templates"
        and loc[2] == "definition"
        and getattr(pasted.get(loc[1]), "whole_resource", False)
    ):
        return {**error, "loc": loc[:3] + ("properties",) + loc[3:]}
    return error


def _entry_path(index: int, data: object) -> str:
    entry = data["templates"][index] if isinstance(data, dict) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"templates[{index}]" + (f" ({name})" if name else "")


def _describe(error: Mapping[str, Any], data: object) -> str:
    loc = list(error["loc"])
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{key}]"]
            node = node[key] if isinstance(node, list) and key < len(node) else None
            if isinstance(node, dict) and "name" in node and len(parts) == 1:
                parts[-1] += f" ({node['name']})"
        else:
            # pydantic puts the discriminator tag in the path: it is the type, not a field.
            if isinstance(node, dict) and key not in node and key == node.get("type"):
                continue
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return f"{'.'.join(parts) or '<root>'}: {error['msg']}"
