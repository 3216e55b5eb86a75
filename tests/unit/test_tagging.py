"""A successful run's untagged gallery versions get its provenance (the aib backend tags nothing
itself); a gallery that refuses is noted on the run, which is recorded and published all the same."""

from __future__ import annotations

from aibtrigger.domain.model import RunOutput, RunState
from aibtrigger.domain.provenance import TAGS, provenance_of
from aibtrigger.errors import BackendError
from tests.fakes import Outage
from tests.unit.test_flow import POLLS_QUEUE, drain, request

IMAGE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/base"
MANAGED = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/base-managed"


def _build(deps, clock, outputs):
    request(deps)
    drain(deps, clock, POLLS_QUEUE)
    deps.backend.finish("base", RunState.SUCCEEDED, outputs=[RunOutput(f"o{i}", a) for i, a in enumerate(outputs)])
    assert drain(deps, clock, POLLS_QUEUE) == ["finished"]
    [run] = deps.store.list_runs("base")
    return run


def test_the_untagged_versions_a_run_made_get_its_provenance_and_nothing_else_is_touched(deps, clock):
    made, elsewhere = f"{IMAGE}/versions/1.0.1", f"{IMAGE}/imageversions/1.0.2"
    deps.gallery.add(made, tags={"by": "aib"})
    deps.gallery.add(elsewhere.replace("/imageversions/", "/versions/"))
    already = deps.gallery.add(f"{IMAGE}/versions/1.0.3", tags={TAGS["run_id"]: "base.old", TAGS["template"]: "base"})
    missing = f"{IMAGE}/versions/9.9.9"
    run = _build(deps, clock, [made, MANAGED, already["id"], missing])

    tagged = provenance_of(deps.gallery.get_version(made))
    assert tagged is not None and tagged["run_id"] == run.run_id and tagged["template"] == "base"
    assert tagged["fingerprint"] == (run.fingerprint or "")
    assert deps.gallery.get_version(made)["tags"]["by"] == "aib"  # merged, not replaced
    assert [version_id for version_id, _ in deps.gallery.updates] == [made]  # the tagged one left alone
    assert run.state is RunState.SUCCEEDED and run.notes == ()


def test_a_gallery_refusing_for_ever_is_noted_and_the_run_is_recorded_and_published(deps, clock):
    made = f"{IMAGE}/versions/1.0.1"
    deps.gallery.add(made)
    refusing = Outage(
        deps.gallery, BackendError(f"update gallery image version {made}: HTTP 403 AuthorizationFailed: no")
    )
    refusing.down = True
    deps.gallery = refusing
    run = _build(deps, clock, [made])
    assert run.state is RunState.SUCCEEDED and run.published
    [note] = run.notes
    assert note.startswith(f"provenance tags not written on {made}: BackendError") and "AuthorizationFailed" in note
    assert refusing.failures == 1
    [event] = deps.publisher.events
    assert event["data"]["artifact_ids"] == [made]


def test_a_failed_run_tags_nothing(deps, clock):
    made = f"{IMAGE}/versions/1.0.1"
    deps.gallery.add(made)
    request(deps)
    drain(deps, clock, POLLS_QUEUE)
    deps.backend.finish("base", RunState.FAILED, outputs=[RunOutput("o", made)])
    drain(deps, clock, POLLS_QUEUE)
    assert deps.gallery.updates == [] and provenance_of(deps.gallery.get_version(made)) is None
