"""AibBackend: the ImageBackend port on Azure VM Image Builder (azure-mgmt-imagebuilder).

A catalog entry names its image template by `resource_id`; nothing else can be built. Run is
invoked without waiting on its long-running operation (it lasts the whole build); the template's
`lastRunStatus` is what the service polls.

Run is not idempotent, so it is guarded on both sides:
- before: the template is read; an active build (Running/Canceling) is adopted, never re-run;
- after an ambiguous failure (5xx, no answer): the template is read again; if a build started since
  the first read it is ours, else Run is posted once more. AIB itself refuses a second Run while one
  is active (OperationNotAllowed), so even a late-appearing build cannot be doubled.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from azure.core.exceptions import AzureError

from aibtrigger.adapters.aib.clients import ArmClients
from aibtrigger.adapters.aib.errors import is_ambiguous, is_operation_not_allowed, translate
from aibtrigger.adapters.aib.staging_logs import StagingLogs
from aibtrigger.adapters.aib.status import TemplateView, to_run_output, to_template_view
from aibtrigger.catalog import Catalog
from aibtrigger.domain.model import BuildStatus, RunOutput
from aibtrigger.errors import BuildAlreadyActiveError, TemplateNotFoundError

log = logging.getLogger(__name__)
# read_log and exact_source_version may reuse a template read this recent (the poll that saw the run
# end has just read it); get_status and start_run always read afresh.
_REUSE_SECONDS = 30.0
_TEMPLATE_ID = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/"
    r"Microsoft\.VirtualMachineImages/imageTemplates/([^/]+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Ref:
    subscription: str
    group: str
    name: str


class AibBackend:
    def __init__(
        self,
        catalog: Catalog,
        *,
        credential=None,
        arm_endpoint: str | None = None,
        client_options: dict | None = None,
        clients: ArmClients | None = None,
    ) -> None:
        """credential: an azure-core TokenCredential (DefaultAzureCredential in Azure).
        arm_endpoint: ARM's base URL; None for the public cloud.
        client_options: SDK client kwargs, e.g. retry_total, retry_backoff_factor, retry_backoff_max
        (azure-core's RetryPolicy, which honours Retry-After), read_timeout, connection_verify.
        clients: an ArmClients to share with AzureSources (then the three above are not used)."""
        if clients is None and credential is None:
            raise TypeError("AibBackend needs a credential (or clients)")
        self._catalog = catalog
        self._clients = clients or ArmClients(credential, arm_endpoint=arm_endpoint, options=client_options)
        self._logs = StagingLogs(self._clients)
        self._recent: dict[str, tuple[float, TemplateView]] = {}

    # --- the port ---------------------------------------------------------------------------------
    def get_status(self, template: str) -> BuildStatus:
        return self._view(template, reuse=False).status

    def start_run(self, template: str, *, provenance: dict | None = None) -> None:
        # `provenance` is not written to AIB (its artifactTags belong to the customer's template): the
        # service tags each version after the run (service_layer.tagging) and, until then, credits it
        # through the run record whose runOutputs name it.
        self._recent.pop(template, None)  # whatever happens now, an earlier read is stale
        before = self.get_status(template)
        if before.is_active:
            raise BuildAlreadyActiveError(f"template {template!r} is already {before.run_state}: adopt it")
        for attempt in (1, 2):
            try:
                self._templates(template).begin_run(*self._args(template), polling=False)
                self._recent.pop(template, None)
                return
            except AzureError as exc:
                if not is_ambiguous(exc):
                    raise translate(exc, f"run template {template!r}") from exc
                after = self.get_status(template)
                if _started_since(before, after):
                    log.warning("Run of %s failed ambiguously (%s) but its build started: adopted", template, exc)
                    return
                if attempt == 2:
                    raise translate(exc, f"run template {template!r} (twice, no build started)") from exc
                log.warning("Run of %s failed (%s) and no build started: posting Run once more", template, exc)

    def cancel_run(self, template: str) -> None:
        self._recent.pop(template, None)
        try:
            self._templates(template).begin_cancel(*self._args(template), polling=False)
        except AzureError as exc:
            if is_operation_not_allowed(exc):
                return  # not running (already canceling, or ended): nothing to cancel
            raise translate(exc, f"cancel the build of {template!r}") from exc

    def run_outputs(self, template: str) -> list[RunOutput]:
        try:
            return [to_run_output(item) for item in self._templates(template).list_run_outputs(*self._args(template))]
        except AzureError as exc:
            raise translate(exc, f"read run outputs of {template!r}") from exc

    def read_log(self, template: str) -> str | None:
        view = self._view(template, reuse=True)
        if view.staging_resource_group is None or view.status.run_state is None:
            return None
        return self._logs.read(view.staging_resource_group, started=view.status.start_time, message=view.status.message)

    def exact_source_version(self, template: str) -> str | None:
        return self._view(template, reuse=True).exact_source_version

    # --- beyond the port ------------------------------------------------------------------------------
    def describe(self, template: str) -> TemplateView:
        """The template's source (with exactVersion), distribution targets, staging group and status."""
        return self._view(template, reuse=False)

    def read_template(self, template: str) -> dict:
        """The image template as ARM returns it: the whole resource, read-only fields included (the
        catalog takes a `resource_id`-only entry's definition from it, and compares the others)."""
        try:
            found = self._templates(template).get(*self._args(template))
        except AzureError as exc:
            raise translate(exc, f"read image template {template!r}") from exc
        return found.as_dict() if hasattr(found, "as_dict") else dict(found)

    # --- internals ------------------------------------------------------------------------------------
    def _view(self, template: str, *, reuse: bool) -> TemplateView:
        recent = self._recent.get(template)
        if reuse and recent is not None and time.monotonic() - recent[0] < _REUSE_SECONDS:
            return recent[1]
        try:
            view = to_template_view(self._templates(template).get(*self._args(template)))
        except AzureError as exc:
            raise translate(exc, f"read image template {template!r}") from exc
        self._recent[template] = (time.monotonic(), view)
        return view

    def _ref(self, template: str) -> _Ref:
        entry = self._catalog.by_name.get(template)
        if entry is None:
            raise TemplateNotFoundError(f"template {template!r} is not in the catalog")
        match = _TEMPLATE_ID.match(entry.resource_id or "")
        if match is None:
            raise TemplateNotFoundError(
                f"template {template!r} has no image template resource_id: the aib backend "
                "builds only image templates in Azure"
            )
        return _Ref(*match.groups())

    def _args(self, template: str) -> tuple[str, str]:
        ref = self._ref(template)
        return ref.group, ref.name

    def _templates(self, template: str):
        return self._clients.image_builder(self._ref(template).subscription).virtual_machine_image_templates


def _started_since(before: BuildStatus, after: BuildStatus) -> bool:
    """Whether `after` shows a build that `before` did not (compared by AIB's own start time, so no
    clock of ours is involved)."""
    return after.is_active or (after.start_time is not None and after.start_time != before.start_time)
