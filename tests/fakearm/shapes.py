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


def gallery_image_version(
    version_id: str,
    state: str,
    published: str,
    location: str = "westeurope",
    *,
    exclude_from_latest: bool = False,
    end_of_life: str | None = None,
    tags: dict | None = None,
    replication: dict[str, str] | None = None,
) -> dict:
    """GET .../images/{image}/versions/{version} (tests/fixtures/arm/gallery: the recorded examples of
    API 2024-03-03). `replication` {region: state} is given only for `$expand=ReplicationStatus`."""
    profile = {
        "targetRegions": [
            {
                "name": location,
                "regionalReplicaCount": 1,
                "storageAccountType": "Standard_LRS",
                "excludeFromLatest": exclude_from_latest,
            }
        ],
        "replicaCount": 1,
        "excludeFromLatest": exclude_from_latest,
        "publishedDate": published,
        "storageAccountType": "Standard_LRS",
    }
    if end_of_life:
        profile["endOfLifeDate"] = end_of_life
    props: dict = {
        "publishingProfile": profile,
        "storageProfile": {"osDiskImage": {"sizeInGB": 30, "hostCaching": "ReadOnly"}},
        "safetyProfile": {"allowDeletionOfReplicatedLocations": False, "reportedForPolicyViolation": False},
    }
    if replication is not None:
        props["replicationStatus"] = {
            "aggregatedState": _aggregated(list(replication.values())),
            "summary": [
                {"region": region, "state": value, "details": "", "progress": 100 if value == "Completed" else 40}
                for region, value in replication.items()
            ],
        }
    props["provisioningState"] = state
    return {
        "id": version_id,
        "name": version_id.rsplit("/", 1)[-1],
        "type": "Microsoft.Compute/galleries/images/versions",
        "location": location,
        "tags": dict(tags or {}),
        "properties": props,
    }


def _aggregated(states: list[str]) -> str:
    """ARM's aggregatedState: Completed when every region is, Failed when one failed, else InProgress."""
    if states and all(value == "Completed" for value in states):
        return "Completed"
    return "Failed" if "Failed" in states else "InProgress"


def caps_operation(operation_id: str, status: str, started: str, ended: str | None, error: dict | None) -> dict:
    """GET .../providers/Microsoft.Compute/locations/{loc}/capsOperations/{id}: the Azure-AsyncOperation
    status resource of a gallery change (ARM's documented body; the specs record none for it)."""
    body: dict = {"name": operation_id, "status": status, "startTime": started}
    if ended:
        body["endTime"] = ended
    if error:
        body["error"] = error
    return body


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
