"""The JSON documents ARM returns, as pure functions (shapes from the REST specs' examples)."""

from __future__ import annotations

IMAGE_TEMPLATES = "Microsoft.VirtualMachineImages/imageTemplates"
STORAGE_ACCOUNTS = "Microsoft.Storage/storageAccounts"


def image_template(t: dict, subscription: str, source: dict, last_run_status: dict | None) -> dict:
    """GET imageTemplates/{name}, API 2024-02-01 / 2025-10-01 (case-sensitive field names)."""
    props = {
        "source": source,
        "customize": [{"type": "Shell", "name": "setup", "inline": ["apt-get update"]}],
        "distribute": t["distribute"],
        "buildTimeoutInMinutes": 120,
        "vmProfile": {"vmSize": "Standard_D2s_v3", "osDiskSizeGB": 0},
        "exactStagingResourceGroup": t["staging"],
        "provisioningState": "Succeeded",
    }
    if last_run_status is not None:
        props["lastRunStatus"] = last_run_status
    identity = (
        f"/subscriptions/{subscription}/resourceGroups/{t['group']}/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/aib-builder"
    )
    return {
        "id": t["id"],
        "name": t["name"],
        "type": IMAGE_TEMPLATES,
        "location": t["location"],
        "tags": {},
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {
                identity: {
                    "clientId": "00000000-0000-4000-8000-0000000000c1",
                    "principalId": "00000000-0000-4000-8000-0000000000c2",
                }
            },
        },
        "properties": props,
    }


def shared_image_target(name: str, location: str, gallery_image_id: str) -> dict:
    return {
        "type": "SharedImage",
        "galleryImageId": gallery_image_id,
        "runOutputName": f"{name}-sig",
        "targetRegions": [{"name": location, "replicaCount": 1}],
        "versioning": {"scheme": "Latest", "major": 1},
        "artifactTags": {"by": "aibtrigger"},
    }


def run_output(template_id: str, name: str, artifact_id: str) -> dict:
    return {
        "name": name,
        "type": f"{IMAGE_TEMPLATES}/runOutputs",
        "id": f"{template_id}/runOutputs/{name}",
        "properties": {"artifactId": artifact_id, "provisioningState": "Succeeded"},
    }


def vm_images(subscription: str, location: str, publisher: str, offer: str, sku: str, versions: list[str]) -> list:
    """GET .../artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions: a bare JSON array."""
    prefix = (
        f"/Subscriptions/{subscription}/Providers/Microsoft.Compute/Locations/{location}/Publishers/"
        f"{publisher}/ArtifactTypes/VMImage/Offers/{offer}/Skus/{sku}/Versions/"
    )
    return [{"location": location, "name": v, "id": prefix + v} for v in versions]


def gallery_image_version(version_id: str, state: str, published: str, location: str = "westeurope") -> dict:
    return {
        "id": version_id,
        "name": version_id.rsplit("/", 1)[-1],
        "location": location,
        "type": "Microsoft.Compute/galleries/images/versions",
        "properties": {
            "provisioningState": state,
            "storageProfile": {"osDiskImage": {"sizeInGB": 30}},
            "publishingProfile": {
                "excludeFromLatest": False,
                "replicaCount": 1,
                "publishedDate": published,
                "targetRegions": [{"name": location}],
            },
        },
    }


def generic_resource(group_id: str, resource_type: str, name: str, location: str, **extra) -> dict:
    """An item of GET resourceGroups/{rg}/resources (no properties in a listing)."""
    return {
        "id": f"{group_id}/providers/{resource_type}/{name}",
        "name": name,
        "type": resource_type,
        "location": location,
        **extra,
    }


def storage_account(item: dict, blob_endpoint: str) -> dict:
    """GET a storage account by id: the listing item plus properties.primaryEndpoints."""
    return {
        **item,
        "properties": {
            "provisioningState": "Succeeded",
            "allowBlobPublicAccess": False,
            "primaryEndpoints": {"blob": blob_endpoint + "/"},
        },
    }
