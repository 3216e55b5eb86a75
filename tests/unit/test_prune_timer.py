"""The prune_versions timer: daily by default, found and scheduled by the dev host as by Azure, applying
retention only where a template's policy sets it."""

from datetime import UTC, datetime

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from aibtrigger.config import load_settings, setting_names
from aibtrigger.entrypoints import timers
from aibtrigger.errors import ConfigError
from tests.unit.test_retention_service import GALLERY, gallery, publish  # noqa: F401 (a fixture)


def test_the_dev_host_runs_the_prune_timer_daily_with_its_default_setting():
    from aibtrigger.devhost.index import index_app
    from aibtrigger.devhost.session import _defaults
    from aibtrigger.devhost.timers import schedule

    app = func.FunctionApp()  # function_app's own app refuses a second indexing in one process
    app.register_functions(timers.bp)
    specs, skipped = index_app(app, environ=_defaults(7071, (1, 5)))
    assert skipped == {}
    prune = next(spec for spec in specs if spec.name == "prune_versions")
    after = schedule(prune.trigger["schedule"])
    first = after(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert first == datetime(2026, 12, 2, 3, 30, tzinfo=UTC) and after(first) == datetime(
        2026, 12, 3, 3, 30, tzinfo=UTC
    )


def test_the_prune_schedule_setting_is_checked_like_the_other_schedules(monkeypatch):
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIBTRIGGER_CATALOG_PATH", "catalog.yaml")
    monkeypatch.setenv("AIBTRIGGER_STORAGE_CONNECTION", "UseDevelopmentStorage=true")
    monkeypatch.setenv("AIBTRIGGER_PRUNE_SCHEDULE", "30 3 * * *")
    with pytest.raises(ConfigError, match="AIBTRIGGER_PRUNE_SCHEDULE: .*6 fields"):
        load_settings()
    monkeypatch.delenv("AIBTRIGGER_PRUNE_SCHEDULE")
    assert load_settings().prune_schedule == "0 30 3 * * *"


def test_the_timer_prunes_only_templates_whose_policy_sets_retention(deps, gallery, clock, monkeypatch):
    for template in ("web", "idle"):
        for n in range(4):
            publish(gallery, clock, template, template, f"1.0.{n}", days_old=30 - n)
    monkeypatch.setattr("aibtrigger.bootstrap.get_deps", lambda: deps)
    timers.prune_versions._function.get_user_function()(TimerRequest(past_due=False, schedule_status={}, schedule={}))
    assert [v["name"] for v in gallery.list_versions(GALLERY + "web")] == ["1.0.2", "1.0.3"]
    assert len(gallery.list_versions(GALLERY + "idle")) == 4
