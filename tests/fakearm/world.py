"""What the fake ARM knows: image templates and their runs, marketplace versions, gallery image
versions, staging resource groups. Raises ArmError with real codes; shapes.py renders the JSON."""

from __future__ import annotations

import threading
import uuid

from tests.fakearm import shapes
from tests.fakearm.errors import ArmError
from tests.fakearm.runs import Run, Timeline, iso

SUBSCRIPTION = "00000000-0000-4000-8000-00000000a1b0"
UBUNTU = {
    "type": "PlatformImage",
    "publisher": "Canonical",
    "offer": "0001-com-ubuntu-server-jammy",
    "sku": "22_04-lts-gen2",
    "version": "latest",
}


class World:
    def __init__(self, clock, *, subscription: str = SUBSCRIPTION, staging=None) -> None:
        self.clock, self.subscription, self.staging = clock, subscription, staging  # staging: StagingStorage | None
        self.templates: dict[str, dict] = {}
        self.runs: dict[str, list[Run]] = {}
        self.accounts: dict[str, tuple[str, str]] = {}  # staging group id (lower) -> (account, blob endpoint)
        self.marketplace: dict[tuple, list[str]] = {}
        # version id (lower) -> {"id", "run", "exclude", "eol", "tags", "replication", "busy"}; run None:
        # published elsewhere; busy: the change ("Updating"/"Deleting") whose operation is still running
        self.gallery: dict[str, dict] = {}
        self.operations: dict[str, dict] = {}  # capsOperations id -> {"version", "change", "polls", ...}
        self.operation_polls = 1  # status reads that answer InProgress before a gallery change ends
        self.operation_error: dict | None = None  # {"code", "message"}: the next gallery change fails so
        self.page_size = 100  # versions per page of a listing (then a nextLink)
        self.refusal_status, self.error_style = 409, "wrapped"  # how AIB refuses Run/Cancel during a build
        self.artifact_style = "versions"  # or "imageversions", as the 2025-10-01 spec example spells it
        self.lock = threading.RLock()

    # --- set-up -----------------------------------------------------------------------------------
    def add_template(
        self,
        name: str,
        *,
        group: str = "rg-images",
        location: str = "westeurope",
        source=None,
        gallery_image_id: str | None = None,
        timeline: Timeline | None = None,
    ) -> str:
        template_id = (
            f"/subscriptions/{self.subscription}/resourceGroups/{group}/providers/{shapes.IMAGE_TEMPLATES}/{name}"
        )
        gallery_image_id = gallery_image_id or (
            f"/subscriptions/{self.subscription}/resourceGroups/rg-gallery/"
            f"providers/Microsoft.Compute/galleries/golden/images/{name}"
        )
        with self.lock:
            self.templates[name.lower()] = {
                "id": template_id,
                "name": name,
                "group": group,
                "location": location,
                "timeline": timeline or Timeline(),
                "source": dict(source or UBUNTU),
                "distribute": [shapes.shared_image_target(name, location, gallery_image_id)],
                "staging": f"/subscriptions/{self.subscription}/resourceGroups/IT_{group}_{name}_{uuid.uuid4()}",
            }
            self.runs[name.lower()] = []
        return template_id

    def set_timeline(self, name: str, timeline: Timeline) -> None:
        with self.lock:
            self._template(name)["timeline"] = timeline

    def publish(self, location: str, publisher: str, offer: str, sku: str, *versions: str) -> None:
        with self.lock:
            self.marketplace.setdefault(_key(location, publisher, offer, sku), []).extend(versions)

    def add_gallery_version(
        self,
        version_id: str,
        *,
        exclude_from_latest: bool = False,
        tags: dict | None = None,
        replication: dict[str, str] | None = None,
    ) -> None:
        """A version published outside the service; `replication` {region: state} (default: Completed
        in its one region)."""
        with self.lock:
            entry = _version_entry(version_id, None, exclude_from_latest, tags, replication)
            self.gallery[version_id.lower()] = {**entry, "published": iso(self.clock())}

    def set_replication(self, version_id: str, regions: dict[str, str]) -> None:
        """Each region's replication state ("Replicating", "Completed", "Failed") of a version, a run's
        included: what `$expand=ReplicationStatus` then reports (distribution-only recovery reads it)."""
        key = version_id.replace("/imageversions/", "/versions/").lower()
        with self.lock:
            self.gallery[key]["replication"] = dict(regions)
            if all(state in ("Completed", "Failed") for state in regions.values()):
                # A PATCH of targetRegions (a replication retry) lasts as long as the copies take.
                for operation in self.operations.values():
                    if operation["version"] == key and operation["status"] == "InProgress":
                        self._end_operation(operation)

    # --- actions ----------------------------------------------------------------------------------
    def start_run(self, name: str) -> Run:
        with self.lock:
            template, now, current = self._template(name), self.clock(), self.current_run(name)
            if current is not None and current.is_active(now):
                raise self._refusal("Run", template, current.state(now))
            account, endpoint = self._staging_account(template)
            folder = str(uuid.uuid4())
            run = Run(
                template["name"],
                now,
                template["timeline"],
                str(uuid.uuid4()),
                folder,
                f"{endpoint}/packerlogs/{folder}/customization.log",
            )
            for target in template["distribute"]:  # versioning scheme Latest: the next patch number
                image = target["galleryImageId"]
                version_id = f"{image}/versions/1.0.{sum(1 for k in self.gallery if k.startswith(image.lower() + '/'))}"
                self.gallery[version_id.lower()] = _version_entry(
                    version_id, run, bool(target.get("excludeFromLatest")), target.get("artifactTags"), None
                )
                if self.artifact_style == "imageversions":
                    version_id = version_id.replace("/versions/", "/imageversions/")
                run.outputs.append(shapes.run_output(template["id"], target["runOutputName"], version_id))
            self.runs[name.lower()].append(run)
        if account and run.timeline.log is not None:
            self.staging.write_log(account, folder, run.timeline.log)  # AIB writes it as the build goes
        return run

    def cancel(self, name: str) -> None:
        with self.lock:
            template, now, run = self._template(name), self.clock(), self.current_run(name)
            if run is None or run.state(now) != "Running":
                raise self._refusal("Cancel", template, run.state(now) if run else "")
            run.canceled_at = now

    # --- views --------------------------------------------------------------------------------------
    def current_run(self, name: str) -> Run | None:
        runs = self.runs.get(name.lower())
        return runs[-1] if runs else None

    def template_json(self, name: str) -> dict:
        with self.lock:
            t, run, now = self._template(name), self.current_run(name), self.clock()
            source = dict(t["source"])
            if run is not None and source.get("type") == "PlatformImage":  # resolved when the build started
                versions = self.marketplace.get(
                    _key(t["location"], source["publisher"], source["offer"], source["sku"])
                )
                source["exactVersion"] = (
                    source["version"]
                    if source["version"] != "latest"
                    else max(versions or ["22.04.202401010"], key=lambda v: tuple(int(p) for p in v.split(".")))
                )
            return shapes.image_template(t, self.subscription, source, run.last_run_status(now) if run else None)

    def run_outputs_json(self, name: str) -> list[dict]:
        with self.lock:
            self._template(name)
            run, now = self.current_run(name), self.clock()
            return list(run.outputs) if run and run.published(now) else []

    def operation_json(self, operation_id: str) -> dict | None:
        with self.lock:
            found = [r for runs in self.runs.values() for r in runs if r.operation_id == operation_id]
            return found[0].operation_status(self.clock()) if found else None

    def vm_images_json(self, location, publisher, offer, sku, *, top=None, orderby=None) -> list[dict] | None:
        with self.lock:
            versions = self.marketplace.get(_key(location, publisher, offer, sku))
        if versions is None:
            return None
        if orderby:  # a plain string sort: the service's own order is unpublished
            versions = sorted(versions, reverse=orderby.lower().endswith("desc"))
        return shapes.vm_images(self.subscription, location, publisher, offer, sku, versions[: top or None])

    def gallery_version_json(self, version_id: str, *, expand: str | None = None) -> dict | None:
        with self.lock:
            entry = self.gallery.get(version_id.replace("/imageversions/", "/versions/").lower())
            state = self._version_state(entry)
            if entry is None or state is None:
                return None  # not distributed (yet, or ever: the build failed or was canceled)
            run, now = entry["run"], self.clock()
            published = entry["published"] if run is None else iso(now if state == "Creating" else run.end)
            return shapes.gallery_image_version(
                entry["id"],
                state,
                published,
                entry["location"],
                exclude_from_latest=entry["exclude"],
                end_of_life=entry["eol"],
                tags=entry["tags"],
                replication=entry["replication"] if (expand or "").lower() == "replicationstatus" else None,
            )

    def gallery_versions_json(self, image_id: str, skip: int = 0) -> tuple[list[dict], int | None]:
        """One page of an image's versions (ARM's order: as created) and where the next page starts."""
        with self.lock:
            prefix = image_id.lower().rstrip("/") + "/versions/"
            found = [self.gallery_version_json(e["id"]) for key, e in self.gallery.items() if key.startswith(prefix)]
        found = [item for item in found if item is not None]
        end = skip + self.page_size
        return found[skip:end], end if end < len(found) else None

    def latest_gallery_version(self, image_id: str) -> str | None:
        """What `.../versions/latest` resolves to in Azure: the highest version not excluded (a change
        in progress, "Updating", leaves it usable)."""
        with self.lock:
            prefix = image_id.lower().rstrip("/") + "/versions/"
            usable = [
                e["id"].rsplit("/", 1)[-1]
                for key, e in self.gallery.items()
                if key.startswith(prefix) and not e["exclude"] and self._version_state(e) in ("Succeeded", "Updating")
            ]
        return max(usable, key=lambda v: tuple(int(p) for p in v.split(".")), default=None)

    def change_gallery_version(self, version_id: str, body: dict | None) -> tuple[str, str] | None:
        """A PATCH (body) or, body None, a DELETE: applied now, its operation ends after
        `operation_polls` status reads. (operation id, location), or None: no such version (a DELETE
        then answers 204, a PATCH 404). Refused with 409 while another change of it is running."""
        with self.lock:
            entry = self.gallery.get(version_id.lower())
            state = self._version_state(entry)
            if entry is None or state is None:
                return None
            if state != "Succeeded":
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"Operation '{'Update' if body is not None else 'Delete'}' is not allowed on gallery image "
                    f"version '{entry['id'].rsplit('/', 1)[-1]}' in provisioning state '{state}'.",
                )
            if body is not None:
                profile = (body.get("properties") or {}).get("publishingProfile") or {}
                if "excludeFromLatest" in profile:
                    entry["exclude"] = bool(profile["excludeFromLatest"])
                if "endOfLifeDate" in profile:
                    entry["eol"] = profile["endOfLifeDate"]
                if "targetRegions" in profile:  # replication runs again in each region listed
                    entry["replication"] = {region["name"]: "Replicating" for region in profile["targetRegions"]}
                if "tags" in body:
                    entry["tags"] = dict(body["tags"] or {})  # ARM: a PATCH's tags replace them all
            entry["busy"] = "Updating" if body is not None else "Deleting"
            operation_id = str(uuid.uuid4())
            self.operations[operation_id] = {
                "version": version_id.lower(),
                "polls": self.operation_polls,
                "started": iso(self.clock()),
                "error": self.operation_error,
                "status": "InProgress",
                "ended": None,
            }
            self.operation_error = None
            return operation_id, entry["location"]

    def gallery_operation_json(self, operation_id: str) -> dict | None:
        with self.lock:
            operation = self.operations.get(operation_id)
            if operation is None:
                return None
            if operation["status"] == "InProgress":
                if operation["polls"] > 0:
                    operation["polls"] -= 1
                else:
                    self._end_operation(operation)
            return shapes.caps_operation(
                operation_id, operation["status"], operation["started"], operation["ended"], operation["error"]
            )

    def resources_json(self, group: str) -> list[dict] | None:
        with self.lock:
            for t in self.templates.values():
                if t["staging"].rsplit("/", 1)[-1].lower() == group.lower():
                    return self._staging_resources(t)
        return None

    def storage_account_json(self, group: str, account: str) -> dict | None:
        for item in self.resources_json(group) or []:
            if item["type"] == shapes.STORAGE_ACCOUNTS and item["name"] == account:
                return shapes.storage_account(item, next(e for a, e in self.accounts.values() if a == account))
        return None

    # --- internals ------------------------------------------------------------------------------------
    def _version_state(self, entry: dict | None) -> str | None:
        """The version's provisioningState now; None while it does not exist (a build not distributed)."""
        if entry is None:
            return None
        run, now = entry["run"], self.clock()
        if entry["busy"]:
            return entry["busy"]
        if run is None or run.published(now):  # succeeded, or failed while distributing: it exists
            return "Succeeded"
        if run.state(now) == "Running" and run.sub_state(now) == "Distributing":
            return "Creating"
        return None

    def _end_operation(self, operation: dict) -> None:
        entry = self.gallery.get(operation["version"])
        operation["ended"] = iso(self.clock())
        operation["status"] = "Failed" if operation["error"] else "Succeeded"
        if entry is None:
            return
        if entry["busy"] == "Deleting" and not operation["error"]:
            del self.gallery[operation["version"]]
        else:
            entry["busy"] = None  # a failed change leaves the version as it was changed: Azure keeps no undo

    def _template(self, name: str) -> dict:
        template = self.templates.get(name.lower())
        if template is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{shapes.IMAGE_TEMPLATES}/{name}' under resource "
                "group was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        return template

    def _refusal(self, operation: str, template: dict, state: str) -> ArmError:
        return ArmError(
            self.refusal_status,
            "OperationNotAllowed",
            f"Operation '{operation}' is not allowed for image template '{template['name']}' in "
            f"provisioning state 'Succeeded' and run state '{state}'.",
            style=self.error_style,
        )

    def _staging_account(self, template: dict) -> tuple[str | None, str]:
        """AIB creates the staging storage account with the first build."""
        group = template["staging"].lower()
        if group not in self.accounts:
            if self.staging is None:
                return None, f"https://{uuid.uuid4().hex[:24]}.blob.core.windows.net"
            self.accounts[group] = self.staging.allocate()
        return self.accounts[group]

    def _staging_resources(self, template: dict) -> list[dict]:
        group_id, location = template["staging"], template["location"]
        items = []
        account = self.accounts.get(group_id.lower())
        if account:
            items.append(
                shapes.generic_resource(
                    group_id,
                    shapes.STORAGE_ACCOUNTS,
                    account[0],
                    location,
                    kind="StorageV2",
                    sku={"name": "Standard_LRS", "tier": "Standard"},
                )
            )
        run = self.current_run(template["name"])
        if run is not None and run.is_active(self.clock()):  # the build VM lives only during the build
            for kind, prefix in (
                ("Microsoft.Compute/virtualMachines", "vm"),
                ("Microsoft.Network/networkInterfaces", "nic"),
            ):
                items.append(shapes.generic_resource(group_id, kind, f"{prefix}-{run.folder[:8]}", location))
        return items


def _version_entry(version_id: str, run, exclude: bool, tags, replication, location: str = "westeurope") -> dict:
    return {
        "id": version_id,
        "run": run,
        "exclude": exclude,
        "eol": None,
        "tags": dict(tags or {}),
        "replication": dict(replication or {location: "Completed"}),
        "location": location,
        "busy": None,
    }


def _key(*parts: str) -> tuple:
    return tuple(p.lower() for p in parts)
