"""The ARM routes the fake serves, and what each does (state in World, shapes in shapes.py)."""

from __future__ import annotations

import re

from tests.fakearm.errors import ArmError

_T = r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.VirtualMachineImages/imageTemplates/(?P<name>[^/]+)"
_IMAGE = r"/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+"
ROUTES = [
    (kind, method, re.compile(r"^/subscriptions/(?P<sub>[^/]+)" + pattern + "$", re.IGNORECASE))
    for kind, method, pattern in [
        ("template", "GET", _T),
        ("run", "POST", _T + "/run"),
        ("cancel", "POST", _T + "/cancel"),
        ("runOutputs", "GET", _T + "/runOutputs"),
        (
            "operation",
            "GET",
            r"/providers/Microsoft\.VirtualMachineImages/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)",
        ),
        (
            "operationResult",
            "GET",
            r"/providers/Microsoft\.VirtualMachineImages/locations/(?P<loc>[^/]+)/operationresults/(?P<op>[^/]+)",
        ),
        (
            "vmImages",
            "GET",
            r"/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/publishers/(?P<pub>[^/]+)/artifacttypes/"
            r"vmimage/offers/(?P<offer>[^/]+)/skus/(?P<sku>[^/]+)/versions",
        ),
        ("galleryVersion", "GET", _IMAGE + r"/versions/[^/]+"),
        ("galleryVersion", "PATCH", _IMAGE + r"/versions/[^/]+"),
        ("galleryVersion", "DELETE", _IMAGE + r"/versions/[^/]+"),
        ("galleryVersions", "GET", _IMAGE + r"/versions"),
        (
            "galleryOperation",
            "GET",
            r"/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/capsOperations/(?P<op>[^/]+)",
        ),
        ("resources", "GET", r"/resourceGroups/(?P<rg>[^/]+)/resources"),
        (
            "storageAccount",
            "GET",
            r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Storage/storageAccounts/(?P<account>[^/]+)",
        ),
    ]
]


def _run(arm, p, q):
    run = arm.world.start_run(p["name"])
    location = arm.world.template_json(p["name"])["location"]
    base = f"{arm.endpoint}/subscriptions/{p['sub']}/providers/Microsoft.VirtualMachineImages/locations/{location}"
    version = q["api-version"]
    return (
        202,
        None,
        {
            "Azure-AsyncOperation": f"{base}/operations/{run.operation_id}?api-version={version}",
            "Location": f"{base}/operationresults/{run.operation_id}?api-version={version}",
            "Retry-After": "60",
        },
    )


def _operation(arm, p, q, *, result: bool = False):
    body = arm.world.operation_json(p["op"])
    if body is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{p['op']}' could not be found.")
    if result:  # the Location resource: 202 while in progress, then the (empty) result
        return (202, None, {"Retry-After": "60"}) if body["status"] == "InProgress" else (204, None, {})
    return 200, body, {}


def _gallery_change(arm, p, q):
    """PATCH or DELETE of a gallery image version (tests/fixtures/arm/gallery): 200 (PATCH, the version
    "Updating") or 202 (DELETE), both with Azure-AsyncOperation and Location; a DELETE of nothing: 204."""
    body = p["body"] if p["method"] == "PATCH" else None
    started = arm.world.change_gallery_version(p["path"], body)
    if started is None:
        if p["method"] == "DELETE":
            return 204, None, {}
        raise ArmError(404, "ResourceNotFound", _missing_version(p["path"]))
    operation, location = started
    base = f"{arm.endpoint}/subscriptions/{p['sub']}/providers/Microsoft.Compute/locations/{location}"
    headers = {
        "Azure-AsyncOperation": f"{base}/capsOperations/{operation}?api-version={q['api-version']}",
        "Location": f"{base}/capsOperations/{operation}?monitor=true&api-version={q['api-version']}",
    }
    if p["method"] == "DELETE":
        return 202, None, headers
    return 200, arm.world.gallery_version_json(p["path"]), headers


def _gallery_operation(arm, p, q):
    body = arm.world.gallery_operation_json(p["op"])
    if body is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{p['op']}' could not be found.")
    if q.get("monitor") == "true":  # the Location form: 202 until the end, then the end
        return (202, None, {}) if body["status"] == "InProgress" else (200, None, {})
    return 200, body, {}


def _gallery_listing(arm, p, q):
    image = p["path"].rsplit("/versions", 1)[0]
    items, following = arm.world.gallery_versions_json(image, int(q.get("$skiptoken") or 0))
    page: dict = {"value": items}
    if following is not None:
        page["nextLink"] = f"{arm.endpoint}{p['path']}?api-version={q['api-version']}&$skiptoken={following}"
    return 200, page, {}


def _missing_version(path: str) -> str:
    """ARM's ResourceNotFound message for a gallery image version path."""
    found = re.search(r"/resourceGroups/([^/]+)/providers/(Microsoft\.Compute/galleries/.+)$", path, re.IGNORECASE)
    group, resource = found.groups() if found else ("", path)
    return (
        f"The Resource '{resource}' under resource group '{group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    )


def _found(body, code: str, what: str):
    if body is None:
        raise ArmError(404, code, f"{what} was not found.")
    return 200, body, {}


ACTIONS = {
    "template": lambda arm, p, q: (200, arm.world.template_json(p["name"]), {}),
    "run": _run,
    "cancel": lambda arm, p, q: (arm.world.cancel(p["name"]), (202, None, {}))[1],
    "runOutputs": lambda arm, p, q: (200, {"value": arm.world.run_outputs_json(p["name"])}, {}),
    "operation": _operation,
    "operationResult": lambda arm, p, q: _operation(arm, p, q, result=True),
    "vmImages": lambda arm, p, q: _found(
        arm.world.vm_images_json(
            p["loc"],
            p["pub"],
            p["offer"],
            p["sku"],
            top=int(q["$top"]) if "$top" in q else None,
            orderby=q.get("$orderby"),
        ),
        "NotFound",
        f"Artifact: VMImage {p['pub']}:{p['offer']}:{p['sku']}",
    ),
    "galleryVersion": lambda arm, p, q: _found(
        arm.world.gallery_version_json(p["path"], expand=q.get("$expand")),
        "ResourceNotFound",
        "The gallery image version",
    ),
    ("galleryVersion", "PATCH"): _gallery_change,
    ("galleryVersion", "DELETE"): _gallery_change,
    "galleryVersions": _gallery_listing,
    "galleryOperation": _gallery_operation,
    "resources": lambda arm, p, q: _found(
        _listing(arm.world.resources_json(p["rg"]), q), "ResourceGroupNotFound", f"Resource group '{p['rg']}'"
    ),
    "storageAccount": lambda arm, p, q: _found(
        arm.world.storage_account_json(p["rg"], p["account"]),
        "ResourceNotFound",
        f"The storage account '{p['account']}'",
    ),
}


def _listing(items, query):
    if items is None:
        return None
    wanted = re.match(r"resourceType eq '([^']+)'", query.get("$filter", ""), re.IGNORECASE)
    return {"value": [i for i in items if not wanted or i["type"].lower() == wanted.group(1).lower()]}
