"""The rebuild-decisions machine (tests/decisions_machine.py) with gated promotion (issue 14).

Some templates stage their versions (`mode: manual`); on top of the decisions machine's rules
(patches, events duplicated, reordered and lost, builds ending either way, lost requests and polls,
reconciliation), a person promotes, rejects or rolls back at any moment. Checked at every step:
- the gallery agrees with the records: a staged, rejected or rolled-back run's versions are excluded
  from `latest`, a promoted run's are not;
- `latest` of an image that had a promoted version never becomes empty.
And the decisions machine's own checks: no automatic build from unchanged inputs, none while a parent
builds, and at quiescence every template built from its current inputs, where `latest` resolves only
to promoted versions (so a child follows promotions and rollbacks, and never a staged version).
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from aibtrigger.domain.promotion import PROMOTED, STAGED
from aibtrigger.service_layer.promotions import PromotionError, promote, reject, rollback
from tests.decisions_machine import DecisionsMachine
from tests.lineage_world import gallery, marketplace, template

MANUAL = {"promotion": {"mode": "manual"}}


def gated_lineages() -> dict[str, list[dict]]:
    return {
        "diamond-gated": [
            template("base", marketplace("jammy"), **MANUAL),
            template("web", gallery("base"), ("apps",)),
            template("api", gallery("base"), ("apps",)),
            template("app", gallery("apps")),
        ],
        "chain-gated": [
            template("t0", marketplace("jammy")),
            template("t1", gallery("t0"), **MANUAL),
            template("t2", gallery("t1")),
            template("side", marketplace("noble"), **MANUAL),
        ],
    }


class PromotionMachine(DecisionsMachine):
    lineages = staticmethod(gated_lineages)

    def __init__(self):
        super().__init__()
        self.ever_latest: set[str] = set()  # images `latest` resolved for at least once

    @initialize(pick=st.integers(0, 9), scheduled=st.sets(st.integers(0, 5), max_size=2))
    def build_the_lineage(self, pick, scheduled):
        """Every template built once, gated ones promoted, so every child had its first build: the
        reconciler does not make first builds by itself (a lost first request is a person's to repeat)."""
        super().build_the_lineage(pick, scheduled)
        while staged := self._runs(STAGED):
            for run in staged:
                promote(run.run_id, self.world.deps, by="setup", why="the first version")
            self._quiesce(requests_by_hand=True)
        self.world.started.clear()

    def _runs(self, state: str | None = None):
        return [
            r
            for r in self.world.deps.store.runs.values()
            if r.promotion is not None and (state is None or r.promotion["state"] == state)
        ]

    @precondition(lambda self: self.world is not None and self._runs(STAGED))
    @rule(pick=st.integers(0, 9), approve=st.booleans())
    def a_person_decides_on_a_staged_run(self, pick, approve):
        staged = sorted(self._runs(STAGED), key=lambda r: r.run_id)
        run = staged[pick % len(staged)]
        (promote if approve else reject)(run.run_id, self.world.deps, by="person", why="decided")

    @precondition(lambda self: self.world is not None and self._runs())
    @rule(pick=st.integers(0, 9))
    def a_person_promotes_again_or_a_rejected_one(self, pick):
        """Repeats and refusals: a promoted run again (a no-op), a rejected one (refused, nothing changes)."""
        runs = sorted(self._runs(), key=lambda r: r.run_id)
        try:
            promote(runs[pick % len(runs)].run_id, self.world.deps, by="person", why="again")
        except PromotionError:
            pass

    @rule(name=st.sampled_from(["base", "t1", "side", "t0"]))
    def a_person_rolls_back(self, name):
        if name in self.world.catalog.by_name:
            try:
                rollback(name, self.world.deps, by="person", why="bad image")
            except PromotionError:
                pass  # nothing to fall back to: refused, nothing changed

    @invariant()
    def the_gallery_agrees_with_the_records(self):
        if self.world is None:
            return
        for run in self._runs():
            for version_id in (a for a in run.artifact_ids if "/versions/" in a):
                excluded = self.world.sources.gallery[version_id.lower()]["excludeFromLatest"]
                if excluded == (run.promotion["state"] == PROMOTED):
                    self.violations.append(
                        f"step {self.world.step}: {run.run_id} is {run.promotion['state']} but "
                        f"{version_id} has excludeFromLatest={excluded}"
                    )

    @invariant()
    def latest_is_never_emptied(self):
        if self.world is None:
            return
        for image in {o for f in self._facts().values() for o in f.outputs}:
            if self.world.latest(image):
                self.ever_latest.add(image)
            elif image in self.ever_latest:
                self.violations.append(f"step {self.world.step}: `latest` of {image} became empty")

    def _facts(self):
        from aibtrigger.domain.planner_index import index_for

        return index_for(self.world.catalog).facts
