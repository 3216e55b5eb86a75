"""One contract for the StateStore port, run against every implementation (memory, Azure Tables)."""

from datetime import UTC, datetime, timedelta

import pytest

from aibtrigger.adapters.state_store import InMemoryStateStore
from aibtrigger.domain.distribution import Recovery
from aibtrigger.domain.model import FailureExcerpt, RunState, RunSubState
from aibtrigger.domain.records import Claim, FollowUp, Outcome, OutcomeRecord, Request, RunRecord, TerminalRunError
from aibtrigger.errors import ConcurrencyError

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "tables"])
def store(request):
    if request.param == "memory":
        return InMemoryStateStore()
    from azure.data.tables import TableServiceClient

    from aibtrigger.adapters.tables_store import TableStateStore

    azurite = request.getfixturevalue("azurite")
    unique = request.getfixturevalue("unique")
    tables = TableStateStore(TableServiceClient.from_connection_string(azurite.connection_string), prefix=f"t{unique}")
    tables.create_tables()
    return tables


def claim(template="base", run_id="base.20261122T080000Z.aaaaaa", **changes):
    return Claim(
        template=template,
        run_id=run_id,
        request_id="r1",
        state="starting",
        claimed_at=T0,
        reasons=("manual",),
        request_ids=("r1",),
        requested_by=("alice",),
    ).evolve(**changes)


def test_claim_round_trip_and_exclusive_create(store):
    assert store.get_claim("base") is None
    created = store.create_claim(claim())
    assert created.etag
    with pytest.raises(ConcurrencyError):
        store.create_claim(claim(run_id="base.other"))
    read = store.get_claim("base")
    assert read == created


def test_replace_and_delete_are_conditional_on_the_etag(store):
    first = store.create_claim(claim())
    follow = FollowUp().add(Request("r2", "base", "second", "bob", manual=False, force=True))
    second = store.replace_claim(first.evolve(state="running", poll_token="tok", followup=follow))
    assert second.etag != first.etag
    assert store.get_claim("base").followup == follow
    with pytest.raises(ConcurrencyError):
        store.replace_claim(first.evolve(state="running"))  # stale ETag
    with pytest.raises(ConcurrencyError):
        store.delete_claim(first)
    store.delete_claim(second)
    assert store.get_claim("base") is None
    store.delete_claim(second)  # already gone: succeeds
    with pytest.raises(ConcurrencyError):
        store.replace_claim(second)  # gone


def test_runs_round_trip_and_list_newest_first(store):
    excerpt = FailureExcerpt("Script exited with non-zero exit status: 3", "shell #1", 3, ("boom",))
    older = RunRecord(
        "base.1",
        "base",
        ("r1",),
        ("manual",),
        ("alice",),
        T0,
        state=RunState.FAILED,
        started_at=T0,
        ended_at=T0 + timedelta(minutes=5),
        excerpt=excerpt,
        message="failed",
        log_location="aibtrigger-logs/base.1/customization.log",
        polls=3,
        published=True,
        source_version="22.04.1",
        inputs={"definition": "d1", "source": "platform/x", "version": "22.04.1"},
        recovery=Recovery(T0 + timedelta(minutes=4), ("/sub/x/versions/1.0.0",), retries=1, seen="replicating"),
        promotion={"state": "staged", "since": T0.isoformat(), "checks": {"1. webhook: x": {"passed": True}}},
    )
    newer = RunRecord(
        "base.2",
        "base",
        ("r2",),
        ("patch",),
        ("sweep",),
        T0 + timedelta(hours=1),
        state=RunState.RUNNING,
        sub_state=RunSubState.CUSTOMIZING,
        started_at=T0 + timedelta(hours=1),
    )
    other = RunRecord(
        "web.1",
        "web",
        ("r3",),
        ("x",),
        ("y",),
        T0 + timedelta(hours=2),
        artifact_ids=("/subscriptions/s/x/versions/1.0.0",),
    )
    saved = {run.run_id: store.save_run(run) for run in (older, newer, other)}
    assert store.get_run("base.1") == saved["base.1"] == older.evolve(etag=saved["base.1"].etag)
    assert store.get_run("web.1") == saved["web.1"]
    assert store.get_run("base.9") is None
    assert [r.run_id for r in store.list_runs("base")] == ["base.2", "base.1"]
    assert [r.run_id for r in store.list_runs()] == ["web.1", "base.2", "base.1"]
    store.save_run(saved["base.2"].evolve(state=RunState.SUCCEEDED, sub_state=None))
    assert store.get_run("base.2").state is RunState.SUCCEEDED


def test_run_records_are_written_conditionally(store):
    run = RunRecord("base.7", "base", ("r1",), ("manual",), ("alice",), T0, state=RunState.RUNNING, started_at=T0)
    first = store.save_run(run)
    with pytest.raises(ConcurrencyError):
        store.save_run(run)  # created twice
    ended = store.save_run(first.evolve(state=RunState.SUCCEEDED, ended_at=T0 + timedelta(minutes=9)))
    with pytest.raises(ConcurrencyError):  # a stale copy (read before the end) cannot write Running back
        store.save_run(first.evolve(polls=5))
    assert store.get_run("base.7").state is RunState.SUCCEEDED
    with pytest.raises(TerminalRunError):
        ended.evolve(state=RunState.RUNNING)


def test_non_ascii_text_is_stored_whole_up_to_the_property_limit(store):
    from aibtrigger.domain.limits import fit_excerpt

    lines = tuple("ошибка: не удалось 😀 " * 40 + str(i) for i in range(400))
    excerpt = fit_excerpt(FailureExcerpt("сбой", "shell #1", 1, lines))
    run = RunRecord(
        "base.8",
        "base",
        ("r1",),
        ("ü" * 900,),
        ("alice",),
        T0,
        state=RunState.FAILED,
        started_at=T0,
        ended_at=T0,
        excerpt=excerpt,
        message="é" * 4_000,
    )
    store.save_run(run)
    stored = store.get_run("base.8")
    assert stored.excerpt == excerpt and stored.excerpt.lines[-1].endswith("399")
    assert stored.excerpt.lines[0].startswith("[cut: ") and len(excerpt.lines) < 400
    assert stored.message == "é" * 4_000


def test_an_outcome_is_recorded_once(store):
    first = OutcomeRecord("r1", "base", Outcome.STARTED, ("manual",), T0, run_id="base.1", detail="Run invoked")
    assert store.add_outcome(first) == first
    again = OutcomeRecord("r1", "base", Outcome.COALESCED, ("manual",), T0 + timedelta(seconds=1))
    assert store.add_outcome(again) == first
    assert store.get_outcome("base", "r1") == first
    rejected = OutcomeRecord("m9", "", Outcome.REJECTED, (), T0, detail="not JSON", raw="{oops")
    store.add_outcome(rejected)
    assert store.get_outcome("", "m9") == rejected
    assert store.list_outcomes("base") == [first]
    assert store.list_outcomes("") == [rejected]  # messages that named no valid template
    assert {o.request_id for o in store.list_outcomes()} == {"r1", "m9"}


def test_summaries_and_observed_sources_round_trip(store):
    from aibtrigger.domain.records import TemplateSummary

    assert store.get_summary("base") == TemplateSummary("base")
    summary = TemplateSummary(
        "base",
        last_success_at=T0,
        last_success_source_version="22.04.202411050",
        last_success_upstream="platform/x@1",
        last_upstream="platform/x@2",
        consecutive_failures=2,
        disabled=True,
        last_schedule_tick=T0 + timedelta(days=1),
        last_success_inputs={"definition": "d1", "source": "platform/x", "version": "1"},
        last_failed_inputs={"definition": "d1", "source": "platform/x", "version": "2"},
        last_success_outputs=("/subscriptions/s/.../images/i/versions/1.0.1",),
    )
    store.put_summary(summary)
    assert store.get_summary("base") == summary
    assert store.list_summaries() == [summary]
    key = "gallery|/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/galleries/g/images/i"
    store.put_observed(key, "1.0.0")
    store.put_observed(key, "1.0.1")
    store.put_observed("platform|westeurope|canonical|offer|sku", "22.04.1")
    assert store.get_observed() == {key: "1.0.1", "platform|westeurope|canonical|offer|sku": "22.04.1"}
    store.put_observed(key, "1.0.2", at=T0)
    assert store.observed_at() == {key: T0} and store.get_observed()[key] == "1.0.2"


def test_claims_are_listed_with_their_cascade(store):
    store.create_claim(
        claim(
            upstream="platform/x@1", manual=True, followup=FollowUp(("r2",), ("why",), ("bob",), "platform/x@2", False)
        )
    )
    [listed] = store.list_claims()
    assert listed.upstream == "platform/x@1" and listed.manual and listed.followup.upstream == "platform/x@2"


def test_the_schedule_tick_is_written_alone(store):
    from aibtrigger.domain.records import TemplateSummary

    store.put_summary(TemplateSummary("base", consecutive_failures=3, disabled=True))
    store.set_schedule_tick("base", T0)
    summary = store.get_summary("base")
    assert summary.last_schedule_tick == T0 and summary.consecutive_failures == 3 and summary.disabled
