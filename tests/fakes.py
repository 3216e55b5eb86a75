"""Small fakes for unit tests: they implement the ports and record what happened (no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aibtrigger.domain.model import BuildStatus, RunOutput, RunState, RunSubState
from aibtrigger.errors import BuildAlreadyActiveError, TemplateNotFoundError


class Clock:
    def __init__(self, start: datetime = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


class ScriptedBackend:
    """A backend whose builds end when the test says so. Counts every Run it accepted."""

    def __init__(self, clock: Clock, templates: set[str]) -> None:
        self.clock = clock
        self.templates = templates
        self.status: dict[str, BuildStatus] = {}
        self.runs_started: list[str] = []
        self.cancels: list[str] = []
        self.logs: dict[str, str] = {}
        self.outputs: dict[str, list[RunOutput]] = {}
        self.source_versions: dict[str, str] = {}
        self.provenance: dict[str, dict] = {}  # what the current or last run was asked to tag its outputs with

    def get_status(self, template: str) -> BuildStatus:
        self._known(template)
        return self.status.get(template, BuildStatus(None))

    def start_run(self, template: str, *, provenance: dict | None = None) -> None:
        if self.get_status(template).is_active:
            raise BuildAlreadyActiveError(f"OperationNotAllowed: {template} is running")
        self.runs_started.append(template)
        self.provenance[template] = provenance or {}
        self.status[template] = BuildStatus(RunState.RUNNING, RunSubState.QUEUED, self.clock())
        self.logs[template] = ""

    def cancel_run(self, template: str) -> None:
        self.cancels.append(template)
        current = self.get_status(template)
        self.status[template] = BuildStatus(RunState.CANCELING, None, current.start_time, None, "Canceling image build")

    def run_outputs(self, template: str) -> list[RunOutput]:
        return self.outputs.get(template, [])

    def read_log(self, template: str) -> str | None:
        return self.logs.get(template) or None

    def exact_source_version(self, template: str) -> str | None:
        return self.source_versions.get(template)

    # test controls
    def finish(
        self,
        template: str,
        state: RunState,
        *,
        message: str = "",
        log: str = "",
        outputs: list[RunOutput] | None = None,
    ) -> None:
        current = self.get_status(template)
        self.status[template] = BuildStatus(state, None, current.start_time, self.clock(), message)
        self.logs[template] = log
        self.outputs[template] = outputs or []

    def _known(self, template: str) -> None:
        if template not in self.templates:
            raise TemplateNotFoundError(template)


class FakeSources:
    """Marketplace and gallery versions the test sets; counts marketplace reads."""

    def __init__(self) -> None:
        self.marketplace: dict[tuple[str, str, str, str], str] = {}
        self.gallery: dict[str, dict] = {}
        self.list_calls = 0

    def latest_version(self, location: str, publisher: str, offer: str, sku: str) -> str | None:
        self.list_calls += 1
        return self.marketplace.get((location.lower(), publisher.lower(), offer.lower(), sku.lower()))

    def get_version(self, version_id: str) -> dict | None:
        return self.gallery.get(version_id.lower())


class Outage:
    """A fault that lasts: while `down`, every call of the wrapped port raises `error`. Wrap any port."""

    def __init__(self, port, error: Exception) -> None:
        self._port, self._error, self.down, self.failures = port, error, False, 0

    def __getattr__(self, name):
        attribute = getattr(self._port, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            if self.down:
                self.failures += 1
                raise self._error
            return attribute(*args, **kwargs)

        return call
