"""The local builder: `python -m aibtrigger.adapters.local.builder NAME BUILD_ID`.

A detached process per run, as AIB's build outlives the Run call. It walks AIB's sub-states
Queued -> Building -> Customizing -> Validating -> Distributing, writes them, a heartbeat and the
verdict into the template's state blob (control.py), and customization.log into `packerlogs` as it
goes. Configuration comes from the environment only (environment.py); the catalog is loaded here,
so only a catalog definition can ever be built.

AIB's sequence: source -> customize -> in-VM validation -> deprovision -> capture -> distribute.
Every script runs inside the unpacked image, in its own namespaces (sandbox.py); where those
cannot be made, the build fails before it starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import stat
import sys
import time

from aibtrigger.adapters.local import generalize, messages
from aibtrigger.adapters.local.capture import CaptureError, capture
from aibtrigger.adapters.local.control import RunControl
from aibtrigger.adapters.local.distribute import DistributeError, Distributor
from aibtrigger.adapters.local.environment import BuilderConfig
from aibtrigger.adapters.local.gallery import LocalGallery
from aibtrigger.adapters.local.layout import blob_service, redact
from aibtrigger.adapters.local.marketplace import LocalMarketplace
from aibtrigger.adapters.local.packerlog import PackerLog
from aibtrigger.adapters.local.rootfs import unpack
from aibtrigger.adapters.local.sandbox import SandboxError, require_namespaces
from aibtrigger.adapters.local.sources import SourceError, download, resolve
from aibtrigger.adapters.local.state import TemplateStateStore
from aibtrigger.adapters.local.steps import BuildStopped, StepFailed, Workspace, run_file, run_shell
from aibtrigger.catalog import FileCustomizer, ShellCustomizer, TemplateEntry

logger = logging.getLogger("aibtrigger.local.builder")


class ValidationFailed(StepFailed):
    """An inVMValidation failed (and continueDistributeOnFailure is off)."""


class Build:
    def __init__(self, entry: TemplateEntry, build_id: str, config: BuilderConfig, service, state: TemplateStateStore):
        if entry.definition is None:
            raise LookupError(f"template {entry.name!r} has no definition the local backend could build")
        self.entry, self.definition, self.build_id, self.config = entry, entry.definition, build_id, config
        self.service = service
        self.marketplace = LocalMarketplace(service)
        self.gallery = LocalGallery(service, event_webhook=config.event_webhook)
        self.folder = config.workdir / build_id  # the workspace; removed at the end
        self.control = RunControl(
            state,
            entry.name,
            build_id,
            heartbeat_seconds=config.heartbeat_seconds,
            timeout_seconds=self.definition.timeout_minutes * config.seconds_per_minute,
        )
        self._started = time.monotonic()

    def run(self) -> str:
        """Build to the end; returns the final runState ('superseded' if the run was no longer ours)."""
        if not self.control.claim():
            return "superseded"
        self.log = PackerLog(self.service, self.build_id)
        try:
            run_state, message, outputs = self._outcome()
        finally:
            self.control.release()
            shutil.rmtree(self.folder, onerror=_force_remove)
            self.log.close()
        if run_state != "superseded":
            self.control.finish(run_state, message, outputs)
        return run_state

    def _outcome(self) -> tuple[str, str, list[dict]]:
        outputs: list[dict] = []
        ctx = messages.Context(self.log.url, self.build_id, self.definition.timeout_minutes)
        try:
            validation_failure = self._build(outputs)
        except BuildStopped as stop:
            return messages.stopped(self.log, stop.reason, self._elapsed(), ctx)
        except Exception as exc:  # noqa: BLE001 - whatever breaks, the run must end with a verdict
            expected = isinstance(exc, (StepFailed, SourceError, DistributeError, SandboxError, CaptureError))
            if not expected:
                logger.exception("build %s failed unexpectedly", self.build_id)
            reason = redact(str(exc) if expected else f"local builder error: {type(exc).__name__}: {exc}")
            messages.end_failed(self.log, reason, self._elapsed())
            return "Failed", messages.failure(reason, ctx, validation=isinstance(exc, ValidationFailed)), outputs
        errors = [o["properties"].pop("error") for o in outputs if "error" in o["properties"]]
        if validation_failure or errors:
            reason = validation_failure or "; ".join(errors)
            messages.end_failed(self.log, reason, self._elapsed())
            partly = not validation_failure and len(errors) < len(outputs)
            return (
                "PartiallySucceeded" if partly else "Failed",
                messages.failure(reason, ctx, validation=bool(validation_failure), distributed=True),
                outputs,
            )
        messages.end_succeeded(self.log, outputs, self._elapsed())
        return "Succeeded", "", outputs

    def _build(self, outputs: list[dict]) -> str | None:
        """Every phase; returns a validation failure that did not stop distribution, if any."""
        definition, log, control = self.definition, self.log, self.control
        validation = definition.validate_
        steps = [*definition.customize, *(validation.inVMValidations if validation else [])]
        unsupported = sorted({s.type for s in steps if not isinstance(s, (ShellCustomizer, FileCustomizer))})
        if unsupported:
            raise StepFailed(
                f"{', '.join(unsupported)} customizers are not supported by the local backend "
                "(it builds Linux root filesystems: use Shell and File)"
            )
        require_namespaces()
        control.sub_state("Building")
        log.ui("Running builder ...")
        source = resolve(definition.source, self.entry.location, self.marketplace, self.gallery)
        log.ui("Getting source image id for the deployment ...")
        log.ui(f" -> SourceImageName: '{source.description}'")
        control.update(lambda doc: {**doc, "exactSourceVersion": source.exact_version})
        archive = download(source, self.marketplace, self.gallery, self.folder / "source")
        control.check()
        root = unpack(archive, self.folder / "rootfs")
        archive.unlink()
        ws = Workspace(
            root=root,
            folder=self.folder,
            catalog_dir=self.config.catalog_path.resolve().parent,
            log=log,
            should_stop=control.stop_reason,
            network=self.config.network,
        )
        generalize.add_sudo(ws)
        source_only = bool(validation and validation.sourceValidationOnly)
        if not source_only:
            control.sub_state("Customizing")
            self._run_steps(definition.customize, ws)
        validation_failure = None
        if validation and validation.inVMValidations:
            control.sub_state("Validating")
            try:
                self._run_steps(validation.inVMValidations, ws)
            except StepFailed as exc:
                if not validation.continueDistributeOnFailure:
                    raise ValidationFailed(str(exc)) from None
                validation_failure = str(exc)  # AIB: distribute anyway, yet the run is Failed
        if source_only:  # AIB validates the source as it is: nothing is built or distributed
            return validation_failure
        generalize.drop_sudo(ws)
        generalize.deprovision(ws)
        control.sub_state("Distributing")
        artifacts = capture(root, self.folder, disk=self.config.disk_image)
        provenance = (control.state.read(control.name) or {}).get("provenance") or {}  # the service's start_run
        distributor = Distributor(
            self.service,
            self.gallery,
            template=self.entry.name,
            build_id=self.build_id,
            source=source,
            provenance=provenance,
        )
        for target in definition.distribute:
            control.check()
            try:
                outputs.append(distributor.distribute(target, artifacts))
            except (DistributeError, OSError) as exc:
                outputs.append(
                    {
                        "name": target.runOutputName,
                        "properties": {"provisioningState": "Failed", "error": redact(str(exc))},
                    }
                )
        return validation_failure

    def _run_steps(self, steps, ws: Workspace) -> None:
        for step in steps:
            self.control.check()
            if isinstance(step, ShellCustomizer):
                run_shell(step, ws)
            else:
                run_file(step, ws)

    def _elapsed(self) -> float:
        return time.monotonic() - self._started


def _force_remove(function, path, _exc_info) -> None:
    """Scripts may leave read-only folders in the image: make them writable and retry."""
    try:
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        os.chmod(path, stat.S_IRWXU)
        function(path)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m aibtrigger.adapters.local.builder TEMPLATE BUILD_ID", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # request logs would show every URL
    name, build_id = args
    config = BuilderConfig.from_env()
    service = blob_service(config.connection_string)
    state = TemplateStateStore(service)
    try:
        from aibtrigger.catalog import load_catalog

        build = Build(load_catalog(config.catalog_path).get(name), build_id, config, service, state)
    except Exception as exc:  # noqa: BLE001 - record it rather than leave the run Queued
        reason = redact(f"{type(exc).__name__}: {exc}")
        logger.error("build %s of %s cannot start: %s", build_id, name, reason)
        messages.fail_unstarted(state, name, build_id, reason)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: build.control.terminate())
    result = build.run()
    logger.info("build %s of %s ended: %s", build_id, name, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
