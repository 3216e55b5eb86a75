"""Timers: the marketplace sweep and the schedule check (NCRONTAB from app settings)."""
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
    from aibtrigger.service_layer.watchdog import recover_stalled

    deps = get_deps()
    tick(deps)
    recover_stalled(deps)  # the same minute-by-minute rhythm: no claim stays stuck
