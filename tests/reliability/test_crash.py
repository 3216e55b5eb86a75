"""Crash at every step (issue 5, item 3): a worker started with AIBTRIGGER_CRASH_AT=<step> takes a build
request and SIGKILLs itself at that step boundary (aibtrigger/service_layer/crashpoints.py); a worker
without the variable is then started on the same Azurite and workdir
-> for every step: the backend accepted exactly one Run for the request, there is exactly one run record,
it ends terminal (Succeeded) and published, with one distinct published result id, the request's outcome
is `started`, and the claim is released.

Workers run with `--message-visibility 3`, so the message the killed worker held comes back after 3 s
instead of the dev host's default 60 s. `after_publish` publishes the same event twice (same id), which the
at-least-once contract allows: consumers drop it by id.
"""

from __future__ import annotations

import pytest

from aibtrigger.service_layer.crashpoints import STEPS
from bench.reliability.scenarios import crash_cluster, crash_once, crash_template
from tests.reliability.conftest import assert_clean

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory):
    cluster = crash_cluster(tmp_path_factory.mktemp("crash"))
    yield cluster
    cluster.close()


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_the_step_neither_loses_the_build_nor_runs_it_twice(crash_stack, step):
    figures = crash_once(crash_stack, step, visibility=3.0)
    assert_clean(figures, builds=1)
    [run] = crash_stack.runs(crash_template(step))
    assert run.is_terminal and run.published and run.state.value == "Succeeded"
    published = [e for e in crash_stack.events(subject=crash_template(step)) if e["data"]["run_id"] == run.run_id]
    assert {e["id"] for e in published} == {f"{run.run_id}/finished"}
    # Only a crash between publishing and recording it may publish again (same id: at least once).
    assert len(published) == (2 if step == "after_publish" else 1)


def test_every_step_boundary_of_the_flow_is_covered():
    assert set(STEPS) >= {
        "after_claim",
        "after_run_accepted",
        "after_run_recorded",
        "during_poll",
        "after_terminal_recorded",
        "after_publish",
        "before_release",
    }
