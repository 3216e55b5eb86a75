"""The build backend port: what the service needs from Azure Image Builder, or from the local builder.

Every method addresses a template by its catalog name; the backend maps that to what it builds
(the local backend: the catalog definition; aib: the image template resource). Nothing else can be
named, so a message can never make a backend build something outside the catalog.
"""

from __future__ import annotations

from typing import Protocol

from aibtrigger.domain.model import BuildStatus, RunOutput


class ImageBackend(Protocol):
    def get_status(self, template: str) -> BuildStatus:
        """The template's current or last run (AIB `lastRunStatus`); run_state None if it never ran."""

    def start_run(self, template: str, *, provenance: dict | None = None) -> None:
        """Invoke Run and return once the backend accepted it; never waits for the build.

        `provenance` (domain.provenance: run id, upstream change, source version, input fingerprint):
        what the image versions this run distributes are to be tagged with, so that decisions about
        them read who made them.

        Raises BuildAlreadyActiveError when a build is running or canceling (AIB OperationNotAllowed),
        TemplateNotFoundError when the backend does not know the template, BackendError otherwise.
        """

    def cancel_run(self, template: str) -> None:
        """Ask the active build to stop; returns at once (watch run_state go Canceling -> Canceled)."""

    def run_outputs(self, template: str) -> list[RunOutput]:
        """The last run's outputs (for a SharedImage target, artifact_id is the new version id)."""

    def read_log(self, template: str) -> str | None:
        """The current or last run's customization.log as it stands now, or None if there is none yet."""

    def exact_source_version(self, template: str) -> str | None:
        """The source version the current or last run used (AIB `source.exactVersion`), once known."""
