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
    from aibtrigger.errors import AibTriggerError

    try:
        return args.run(args) or 0
    except AibTriggerError as exc:
        print(f"aibtrigger: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _deps():
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.devhost.session import adopt_dev_settings

    adopt_dev_settings()
    return get_deps()


def cmd_dev(args) -> int:
    import logging

    from aibtrigger.devhost.session import running_stack

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # else every storage request, headers and all
    data_dir = None if args.in_memory else Path(args.data).resolve()
    if data_dir:
        data_dir.mkdir(parents=True, exist_ok=True)
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running_stack(storage=args.storage, data_dir=data_dir, http_port=args.port,
                       message_visibility=args.message_visibility) as host:
        print(f"aibtrigger dev: functions at {host.base_url} (Ctrl-C to stop)", flush=True)
        try:
            while not stop.wait(0.5):  # short waits keep Ctrl-C responsive
                pass
        except KeyboardInterrupt:
            pass
    return 0


def cmd_demo(args) -> int:
    from aibtrigger.devhost.demo import run_demo

    return run_demo(template=args.template)


def cmd_request(args) -> int:
    from aibtrigger.names import REQUESTS_QUEUE
    from aibtrigger.console import follow
    from aibtrigger.domain.model import RunState
    from aibtrigger.domain.records import RunRecord

    deps = _deps()
    deps.catalog.get(args.template)
    request_id = f"cli-{uuid.uuid4().hex[:12]}"
    deps.queue.send(REQUESTS_QUEUE, {"template": args.template, "reason": args.reason,
                                     "requested_by": args.requested_by, "id": request_id,
                                     **({"force": True} if args.force else {})})
    print(f"requested {args.template} (request {request_id})")
    if not args.wait:
        return 0
    result = follow(deps, args.template, request_id, timeout=args.timeout)
    if not isinstance(result, RunRecord):
        return 1
    print(f"run {result.run_id} ended {result.state.value}")
    for artifact in result.artifact_ids:
        print(f"artifact: {artifact}")
    if result.excerpt:
        print(f"failure: {result.excerpt.reason} (step {result.excerpt.step}, exit status {result.excerpt.exit_status})")
    return 0 if result.state is RunState.SUCCEEDED else 1


def cmd_cancel(args) -> int:
    """Cancel a template's active build; the run's poll records it Canceled and publishes it."""
    deps = _deps()
    deps.catalog.get(args.template)
    status = deps.backend.get_status(args.template)
    if not status.is_active:
        print(f"aibtrigger: {args.template} has no active build", file=sys.stderr)
        return 1
    deps.backend.cancel_run(args.template)
    print(f"cancel requested for {args.template}")
    return 0


def cmd_plan(args) -> int:
    """`plan`: the dry run, the same planner as the service, changing nothing. `sweep`: what the
    sweep_sources timer does, now."""
    from aibtrigger.console import print_decisions, print_json
    from aibtrigger.service_layer import planning

    decisions = (planning.dry_run if args.command == "plan" else planning.sweep_sources)(_deps())
    print_json([d.to_dict() for d in decisions]) if args.json else print_decisions(decisions)
    return 0


def cmd_reconcile(args) -> int:
    """What the reconciler timer does every minute, now: one pass, each step it took printed."""
    from aibtrigger.console import print_json
    from aibtrigger.service_layer.reconciler import reconcile

    steps = reconcile(_deps())
    print_json(steps) if args.json else print("\n".join(steps) or "nothing to reconcile: every template is "
                                                                   "building or idle with nothing owed")
    return 0


def cmd_runs(args) -> int:
    from aibtrigger.console import print_json, print_runs, run_dict

    runs = _deps().store.list_runs(args.template, limit=args.limit)
    print_json([run_dict(r) for r in runs]) if args.json else print_runs(runs)
    return 0


def cmd_outcomes(args) -> int:
    from aibtrigger.console import outcome_dict, print_json, print_outcomes

    found = _deps().store.list_outcomes(args.template, limit=args.limit)
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
    from aibtrigger.domain.records import template_of

    deps = _deps()
    run = deps.store.get_run(args.run_id)
    if run is None:
        print(f"aibtrigger: no run {args.run_id!r}", file=sys.stderr)
        return 1
    text = deps.logs.load(run.run_id) if run.is_terminal else deps.backend.read_log(template_of(run.run_id))
    if text is None:
        print(f"aibtrigger: no log for {args.run_id} yet", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def cmd_marketplace(args) -> int:
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.bootstrap import StorageClients
    from aibtrigger.config import load_settings
    from aibtrigger.console import print_json
    from aibtrigger.devhost.session import adopt_dev_settings

    adopt_dev_settings()
    market = LocalMarketplace(StorageClients(load_settings()).blobs())
    image = (args.location, args.publisher, args.offer, args.sku)
    if args.action == "publish":
        print(market.publish(*image, version=args.version))
    else:
        versions = market.list_versions(*image)
        print_json(versions) if args.json else print("\n".join(versions) or "no versions")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aibtrigger", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="run the functions locally on Azurite (no Core Tools needed)")
    dev.add_argument("--storage", help="connection string of a running Azurite (default: start one)")
    dev.add_argument("--data", default=".aibtrigger/azurite", help="where Azurite keeps its data")
    dev.add_argument("--in-memory", action="store_true", help="keep Azurite's data in memory only")
    dev.add_argument("--port", type=int, default=7071, help="HTTP port of the functions (default 7071)")
    dev.add_argument("--message-visibility", type=float, default=60.0, metavar="SECONDS",
                     help="how long a received queue message stays invisible, renewed while its invocation runs "
                          "(default 60); a message held by a killed host reappears after it")
    dev.set_defaults(run=cmd_dev)

    demo = sub.add_parser("demo", help="a whole local build, start to finish, then stop everything")
    demo.add_argument("--template", default="ubuntu-base")
    demo.set_defaults(run=cmd_demo)

    request = sub.add_parser("request", help="request a build of one template now")
    request.add_argument("template")
    request.add_argument("--reason", default="manual request")
    request.add_argument("--requested-by", default="cli")
    request.add_argument("--wait", action="store_true", help="follow the run to its end; exit 1 if it fails")
    request.add_argument("--timeout", type=float, default=4 * 3600, help="seconds to wait at most")
    request.add_argument("--force", action="store_true",
                         help="build even when its inputs did not change since the last successful build")
    request.set_defaults(run=cmd_request)

    cancel = sub.add_parser("cancel", help="cancel a template's active build")
    cancel.add_argument("template")
    cancel.set_defaults(run=cmd_cancel)

    for name, text in (("plan", "dry run: would each template build now, why, in which wave"),
                       ("sweep", "look for new marketplace versions now and act on them")):
        planning = sub.add_parser(name, help=text)
        planning.add_argument("--json", action="store_true")
        planning.set_defaults(run=cmd_plan, command=name)

    reconcile = sub.add_parser("reconcile", help="one reconciler pass now: unstick claims, start what is owed")
    reconcile.add_argument("--json", action="store_true")
    reconcile.set_defaults(run=cmd_reconcile)

    for name, func, text in (("runs", cmd_runs, "list recorded runs, newest first"),
                             ("outcomes", cmd_outcomes, "list what became of each request (incl. rejected)")):
        listing = sub.add_parser(name, help=text)
        listing.add_argument("--template")
        listing.add_argument("--limit", type=int, default=50)
        listing.add_argument("--json", action="store_true")
        listing.set_defaults(run=func)

    show = sub.add_parser("show", help="one run in detail, with the requests it served")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_show)

    logs = sub.add_parser("logs", help="a run's customization log")
    logs.add_argument("run_id")
    logs.set_defaults(run=cmd_logs)

    market = sub.add_parser("marketplace", help="the local marketplace: publish a 'patch', list versions")
    market.add_argument("action", choices=["publish", "list"])
    market.add_argument("--location", default="westeurope")
    market.add_argument("--publisher", default="Canonical")
    market.add_argument("--offer", default="0001-com-ubuntu-server-jammy")
    market.add_argument("--sku", default="22_04-lts-gen2")
    market.add_argument("--version", help="publish: the version (default: the next one)")
    market.add_argument("--json", action="store_true")
    market.set_defaults(run=cmd_marketplace)
    return parser


if __name__ == "__main__":
    sys.exit(main())
