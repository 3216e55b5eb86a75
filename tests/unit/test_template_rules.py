"""What the catalog accepts of an image template and what it refuses, as AIB does, naming the field."""

import copy

import pytest

from aibtrigger.catalog import check_catalog, parse_catalog
from aibtrigger.errors import CatalogError

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
GALLERY = SUB + "/providers/Microsoft.Compute/galleries/golden/images/"
UBUNTU = {
    "type": "PlatformImage",
    "publisher": "Canonical",
    "offer": "0001-com-ubuntu-server-jammy",
    "sku": "22_04-lts-gen2",
    "version": "latest",
}


def template(**properties):
    base = {
        "source": UBUNTU,
        "customize": [{"type": "Shell", "name": "setup", "inline": ["apt-get update"]}],
        "distribute": [{"type": "SharedImage", "galleryImageId": GALLERY + "base", "runOutputName": "base"}],
    }
    return {**base, **properties}


def problems(definition):
    return check_catalog({"templates": [{"name": "t", "definition": definition}]}).problems


# --- accepted: every writable property of the API ------------------------------------------------------
EVERY_PROPERTY = template(
    source={**UBUNTU, "planInfo": {"planName": "p", "planProduct": "q", "planPublisher": "r"}},
    customize=[
        {"type": "Shell", "name": "a", "scriptUri": "https://x/a.sh", "sha256Checksum": "ab" * 32},
        {
            "type": "PowerShell",
            "name": "b",
            "inline": ["x"],
            "runElevated": True,
            "runAsSystem": True,
            "validExitCodes": [0, 3010],
        },
        {"type": "File", "name": "c", "sourceUri": "https://x/c", "destination": "/tmp/c", "sha256Checksum": ""},
        {
            "type": "WindowsRestart",
            "restartCommand": "shutdown /r",
            "restartCheckCommand": "echo",
            "restartTimeout": "5m",
        },
        {"type": "WindowsUpdate", "searchCriteria": "IsInstalled=0", "filters": ["include:$true"], "updateLimit": 20},
    ],
    optimize={
        "vmBoot": {"state": "Enabled"},
        "workload": {"state": "Disabled", "scriptUri": "https://x/w.ps1", "sha256Checksum": ""},
    },
    validate={
        "continueDistributeOnFailure": True,
        "sourceValidationOnly": False,
        "inVMValidations": [
            {"type": "Shell", "name": "v", "inline": ["true"]},
            {"type": "PowerShell", "name": "w", "scriptUri": "https://x/v.ps1"},
            {"type": "File", "name": "f", "sourceUri": "https://x/f", "destination": "/f"},
        ],
    },
    distribute=[
        {
            "type": "SharedImage",
            "galleryImageId": GALLERY + "base/versions/1.2.3",
            "runOutputName": "sig",
            "artifactTags": {"a": "b"},
            "targetRegions": [{"name": "westeurope", "replicaCount": 2, "storageAccountType": "Standard_ZRS"}],
            "versioning": {"scheme": "Latest", "major": -1},
            "excludeFromLatest": False,
            "replicationMode": "Shallow",
        },
        {
            "type": "SharedImage",
            "galleryImageId": GALLERY + "other",
            "runOutputName": "sig2",
            "replicationRegions": ["westeurope"],
            "storageAccountType": "Premium_LRS",
            "versioning": {"scheme": "Source"},
        },
        {
            "type": "ManagedImage",
            "imageId": SUB + "/providers/Microsoft.Compute/images/i",
            "location": "westeurope",
            "runOutputName": "managed",
        },
        {"type": "VHD", "runOutputName": "vhd", "uri": "https://acct.blob.core.windows.net/vhds/x.vhd"},
    ],
    errorHandling={"onCustomizerError": "abort", "onValidationError": "cleanup"},
    buildTimeoutInMinutes=960,
    vmProfile={
        "vmSize": "Standard_D2s_v3",
        "osDiskSizeGB": 64,
        "userAssignedIdentities": [SUB + "/id"],
        "vnetConfig": {"subnetId": SUB + "/s1", "containerInstanceSubnetId": SUB + "/s2"},
    },
    additionalDataDisks=[{"sizeGB": 128}],
    stagingResourceGroup=SUB + "-staging",
    autoRun={"state": "Disabled"},
    managedResourceTags={"cost-center": "42"},
)


def test_every_writable_property_of_the_api_is_accepted():
    assert problems(EVERY_PROPERTY) == []


# What `az image builder show` prints: the whole resource, with the read-only fields Azure adds.
SHOWN = {
    "id": SUB + "/providers/Microsoft.VirtualMachineImages/imageTemplates/base",
    "name": "base",
    "type": "Microsoft.VirtualMachineImages/imageTemplates",
    "location": "northeurope",
    "tags": {"team": "platform"},
    "systemData": {"createdBy": "someone", "createdAt": "2025-01-01T00:00:00Z"},
    "identity": {
        "type": "UserAssigned",
        "userAssignedIdentities": {SUB + "/id": {"clientId": "c", "principalId": "p"}},
    },
    "properties": {
        **template(source={**UBUNTU, "exactVersion": "22.04.202501010"}),
        "provisioningState": "Succeeded",
        "provisioningError": {"provisioningErrorCode": "Other", "message": ""},
        "lastRunStatus": {
            "startTime": "2025-01-01T00:00:00Z",
            "endTime": "0001-01-01T00:00:00Z",
            "runState": "Running",
            "runSubState": "Customizing",
            "message": "",
        },
        "exactStagingResourceGroup": SUB + "/resourceGroups/IT_rg_base_1234",
    },
}


def test_show_output_is_accepted_read_only_fields_are_ignored_and_noted():
    report = check_catalog({"templates": [{"name": "t", "definition": SHOWN}]})
    assert report.problems == []
    assert report.notes == [
        f"templates[0] (t).definition.{path}: read-only, ignored"
        for path in (
            "id",
            "name",
            "type",
            "systemData",
            "properties.provisioningState",
            "properties.provisioningError",
            "properties.lastRunStatus",
            "properties.exactStagingResourceGroup",
            "properties.source.exactVersion",
        )
    ]
    entry = report.catalog.get("t")
    assert entry.location == "northeurope"  # the pasted resource's region, as the entry names none
    assert entry.definition.source.version == "latest"  # exactVersion is not what to build


def test_the_same_template_pasted_as_properties_or_as_resource_is_the_same_definition():
    as_properties = parse_catalog({"templates": [{"name": "t", "definition": SHOWN["properties"]}]})
    as_resource = parse_catalog({"templates": [{"name": "t", "definition": SHOWN}]})
    assert as_properties.get("t").definition == as_resource.get("t").definition


@pytest.mark.parametrize(
    "resource, expected",
    [
        ({**SHOWN, "sku": "x"}, "templates[0] (t).definition.sku: not a field of an image template resource"),
        (
            {**SHOWN, "identity": {"type": "UserAssigned", "userAssignedIdentities": ["x"]}},
            "templates[0] (t).definition.identity.userAssignedIdentities: Input should be a valid dictionary",
        ),
        (
            {**SHOWN, "properties": {**SHOWN["properties"], "customise": []}},
            "templates[0] (t).definition.properties.customise: Extra inputs are not permitted",
        ),
    ],
)
def test_a_pasted_resource_is_checked_too(resource, expected):
    assert any(p.startswith(expected) for p in problems(resource)), problems(resource)


def test_an_entry_location_different_from_the_pasted_resource_is_refused():
    report = check_catalog({"templates": [{"name": "t", "location": "westeurope", "definition": SHOWN}]})
    assert report.problems == [
        "templates[0] (t).definition.location: 'northeurope' differs from the entry's location 'westeurope'"
    ]


# --- refused, as AIB refuses: one case per rule, each naming the field ------------------------------------------
def _with(path_value):
    """EVERY_PROPERTY with one change: (json path as a tuple, new value)."""
    doc = copy.deepcopy(EVERY_PROPERTY)
    *parents, last = path_value[0]
    node = doc
    for key in parents:
        node = node[key]
    node[last] = path_value[1]
    return doc


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            (("customize", 0, "inline"), ["echo"]),
            "customize[0]: a Shell step needs exactly one of 'inline' or 'scriptUri' (it has both)",
        ),
        (
            (("customize", 1, "inline"), None),
            "customize[1]: a PowerShell step needs exactly one of 'inline' or 'scriptUri' (it has neither)",
        ),
        (
            (("validate", "inVMValidations", 1, "inline"), ["x"]),
            "validate.inVMValidations[1]: a PowerShell step needs exactly one of 'inline' or 'scriptUri' (it has both)",
        ),
        (
            (("customize", 1, "runElevated"), False),
            "customize[1].runAsSystem: can be true only when runElevated is true",
        ),
        (
            (("distribute", 3, "runOutputName"), "SIG"),
            "distribute[3].runOutputName: 'SIG' is also the runOutputName of distribute[0]: each target needs its own",
        ),
        (
            (("distribute", 0, "runOutputName"), "has space"),
            "distribute[0].runOutputName: String should match pattern '^[A-Za-z0-9-_.]{1,64}$'",
        ),
        (
            (("distribute", 0, "replicationRegions"), ["westeurope"]),
            "distribute[0].replicationRegions: cannot be combined with targetRegions",
        ),
        (
            (("distribute", 0, "storageAccountType"), "Standard_LRS"),
            "distribute[0].storageAccountType: cannot be combined with targetRegions",
        ),
        (
            (("distribute", 1, "versioning"), {"scheme": "Source", "major": 2}),
            "distribute[1].versioning.major: only the Latest scheme takes a major version",
        ),
        (
            (("distribute", 1, "versioning"), {"scheme": "Newest"}),
            "distribute[1].versioning.scheme: Input should be 'Latest' or 'Source'",
        ),
        (
            (("distribute", 1, "storageAccountType"), "Premium_ZRS"),
            "distribute[1].storageAccountType: Input should be 'Standard_LRS', 'Standard_ZRS' or 'Premium_LRS'",
        ),
        (
            (("distribute", 0, "targetRegions", 0, "replicaCount"), 0),
            "distribute[0].targetRegions[0].replicaCount: Input should be greater than or equal to 1",
        ),
        (
            (("errorHandling", "onCustomizerError"), "ignore"),
            "errorHandling.onCustomizerError: Input should be 'cleanup' or 'abort'",
        ),
        (
            (("errorHandling", "onValidationError"), "Abort"),
            "errorHandling.onValidationError: Input should be 'cleanup' or 'abort'",
        ),
        ((("buildTimeoutInMinutes",), 961), "buildTimeoutInMinutes: Input should be less than or equal to 960"),
        ((("buildTimeoutInMinutes",), -1), "buildTimeoutInMinutes: Input should be greater than or equal to 0"),
        (
            (("vmProfile", "vnetConfig", "subnetId"), None),
            "vmProfile.vnetConfig.containerInstanceSubnetId: needs subnetId (the build VM's subnet) as well",
        ),
        (
            (("vmProfile", "vnetConfig", "proxyVmSize"), "Standard_A1_v2"),
            "vmProfile.vnetConfig.proxyVmSize: must not be given with containerInstanceSubnetId",
        ),
        ((("vmProfile", "osDiskSizeGB"), -5), "vmProfile.osDiskSizeGB: Input should be greater than or equal to 0"),
        ((("optimize", "vmBoot", "state"), "On"), "optimize.vmBoot.state: Input should be 'Enabled' or 'Disabled'"),
        ((("autoRun", "state"), "enabled"), "autoRun.state: Input should be 'Enabled' or 'Disabled'"),
        ((("customize", 4, "updateLimit"), -1), "customize[4].updateLimit: Input should be greater than or equal to 0"),
        (
            (("distribute", 0, "galleryImageId"), GALLERY + "base/versions/1.0.0/extra"),
            "distribute[0].galleryImageId: Value error, must look like",
        ),
        ((("source", "planInfo"), {"planName": "p"}), "source.planInfo.planProduct: Field required"),
        ((("managedResourceTags",), {"n": 1}), "managedResourceTags.n: Input should be a valid string"),
    ],
)
def test_each_rule_refuses_naming_the_field(change, expected):
    found = problems(_with(change))
    assert any(p.startswith(f"templates[0] (t).definition.{expected}") for p in found), found


def test_a_resource_paste_names_the_field_inside_properties():
    shown = copy.deepcopy(SHOWN)
    shown["properties"]["customize"][0]["scriptUri"] = "https://x/a.sh"  # and inline: both
    shown["properties"]["errorHandling"] = {"onCustomizerError": "retry"}
    assert problems(shown) == [
        "templates[0] (t).definition.properties.errorHandling.onCustomizerError: Input should be 'cleanup' or 'abort'",
        "templates[0] (t).definition.properties.customize[0]: a Shell step needs exactly one of 'inline' or "
        "'scriptUri' (it has both)",
    ]


def test_every_problem_of_every_entry_is_reported_in_one_pass():
    entries = [
        {"name": "a", "definition": _with((("buildTimeoutInMinutes",), 2000))},
        {"name": "b", "definition": _with((("customize", 1, "inline"), None))},
        {"name": "c", "resource_id": "/x"},
    ]
    with pytest.raises(CatalogError) as err:
        parse_catalog({"templates": entries})
    lines = str(err.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == [
        "templates[0] (a).definition.buildTimeoutInMinutes",
        "templates[1] (b).definition.customize[1]",
    ]


# --- lineage: self-sourced templates --------------------------------------------------------------------------
def _gallery_entry(name, source_image, output_image, version="latest"):
    return {
        "name": name,
        "definition": template(
            source={"type": "SharedImageVersion", "imageVersionId": f"{GALLERY}{source_image}/versions/{version}"},
            distribute=[{"type": "SharedImage", "galleryImageId": GALLERY + output_image, "runOutputName": name}],
        ),
    }


@pytest.mark.parametrize("version", ["latest", "1.0.0"])
def test_a_self_sourced_template_is_valid(version):
    catalog = parse_catalog(
        {
            "templates": [
                _gallery_entry("golden", "golden", "golden", version),
                _gallery_entry("child", "golden", "child"),
            ]
        }
    )
    assert catalog.get("golden").definition.source.gallery_image_id.endswith("/images/golden")


def test_a_cycle_between_two_templates_is_still_refused():
    report = check_catalog({"templates": [_gallery_entry("a", "b", "a"), _gallery_entry("b", "a", "b")]})
    assert report.catalog is None
    assert report.problems[0].startswith("templates: lineage cycle: a -> b -> a")


def test_a_region_spelled_differently_is_the_same_region():
    report = check_catalog({"templates": [{"name": "t", "location": "North Europe", "definition": SHOWN}]})
    assert report.problems == [] and report.catalog.get("t").location == "North Europe"


def test_a_pasted_resource_of_another_template_than_resource_id_is_refused():
    other = SHOWN["id"].rsplit("/", 1)[0] + "/other"
    report = check_catalog({"templates": [{"name": "t", "resource_id": other, "definition": SHOWN}]})
    assert report.problems == [
        f"templates[0] (t).definition.id: {SHOWN['id']!r} is not the entry's resource_id {other!r}"
    ]
    same = check_catalog({"templates": [{"name": "t", "resource_id": SHOWN["id"].upper(), "definition": SHOWN}]})
    assert same.problems == []  # resource ids compare case-insensitively
