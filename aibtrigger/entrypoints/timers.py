"""Timers: the marketplace sweep, the schedule check, the reconciler, the poison-queue watcher and
retention (prune)."""

import azure.functions as func

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%AIBTRIGGER_SWEEP_SCHEDULE%")
def sweep_sources(timer: func.TimerRequest) -> None:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.planning import sweep_sources as sweep

    sweep(get_deps())


@bp.timer_trigger(arg_name="timer", schedule="%AIBTRIGGER_TICK_SCHEDULE%")
def tick_schedules(timer: func.TimerRequest) -> None:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.planning import tick_schedules as tick

    tick(get_deps())


# Each its own function: one failing never keeps the others from running.
@bp.timer_trigger(arg_name="timer", schedule="%AIBTRIGGER_TICK_SCHEDULE%")
def reconcile(timer: func.TimerRequest) -> None:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.reconciler import reconcile as reconcile_all

    reconcile_all(get_deps())


@bp.timer_trigger(arg_name="timer", schedule="%AIBTRIGGER_TICK_SCHEDULE%")
def watch_poison_queues(timer: func.TimerRequest) -> None:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.poisoned import drain_poison_queues

    drain_poison_queues(get_deps())


@bp.timer_trigger(arg_name="timer", schedule="%AIBTRIGGER_PRUNE_SCHEDULE%")
def prune_versions(timer: func.TimerRequest) -> None:
    """Daily: retention, only for the templates whose policy sets it (the others are never touched)."""
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.service_layer.retention import prune

    prune(get_deps())
