"""What AIB refuses in an image template beyond field types and ranges: one named rule per refusal.

Each rule reads the writable properties as plain JSON (so that every problem of a catalog is found
in one pass, even where field types are wrong elsewhere) and yields (path, message) pairs, the path
relative to the properties, e.g. `customize[2].scriptUri`. The REST spec (`models.tsp`,
2025-10-01) states each of these constraints in the field's description; the quote is beside each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

Problem = tuple[str, str]
SCRIPTED = ("Shell", "PowerShell")


def _dicts(value: object) -> Iterator[tuple[int, dict]]:
    for index, item in enumerate(value if isinstance(value, list) else ()):
        if isinstance(item, dict):
            yield index, item


def _steps(props: dict) -> Iterator[tuple[str, dict]]:
    """Customizers and in-VM validators, with their paths."""
    for index, step in _dicts(props.get("customize")):
        yield f"customize[{index}]", step
    validate = props.get("validate")
    if isinstance(validate, dict):
        for index, step in _dicts(validate.get("inVMValidations")):
            yield f"validate.inVMValidations[{index}]", step


def _given(item: dict, key: str) -> bool:
    """Set to something: AIB reads an empty string or list as not given."""
    return item.get(key) not in (None, "", [], {})


def exactly_one_of_inline_or_script_uri(props: dict) -> Iterator[Problem]:
    """ "Exactly one of 'scriptUri' or 'inline' can be specified." (Shell and PowerShell, both phases)"""
    for path, step in _steps(props):
        if step.get("type") in SCRIPTED:
            has = [key for key in ("inline", "scriptUri") if _given(step, key)]
            if len(has) != 1:
                found = "both" if has else "neither"
                yield path, f"a {step['type']} step needs exactly one of 'inline' or 'scriptUri' (it has {found})"


def run_as_system_needs_run_elevated(props: dict) -> Iterator[Problem]:
    """runAsSystem: "Can only be true when the runElevated field above is set to true.\""""
    for path, step in _steps(props):
        if step.get("type") == "PowerShell" and step.get("runAsSystem") is True and step.get("runElevated") is not True:
            yield f"{path}.runAsSystem", "can be true only when runElevated is true"


def unique_run_output_names(props: dict) -> Iterator[Problem]:
    """runOutputName names the target's run output (GET .../runOutputs/{name}): one per target."""
    first: dict[str, int] = {}
    for index, target in _dicts(props.get("distribute")):
        name = target.get("runOutputName")
        if not isinstance(name, str):
            continue
        if name.lower() in first:
            yield (
                f"distribute[{index}].runOutputName",
                f"{name!r} is also the runOutputName of distribute[{first[name.lower()]}]: each target needs its own",
            )
        else:
            first[name.lower()] = index


def replication_regions_or_target_regions(props: dict) -> Iterator[Problem]:
    """targetRegions "can be specified only if replicationRegions is not specified"; the deprecated
    storageAccountType goes with replicationRegions (targetRegions carry their own)."""
    for index, target in _dicts(props.get("distribute")):
        if target.get("type") != "SharedImage" or not _given(target, "targetRegions"):
            continue
        for deprecated in ("replicationRegions", "storageAccountType"):
            if _given(target, deprecated):
                yield (
                    f"distribute[{index}].{deprecated}",
                    "cannot be combined with targetRegions (give each target region its own settings)",
                )


def versioning_major_only_with_latest(props: dict) -> Iterator[Problem]:
    """`major` belongs to the Latest scheme ("DistributeVersionerLatest"); Source takes the source's version."""
    for index, target in _dicts(props.get("distribute")):
        versioning = target.get("versioning")
        if isinstance(versioning, dict) and versioning.get("scheme") == "Source" and "major" in versioning:
            yield f"distribute[{index}].versioning.major", "only the Latest scheme takes a major version"


def container_instance_subnet_needs_subnet(props: dict) -> Iterator[Problem]:
    """containerInstanceSubnetId "may be specified only if subnetId is also specified"; proxyVmSize
    "must not be specified if containerInstanceSubnetId is specified" (no proxy VM then)."""
    profile = props.get("vmProfile")
    vnet = profile.get("vnetConfig") if isinstance(profile, dict) else None
    if not isinstance(vnet, dict) or not _given(vnet, "containerInstanceSubnetId"):
        return
    if not _given(vnet, "subnetId"):
        yield "vmProfile.vnetConfig.containerInstanceSubnetId", "needs subnetId (the build VM's subnet) as well"
    if _given(vnet, "proxyVmSize"):
        yield (
            "vmProfile.vnetConfig.proxyVmSize",
            "must not be given with containerInstanceSubnetId (no proxy VM is deployed)",
        )


RULES: tuple[Callable[[dict], Iterator[Problem]], ...] = (
    exactly_one_of_inline_or_script_uri,
    run_as_system_needs_run_elevated,
    unique_run_output_names,
    replication_regions_or_target_regions,
    versioning_major_only_with_latest,
    container_instance_subnet_needs_subnet,
)


def template_problems(props: object) -> list[Problem]:
    """Every rule's findings on one template's writable properties (none for a non-object: the
    schema reports that)."""
    if not isinstance(props, dict):
        return []
    return [problem for rule in RULES for problem in rule(props)]
