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
_DONE = ("Succeeded", "PartiallySucceeded")


class World:
    def __init__(self, clock, *, subscription: str = SUBSCRIPTION, staging=None) -> None:
        self.clock, self.subscription, self.staging = clock, subscription, staging  # staging: StagingStorage | None
        self.templates: dict[str, dict] = {}
        self.runs: dict[str, list[Run]] = {}
        self.accounts: dict[str, tuple[str, str]] = {}  # staging group id (lower) -> (account, blob endpoint)
        self.marketplace: dict[tuple, list[str]] = {}
        self.gallery: dict[str, dict] = {}  # version id (lower) -> {"id", "run"}; run None: published elsewhere
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

    def add_gallery_version(self, version_id: str) -> None:
        with self.lock:
            self.gallery[version_id.lower()] = {"id": version_id, "run": None}

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
                self.gallery[version_id.lower()] = {"id": version_id, "run": run}
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

    def gallery_version_json(self, version_id: str) -> dict | None:
        with self.lock:
            entry, now = self.gallery.get(version_id.replace("/imageversions/", "/versions/").lower()), self.clock()
        if entry is None:
            return None
        run = entry["run"]
        if run is None or run.published(now):
            return shapes.gallery_image_version(entry["id"], "Succeeded", iso(run.end if run else now))
        if run.state(now) == "Running" and run.sub_state(now) == "Distributing":
            return shapes.gallery_image_version(entry["id"], "Creating", iso(now))
        return None  # not distributed (yet, or ever: the build failed or was canceled)

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


def _key(*parts: str) -> tuple:
    return tuple(p.lower() for p in parts)
