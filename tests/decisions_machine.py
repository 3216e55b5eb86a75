"""A stateful property test of the rebuild decisions (issue 11), shared by the CI test and bench/.

Hypothesis drives random interleavings of marketplace patches, gallery events (duplicated,
reordered, late, lost), builds that succeed or fail, lost requests and polls, pauses, schedule
ticks, catalog source switches and reconciliation passes, on random lineages (diamonds, chains of
depth 4, self-sourced templates), through the real service layer on the in-memory fakes
(tests/lineage_world.py). A small reference model is the world itself: what each template's
inputs are now (its definition, its source key and the version `latest` resolves to).

Checked at every build start (automatic builds; a person may ask for anything):
- no template is built from the inputs it was last built from, or last failed with;
- no template starts while a parent of it is building.
Checked at quiescence (every edge delivered, every build finished successfully, reconciled):
- every template neither paused nor disabled, nor holding a failed input, has a successful build
  whose fingerprint matches its current inputs.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from aibtrigger.catalog import parse_catalog
from aibtrigger.domain.fingerprint import fingerprint
from aibtrigger.domain.model import RunState
from aibtrigger.domain.planner_index import index_for
from tests.lineage_world import World, gallery, marketplace, template

SKUS = ("jammy", "noble")
DAILY = "0 0 3 * * *"


def lineages() -> dict[str, list[dict]]:
    return {
        "diamond": [
            template("base", marketplace("jammy")),
            template("web", gallery("base"), ("apps",)),
            template("api", gallery("base"), ("apps",)),
            template("app", gallery("apps")),
        ],
        "chain4": [
            template("t0", marketplace("jammy")),
            template("t1", gallery("t0")),
            template("t2", gallery("t1")),
            template("t3", gallery("t2")),
        ],
        "self-sourced": [
            template("golden", gallery("golden")),
            template("web", gallery("golden")),
            template("other", marketplace("noble")),
        ],
        "diamond-deep": [
            template("base", marketplace("jammy")),
            template("web", gallery("base"), ("apps",)),
            template("api", gallery("base"), ("apps",)),
            template("app", gallery("apps")),
            template("top", gallery("app")),
            template("side", marketplace("noble")),
        ],
    }


class DecisionsMachine(RuleBasedStateMachine):
    """See the module docstring. `violations` collects what broke, with the step it broke at."""

    def __init__(self):
        super().__init__()
        self.world: World | None = None
        self.versions = {sku: 1 for sku in SKUS}
        self.paused: set[str] = set()
        self.violations: list[str] = []

    lineages = staticmethod(lineages)  # a subclass tries its own

    @initialize(pick=st.integers(0, 9), scheduled=st.sets(st.integers(0, 5), max_size=2))
    def build_the_lineage(self, pick, scheduled):
        shapes = self.lineages()
        shape = sorted(shapes)[pick % len(shapes)]
        entries = shapes[shape]
        for i in scheduled:
            if i < len(entries):  # only-if-changed schedules: a plain one rebuilds the same inputs on purpose
                entries[i]["policy"] = {"schedule": DAILY, "only_if_changed": True}
        self.world = World(entries)
        self.world.backend.on_start = self._check_start
        for sku in SKUS:
            self.world.patch(sku, f"1.0.{self.versions[sku]}")
        if shape == "self-sourced":
            self.world.publish_by_hand("golden")
        self.world.sweep()
        self._quiesce(requests_by_hand=True)
        self.world.started.clear()

    # --- the outside world ------------------------------------------------------------------------------
    @rule(sku=st.sampled_from(SKUS))
    def marketplace_patch(self, sku):
        self.versions[sku] += 1
        self.world.patch(sku, f"1.0.{self.versions[sku]}")

    @rule(succeeded=st.booleans(), pick=st.integers(0, 9))
    def a_build_ends(self, succeeded, pick):
        building = self.world.building()
        if building:
            self.world.finish(building[pick % len(building)], RunState.SUCCEEDED if succeeded else RunState.FAILED)

    @precondition(lambda self: self.world is not None and self.world.events)
    @rule(pick=st.integers(0, 9), keep=st.booleans())
    def a_gallery_event_arrives(self, pick, keep):
        version_id = self.world.events[pick % len(self.world.events)]  # any order: reordered, late
        self.world.deliver(version_id)
        if keep and version_id not in self.world.events:
            self.world.events.append(version_id)  # delivered again later: a duplicate

    @precondition(lambda self: self.world is not None and self._ours(self.world.events))
    @rule(pick=st.integers(0, 9))
    def a_gallery_event_is_lost(self, pick):
        """Only events of versions the service made: one made by hand is known by its event alone (the
        service does not poll galleries; README "Status and limits")."""
        ours = self._ours(self.world.events)
        self.world.events.remove(ours[pick % len(ours)])

    def _ours(self, version_ids):
        return [v for v in version_ids if (self.world.sources.get_version(v) or {}).get("tags")]

    @precondition(lambda self: self.world is not None and "golden" in self.world.catalog.by_name)
    @rule()
    def someone_publishes_golden_by_hand(self):
        self.world.publish_by_hand("golden")

    @rule(name=st.sampled_from(["base", "api", "t1", "golden", "web", "app"]))
    def a_template_is_paused_or_resumed(self, name):
        if name in self.world.catalog.by_name:
            self.paused ^= {name}
            self._set_catalog(lambda entry: entry["policy"].__setitem__("paused", entry["name"] in self.paused))

    @rule(name=st.sampled_from(["base", "t0", "side", "other"]))
    def a_catalog_source_switch(self, name):
        def switch(entry):
            source = entry["definition"]["source"]
            if entry["name"] == name and source["type"] == "PlatformImage":
                source["sku"] = SKUS[1 - SKUS.index(source["sku"])]

        if name in self.world.catalog.by_name:
            self._set_catalog(switch)

    # --- the service ------------------------------------------------------------------------------------
    @rule()
    def the_sweep_runs(self):
        self.world.sweep()

    @rule(lost=st.booleans())
    def requests_are_delivered(self, lost):
        if lost:
            self.world.deps.queue.sent = [m for m in self.world.deps.queue.sent if m.queue != "aib-requests"]
        else:
            self.world.requests()

    @rule(lost=st.booleans())
    def polls_are_delivered(self, lost):
        if lost:
            self.world.deps.queue.sent = [m for m in self.world.deps.queue.sent if m.queue != "aib-polls"]
        else:
            self.world.polls()

    @rule()
    def the_reconciler_runs(self):
        self.world.reconcile()

    @rule()
    def a_day_passes_and_schedules_tick(self):
        self.world.clock.advance(days=1)
        self.world.tick()

    @invariant()
    def nothing_broke(self):
        assert not self.violations, self.violations

    def teardown(self):
        if self.world is None:
            return
        self._quiesce()
        assert not self.violations, self.violations
        for name in self.world.catalog.by_name:
            if self._exempt(name):
                continue
            wanted = self.world.current_fingerprint(name)
            if self._own_latest(name):
                continue
            assert wanted is None or wanted in self.world.success_fingerprints(name), (
                f"{name} has no successful build from its current inputs {wanted} "
                f"(source now {self.world.source_now(name)}); runs: "
                f"{[(r.state, r.inputs) for r in self.world.deps.store.list_runs(name)]}"
            )

    # --- helpers ----------------------------------------------------------------------------------------
    def _own_latest(self, name: str) -> bool:
        """A self-sourced template whose image's latest version its own last successful build made."""
        f = index_for(self.world.catalog).facts[name]
        latest = self.world.latest(f.gallery_image) if f.gallery_image in f.outputs else None
        tags = (self.world.sources.get_version(latest) or {}).get("tags", {}) if latest else {}
        return tags.get("aibtrigger.template") == name and tags.get(
            "aibtrigger.fingerprint"
        ) in self.world.success_fingerprints(name)

    def _exempt(self, name: str) -> bool:
        """Paused or disabled, or its current inputs failed (never retried by itself): not owed a build."""
        summary = self.world.deps.store.get_summary(name)
        failed = (
            summary.last_failed_inputs
            and fingerprint(summary.last_failed_inputs) == self.world.current_fingerprint(name)
            and summary.consecutive_failures
        )
        return name in self.paused or summary.disabled or bool(failed)

    def _check_start(self, name: str, automatic: bool) -> None:
        if not automatic:
            return
        world, summary = self.world, self.world.deps.store.get_summary(name)
        now = world.current_fingerprint(name)
        if summary.last_success_inputs and fingerprint(summary.last_success_inputs) == now:
            self.violations.append(f"step {world.step}: {name} built again from the inputs of its last success")
        if (
            summary.consecutive_failures
            and summary.last_failed_inputs
            and fingerprint(summary.last_failed_inputs) == now
        ):
            self.violations.append(f"step {world.step}: {name} retried by itself the inputs that failed")
        parents = index_for(world.catalog).cascade_parents(name) - {name}
        # Running: a build that times out is canceled, and a cancel that never ends makes nothing new.
        busy = sorted(p for p in parents if world.backend.get_status(p).run_state is RunState.RUNNING)
        if busy:
            self.violations.append(f"step {world.step}: {name} started while its parent(s) {busy} build")

    def _set_catalog(self, change) -> None:
        raw = self.world.catalog.model_dump(mode="json", by_alias=True, exclude_none=True)
        for entry in raw["templates"]:
            entry.setdefault("policy", {})
            change(entry)
        self.world.catalog = self.world.deps.catalog = parse_catalog(raw)

    def _quiesce(self, *, requests_by_hand: bool = False) -> None:
        """Deliver everything, finish every build successfully, reconcile; until nothing moves."""
        world = self.world

        def snapshot():
            runs = world.deps.store.runs.values()
            return (
                len(world.started),
                len(world.deps.queue.sent),
                len(world.events),
                sum(1 for r in runs if r.is_terminal),
            )

        stable = 0
        for _ in range(40):
            before = snapshot()
            world.sweep()  # its timer runs every few minutes
            world.clock.advance(days=1)  # only-if-changed templates build at their next tick
            world.tick()
            world.deliver_all_events()
            world.requests()
            for name in world.building():
                world.finish(name)
            world.polls()
            world.requests()
            world.reconcile()
            world.requests()
            if requests_by_hand:
                for name in world.catalog.by_name:
                    if (
                        not world.deps.store.list_runs(name)
                        and world.source_now(name)
                        and not world.deps.store.get_claim(name)
                        and not world.building()
                    ):
                        world.request(name)
            idle = not world.building() and not world.deps.store.list_claims()
            stable = stable + 1 if idle and before == snapshot() else 0
            if stable == 2:  # a pass that took a run over acts on what it found at the next one
                return
        raise AssertionError("the world did not settle in 40 rounds: " + ", ".join(world.building()))
