"""The `aibtrigger` command: for people and scripts (every listing also as --json).

Other commands than `dev`/`demo` use the same settings as the service; with none set, they use the
running `aibtrigger dev` (its `.aibtrigger/dev.json`).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from aibtrigger.clihelp import run_guarded

    return run_guarded(lambda: args.run(args) or 0)


def _deps():
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.devhost.devstate import adopt_dev_settings

    adopt_dev_settings()
    return get_deps()


def _known_template(deps, name: str | None) -> None:
    """A typo gets the nearest names; a template since removed from the catalog still has its history."""
    from aibtrigger.clihelp import require_template

    if name is not None:
        require_template(deps.catalog, name, history=lambda n: bool(deps.store.list_runs(n, limit=1)))


def cmd_dev(args) -> int:
    import logging

    from aibtrigger.devhost.session import running_stack

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # else every storage request, headers and all
    data_dir = None if args.in_memory or args.storage else Path(args.data).resolve()
    if data_dir:
        data_dir.mkdir(parents=True, exist_ok=True)
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: stop.set())  # its terminal closed: stop as cleanly as on Ctrl-C
    with running_stack(
        storage=args.storage, data_dir=data_dir, http_port=args.port, message_visibility=args.message_visibility
    ) as host:
        print(
            f"aibtrigger dev: functions at {host.base_url} (Ctrl-C to stop); from another terminal: "
            f"`aibtrigger runs`, `aibtrigger request NAME`, ...",
            flush=True,
        )
        print(f"aibtrigger dev: status page at {host.base_url}/api/status", flush=True)
        try:
            while not stop.wait(0.5):  # short waits keep Ctrl-C responsive
                pass
        except KeyboardInterrupt:
            pass
    return 0


def cmd_demo(args) -> int:
    import signal

    from aibtrigger.devhost.demo import run_demo

    def interrupt(*_):  # as Ctrl-C: cancel and record the demo's builds, stop what it started
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    return run_demo(template=args.template)


def cmd_request(args) -> int:
    from aibtrigger.console import follow
    from aibtrigger.domain.model import RunState
    from aibtrigger.domain.records import RunRecord
    from aibtrigger.names import REQUESTS_QUEUE

    deps = _deps()
    _known_template(deps, args.template)
    request_id = f"cli-{uuid.uuid4().hex[:12]}"
    deps.queue.send(
        REQUESTS_QUEUE,
        {
            "template": args.template,
            "reason": args.reason,
            "requested_by": args.requested_by,
            "id": request_id,
            **({"force": True} if args.force else {}),
        },
    )
    print(f"requested {args.template} (request {request_id})")
    if not args.wait:
        return 0
    result = follow(deps, args.template, request_id, timeout=args.timeout)
    if not isinstance(result, RunRecord):
        return 1
    print(f"run {result.run_id} ended {result.state}")
    for artifact in result.artifact_ids:
        print(f"artifact: {artifact}")
    if result.excerpt:
        from aibtrigger.console import failure_text

        print(f"failure: {failure_text(result.excerpt.to_dict())}")
    return 0 if result.state is RunState.SUCCEEDED else 1


def cmd_cancel(args) -> int:
    """Cancel a template's active build; the run's poll records it Canceled and publishes it."""
    deps = _deps()
    _known_template(deps, args.template)
    status = deps.backend.get_status(args.template)
    if not status.is_active:
        print(f"aibtrigger: {args.template} has no active build", file=sys.stderr)
        return 1
    deps.backend.cancel_run(args.template)
    print(f"cancel requested for {args.template}")
    return 0


def cmd_promotion(args) -> int:
    """promote / reject / rollback: which version is `latest`, recorded with who and why, published."""
    from aibtrigger.service_layer import promotions

    deps = _deps()
    if args.command == "rollback":
        _known_template(deps, args.target)
    why = args.reason or f"{args.command} from the command line"
    if args.command == "rollback":
        done = promotions.rollback(args.target, deps, by=args.by, why=why, version=args.version)
    else:
        act = promotions.promote if args.command == "promote" else promotions.reject
        done = act(args.target, deps, by=args.by, why=why)
    print(f"{args.target}: {done.state}{'' if done.changed else ' already'}: {done.detail}")
    return 0


def cmd_plan(args) -> int:
    """`plan`: the dry run, the same planner as the service, changing nothing. `sweep`: what the
    sweep_sources timer does, now."""
    from aibtrigger.console import print_decisions, print_json
    from aibtrigger.service_layer import planning

    deps = _deps()
    decisions = (planning.dry_run if args.command == "plan" else planning.sweep_sources)(deps)
    print_json([d.to_dict() for d in decisions]) if args.json else print_decisions(decisions)
    if args.command == "plan" and not args.json and hasattr(deps.backend, "read_template"):
        from aibtrigger.catalog_remote import check_against_azure

        drift = check_against_azure(deps.catalog, deps.backend.read_template).drift
        for line in drift:
            print(f"drift (catalog vs Azure; AIB templates cannot be updated in place): {line}")
    return 0


def cmd_reconcile(args) -> int:
    """What the reconciler timer does every minute, now: one pass, each step it took printed."""
    from aibtrigger.console import print_json
    from aibtrigger.service_layer.reconciler import reconcile

    steps = reconcile(_deps())
    print_json(steps) if args.json else print(
        "\n".join(steps) or "nothing to reconcile: every template is building or idle with nothing owed"
    )
    return 0


def cmd_runs(args) -> int:
    from aibtrigger.console import print_json, print_runs, run_dict

    deps = _deps()
    _known_template(deps, args.template)
    runs = deps.store.list_runs(args.template, limit=args.limit)
    print_json([run_dict(r) for r in runs]) if args.json else print_runs(runs)
    return 0


def cmd_outcomes(args) -> int:
    from aibtrigger.console import outcome_dict, print_json, print_outcomes

    deps = _deps()
    if args.template and args.template not in deps.catalog.by_name:  # rejected requests may name anything
        from aibtrigger.clihelp import suggest

        print(
            f"aibtrigger: note: {args.template!r} is not in the catalog: "
            f"{suggest(args.template, list(deps.catalog.by_name))}",
            file=sys.stderr,
        )
    found = deps.store.list_outcomes(args.template, limit=args.limit)
    print_json([outcome_dict(o) for o in found]) if args.json else print_outcomes(found)
    return 0


def cmd_show(args) -> int:
    from aibtrigger.console import outcome_dict, print_json, print_run, run_dict

    deps = _deps()
    run = deps.store.get_run(args.run_id)
    if run is None:
        print(f"aibtrigger: no run {args.run_id!r}", file=sys.stderr)
        return 1
    outcomes = [o for o in deps.store.list_outcomes(run.template, limit=500) if o.request_id in run.request_ids]
    if args.json:
        print_json({**run_dict(run), "requests": [outcome_dict(o) for o in outcomes]})
    else:
        print_run(run, outcomes)
    return 0


def cmd_logs(args) -> int:
    from aibtrigger.console import missing_log, print_json
    from aibtrigger.domain.records import template_of

    deps = _deps()
    run = deps.store.get_run(args.run_id)
    if run is None:
        print(f"aibtrigger: no run {args.run_id!r}", file=sys.stderr)
        return 1
    text = deps.logs.load(run.run_id) if run.is_terminal else deps.backend.read_log(template_of(run.run_id))
    if args.json:
        print_json(
            {
                "run_id": run.run_id,
                "template": run.template,
                "state": run.state.value if run.state else "Starting",
                "live": not run.is_terminal,
                "log": text,
                **({"note": missing_log(run)} if text is None else {}),
            }
        )
    elif text is None:
        print(f"aibtrigger: {missing_log(run)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0 if text is not None else 1


def cmd_marketplace(args) -> int:
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.bootstrap import StorageClients
    from aibtrigger.config import load_settings
    from aibtrigger.console import print_json
    from aibtrigger.devhost.devstate import adopt_dev_settings

    adopt_dev_settings()
    market = LocalMarketplace(StorageClients(load_settings()).blobs())
    image = (args.location, args.publisher, args.offer, args.sku)
    if args.action == "publish":
        from aibtrigger.adapters.local.images import ImageError

        try:
            version = market.publish(*image, version=args.version, rootfs=Path(args.rootfs) if args.rootfs else None)
        except (ValueError, ImageError) as exc:  # the version exists already, is not a version, or a bad rootfs
            print(f"aibtrigger: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print_json({"location": args.location, "image": ":".join(image[1:]), "version": version})
            return 0
        print(f"published {':'.join(image[1:])} {version} ({args.location}) to the local marketplace")
        print("next: run `aibtrigger sweep` to rebuild what uses it now (the sweep timer would, within 15 minutes)")
    else:
        versions = market.list_versions(*image)
        print_json(versions) if args.json else print("\n".join(versions) or "no versions")
    return 0


def cmd_catalog_check(args) -> int:
    """Validate a catalog file as the service would, every problem with its path; exit 1 on any.
    With the aib backend configured (and reachable), also compare entries with their templates in Azure."""
    import os

    from aibtrigger.catalog import check_catalog, read_catalog_document
    from aibtrigger.errors import CatalogError

    path = args.path or os.environ.get("AIBTRIGGER_CATALOG_PATH")
    if not path:
        print("aibtrigger: no PATH given and AIBTRIGGER_CATALOG_PATH is not set", file=sys.stderr)
        return 2
    try:
        report = check_catalog(read_catalog_document(path))
    except CatalogError as exc:
        print(f"{path}: {exc}")
        return 1
    problems, notes = list(report.problems), list(report.notes)
    if report.catalog is not None and not args.offline:
        remote, why_not = _azure_check(report.catalog)
        if why_not:
            notes.append(f"templates in Azure not compared: {why_not}")
        elif remote is not None:
            problems += [f"drift (catalog vs Azure): {line}" for line in remote.drift]
            notes += [f"{name}: definition read from Azure" for name in remote.definitions]
            try:
                report.catalog.with_definitions(remote.definitions)
            except CatalogError as exc:  # the lineage those definitions reveal
                problems.append(f"templates (with the definitions read from Azure): {exc}")
            notes += [f"not read from Azure: {line}" for line in remote.unreadable]
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"problem: {problem}")
    count = len(report.catalog.templates) if report.catalog is not None else 0
    print(f"{path}: {len(problems)} problem(s)" if problems else f"{path}: ok ({count} templates)")
    return 1 if problems else 0


def _azure_check(catalog):
    """(RemoteCheck, None) with the aib backend configured; (None, why not) when it cannot be used;
    (None, None) when no entry names a template in Azure."""
    import os

    if not any(entry.resource_id for entry in catalog.templates):
        return None, None
    if os.environ.get("AIBTRIGGER_BACKEND") != "aib":
        return None, "the backend is not aib (AIBTRIGGER_BACKEND)"
    from azure.identity import DefaultAzureCredential

    from aibtrigger.adapters.aib.backend import AibBackend
    from aibtrigger.catalog_remote import check_against_azure

    # Only what reading templates needs (a CI job need not configure storage): the identity, and
    # the ARM endpoint when it is not the public cloud's.
    backend = AibBackend(
        catalog, credential=DefaultAzureCredential(), arm_endpoint=os.environ.get("AIBTRIGGER_ARM_ENDPOINT") or None
    )
    return check_against_azure(catalog, backend.read_template), None


def cmd_try(args) -> int:
    """Build one template locally now (adapters/local/trial.py); exit 0 only on success."""
    import os

    from aibtrigger.adapters.local.trial import try_template

    if args.image:
        os.environ["AIBTRIGGER_LOCAL_IMAGE"] = args.image
    if args.disk:
        os.environ["AIBTRIGGER_LOCAL_DISK_IMAGE"] = "1"
    if args.offline:
        os.environ["AIBTRIGGER_LOCAL_NETWORK"] = "off"
    catalog = args.catalog or os.environ.get("AIBTRIGGER_CATALOG_PATH") or "examples/catalog.yaml"
    return try_template(args.template, Path(catalog))


def cmd_gallery(args) -> int:
    """Publish a rootfs tarball of your own as a local gallery image version."""
    from aibtrigger.adapters.local.gallery import LocalGallery
    from aibtrigger.adapters.local.rootfs import check_rootfs
    from aibtrigger.bootstrap import StorageClients
    from aibtrigger.config import load_settings
    from aibtrigger.devhost.session import adopt_dev_settings

    adopt_dev_settings()
    try:
        rootfs = check_rootfs(Path(args.rootfs))
        gallery = LocalGallery(StorageClients(load_settings()).blobs())
        print(
            gallery.create_version(
                args.image_id, args.version, rootfs, {"template": "published by hand", "lineage": []}
            )
        )
    except (ValueError, FileExistsError) as exc:
        print(f"aibtrigger: {exc}", file=sys.stderr)
        return 2
    return 0


# --- Gallery image versions: `versions` and `prune` (retention) -------------------------------------


def cmd_versions(args) -> int:
    """A template's image versions in every gallery image it distributes to: state, provenance, age."""
    from aibtrigger.clihelp import require_template
    from aibtrigger.console import print_json
    from aibtrigger.console_gallery import print_versions
    from aibtrigger.service_layer.versions import template_versions

    deps = _deps()
    require_template(deps.catalog, args.template)
    rows = template_versions(deps, args.template)
    print_json(rows) if args.json else print_versions(rows)
    return 0


def cmd_prune(args) -> int:
    """Apply retention (policy.retention) now, or show what it would do; exit 1 when anything failed."""
    from aibtrigger.clihelp import require_template
    from aibtrigger.console import print_json
    from aibtrigger.console_gallery import print_prune
    from aibtrigger.errors import AibTriggerError
    from aibtrigger.service_layer.retention import prune

    deps = _deps()
    if args.template:
        require_template(deps.catalog, args.template)
        if deps.catalog.get(args.template).policy.retention is None:
            raise AibTriggerError(
                f"template {args.template!r} has no retention policy (policy.retention): prune leaves it alone"
            )
    reports = prune(deps, [args.template] if args.template else None, dry_run=args.dry_run)
    if args.json:
        print_json(
            {
                "dry_run": args.dry_run,
                "freed_bytes": sum(r.freed_bytes for r in reports),
                "templates": [r.to_dict() for r in reports],
            }
        )
    else:
        print_prune(reports, dry_run=args.dry_run)
    return 1 if any(r.errors for r in reports) else 0


def _gallery_parsers(sub) -> None:
    versions = sub.add_parser("versions", help="a template's image versions: state, provenance, age, size")
    versions.add_argument("template")
    versions.add_argument("--json", action="store_true", help="as a JSON list, one object per version")
    versions.set_defaults(run=cmd_versions)

    prune = sub.add_parser("prune", help="delete image versions retention lets go (policy.retention); --dry-run first")
    prune.add_argument("template", nargs="?", help="only this template (default: every one with a retention policy)")
    prune.add_argument(
        "--dry-run", action="store_true", help="show what would go and the storage it frees; change nothing"
    )
    prune.add_argument("--json", action="store_true", help="the report as one JSON object")
    prune.set_defaults(run=cmd_prune)


# --- end of `versions` and `prune` ---------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aibtrigger", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="run the functions locally on Azurite (no Core Tools needed)")
    dev.add_argument("--storage", help="connection string of a running Azurite (default: start one)")
    dev.add_argument(
        "--data",
        default=".aibtrigger/azurite",
        help="where Azurite keeps its data, and its ports (default .aibtrigger/azurite)",
    )
    dev.add_argument("--in-memory", action="store_true", help="keep Azurite's data in memory only")
    dev.add_argument("--port", type=int, default=7071, help="HTTP port of the functions (default 7071)")
    dev.add_argument(
        "--message-visibility",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long a received queue message stays invisible, renewed while its invocation runs "
        "(default 60); a message held by a killed host reappears after it",
    )
    dev.set_defaults(run=cmd_dev)

    demo = sub.add_parser("demo", help="a whole local build, start to finish, then stop everything")
    demo.add_argument("--template", default="ubuntu-base", help="the template to build (default ubuntu-base)")
    demo.set_defaults(run=cmd_demo)

    request = sub.add_parser("request", help="request a build of one template now")
    request.add_argument("template")
    request.add_argument("--reason", default="manual request", help="recorded with the run (default 'manual request')")
    request.add_argument("--requested-by", default="cli", help="who asks, recorded with the run (default 'cli')")
    request.add_argument("--wait", action="store_true", help="follow the run to its end; exit 1 if it fails")
    request.add_argument(
        "--timeout", type=float, default=4 * 3600, help="with --wait: seconds to wait at most (default 14400)"
    )
    request.add_argument(
        "--force", action="store_true", help="build even when its inputs did not change since the last successful build"
    )
    request.set_defaults(run=cmd_request)

    cancel = sub.add_parser("cancel", help="cancel a template's active build")
    cancel.add_argument("template")
    cancel.set_defaults(run=cmd_cancel)

    for name, target, text, reason_required in (
        ("promote", "run_id", "make a staged run's image versions `latest` (its children then build)", False),
        ("reject", "run_id", "keep a staged run's image versions out of `latest` for good", True),
        ("rollback", "template", "exclude the template's `latest` again: it falls back to the previous one", True),
    ):
        promotion = sub.add_parser(name, help=text)
        promotion.add_argument("target", metavar=target.upper())
        promotion.add_argument("--reason", required=reason_required, help="recorded and published with the change")
        promotion.add_argument("--by", default=_whoami(), help="who does it, recorded (default: your user name)")
        if name == "rollback":
            promotion.add_argument(
                "--version", help="the version to roll back (default: the current latest); a repeat naming it is safe"
            )
        promotion.set_defaults(run=cmd_promotion, command=name)

    for name, text in (
        ("plan", "dry run: would each template build now, why, in which wave"),
        ("sweep", "look for new marketplace versions now and act on them"),
    ):
        planning = sub.add_parser(name, help=text)
        planning.add_argument("--json", action="store_true", help="the decisions as a JSON list")
        planning.set_defaults(run=cmd_plan, command=name)

    reconcile = sub.add_parser("reconcile", help="one reconciler pass now: unstick claims, start what is owed")
    reconcile.add_argument("--json", action="store_true")
    reconcile.set_defaults(run=cmd_reconcile)

    for name, func, text in (
        ("runs", cmd_runs, "list recorded runs, newest first"),
        ("outcomes", cmd_outcomes, "list what became of each request (incl. rejected)"),
    ):
        listing = sub.add_parser(name, help=text)
        listing.add_argument("--template", help="only this template's")
        listing.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
        listing.add_argument("--json", action="store_true", help="as a JSON list")
        listing.set_defaults(run=func)

    show = sub.add_parser("show", help="one run in detail, with the requests it served")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true", help="as one JSON object")
    show.set_defaults(run=cmd_show)

    logs = sub.add_parser("logs", help="a run's customization log")
    logs.add_argument("run_id")
    logs.add_argument("--json", action="store_true", help="the log and the run's state as one JSON object")
    logs.set_defaults(run=cmd_logs)

    catalog = sub.add_parser("catalog", help="the catalog file: check it").add_subparsers(
        required=True, metavar="ACTION"
    )
    check = catalog.add_parser("check", help="validate a catalog file (exit 1 on any problem), e.g. in CI")
    check.add_argument("path", nargs="?", help="the catalog file (default: AIBTRIGGER_CATALOG_PATH)")
    check.add_argument("--offline", action="store_true", help="do not compare entries with their templates in Azure")
    check.set_defaults(run=cmd_catalog_check)

    market = sub.add_parser("marketplace", help="the local marketplace: publish a 'patch', list versions")
    market.add_argument("action", choices=["publish", "list"])
    market.add_argument("--location", default="westeurope", help="(default westeurope)")
    market.add_argument("--publisher", default="Canonical", help="(default Canonical)")
    market.add_argument(
        "--offer", default="0001-com-ubuntu-server-jammy", help="(default 0001-com-ubuntu-server-jammy)"
    )
    market.add_argument("--sku", default="22_04-lts-gen2", help="(default 22_04-lts-gen2)")
    market.add_argument("--version", help="publish: the version (default: the next one, from today's date)")
    market.add_argument(
        "--rootfs",
        help="publish: this rootfs tarball (default: the base image "
        "AIBTRIGGER_LOCAL_IMAGE names: debian, debian:SUITE, busybox)",
    )
    market.add_argument("--json", action="store_true", help="list: the versions as JSON; publish: what was published")
    market.set_defaults(run=cmd_marketplace)

    trial = sub.add_parser("try", help="build one catalog template locally now, streaming its log")
    trial.add_argument("template")
    trial.add_argument("--catalog", help="the catalog file (default: AIBTRIGGER_CATALOG_PATH, else examples/)")
    trial.add_argument("--image", help="base image when the source has none yet: debian[:SUITE], busybox, a tarball")
    trial.add_argument("--disk", action="store_true", help="also capture a raw ext4 disk image")
    trial.add_argument("--offline", action="store_true", help="no network inside the build")
    trial.set_defaults(run=cmd_try)

    gallery = sub.add_parser("gallery", help="the local gallery: publish a rootfs tarball as an image version")
    gallery.add_argument("action", choices=["publish"])
    gallery.add_argument("image_id", help="the gallery image id (.../galleries/G/images/I)")
    gallery.add_argument("--version", required=True, help="e.g. 1.0.0")
    gallery.add_argument("--rootfs", required=True, help="the rootfs tarball (.tar or .tar.gz)")
    gallery.set_defaults(run=cmd_gallery)
    _gallery_parsers(sub)
    return parser


def _whoami() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


if __name__ == "__main__":
    sys.exit(main())
