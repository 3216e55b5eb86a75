"""The ARM routes the fake serves, and what each does (state in World, shapes in shapes.py)."""

from __future__ import annotations

import re

from tests.fakearm.errors import ArmError

_T = r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.VirtualMachineImages/imageTemplates/(?P<name>[^/]+)"
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
        (
            "galleryVersion",
            "GET",
            r"/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+/versions/[^/]+",
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
        arm.world.gallery_version_json(p["path"]), "ResourceNotFound", "The gallery image version"
    ),
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
