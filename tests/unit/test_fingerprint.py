"""Input fingerprints (issue 11): what counts as an input, what a skip says, how failures count."""

import pytest

from aibtrigger.catalog import TemplateDefinition, parse_catalog
from aibtrigger.domain.fingerprint import build_inputs, changed, definition_digest, fingerprint, unchanged
from aibtrigger.domain.model import RunState
from aibtrigger.domain.planner_types import source_key
from aibtrigger.service_layer.planning import dry_run
from tests.lineage_world import World, gallery, marketplace, template
from tests.unit.test_lineage_sequences import NEW, OLD, built_diamond, quiesce

SCRIPT = {"type": "Shell", "name": "harden", "scriptUri": "https://example.org/harden.sh"}


def definition(*steps, **more):
    return TemplateDefinition.model_validate(
        {
            "source": marketplace("jammy"),
            "customize": list(steps),
            "distribute": [
                {
                    "type": "SharedImage",
                    "runOutputName": "o",
                    "galleryImageId": "/subscriptions/s/resourceGroups/rg/providers/"
                    "Microsoft.Compute/galleries/g/images/o",
                }
            ],
            **more,
        }
    )


@pytest.mark.parametrize(
    "one, other, same",
    [
        (definition(SCRIPT), definition({**SCRIPT, "sha256Checksum": "ab" * 32}), False),  # the checksum counts
        (
            definition({**SCRIPT, "sha256Checksum": "ab" * 32}),
            definition({**SCRIPT, "sha256Checksum": "cd" * 32}),
            False,
        ),
        (
            definition(SCRIPT),
            definition(SCRIPT, buildTimeoutInMinutes=90),
            True,
        ),  # the timeout does not shape the image
        (
            definition(SCRIPT),
            definition(SCRIPT, validate={"inVMValidations": [{"type": "Shell", "name": "check", "inline": ["true"]}]}),
            False,
        ),
    ],
)
def test_what_in_a_definition_is_an_input(one, other, same):
    assert (definition_digest(one) == definition_digest(other)) is same


def test_the_fingerprint_covers_source_key_and_exact_version():
    base = build_inputs("d1", ("platform", "westeurope", "canonical", "ubuntu", "jammy"), "22.04.1")
    other_source = build_inputs("d1", ("gallery", "/x/images/golden"), "22.04.1")
    assert len({fingerprint(base), fingerprint(other_source), fingerprint({**base, "version": "22.04.2"})}) == 3
    assert unchanged(base, {**base, "version": "22.04.2"}) == [
        "definition d1",
        "source platform/westeurope/canonical/ubuntu/jammy",
    ]
    assert changed(base, other_source) == [
        "source platform/westeurope/canonical/ubuntu/jammy -> gallery//x/images/golden"
    ]


def test_a_skip_names_the_inputs_that_did_not_change():
    world = built_diamond()
    world.sweep()
    [base] = [d for d in dry_run(world.deps) if d.template == "base"]
    assert base.action == "skip" and "unchanged: definition " in base.reasons[0]
    assert f"source platform/westeurope/canonical/ubuntu/jammy@{OLD}" in base.reasons[0]


def test_the_same_failing_input_is_never_retried_by_itself():
    world = built_diamond()
    world.patch("jammy", NEW)
    world.sweep()
    world.requests()
    world.settle("base", RunState.FAILED)
    for _ in range(5):
        world.sweep()
        world.reconcile()
        world.requests()
    assert len(world.builds("base")) == 1 and world.building() == []


def test_a_new_input_re_arms_a_disabled_template_and_says_so():
    world = World([template("base", marketplace("jammy"), max_consecutive_failures=1)])
    world.patch("jammy", OLD)
    world.request("base")
    world.settle("base", RunState.FAILED)
    assert world.deps.store.get_summary("base").disabled
    world.patch("jammy", NEW)
    world.sweep()
    world.requests()
    assert world.building() == ["base"]
    [rearmed] = [e for e in world.deps.publisher.events if e["type"] == "aibtrigger.template.rearmed"]
    assert "re-armed" in rearmed["data"]["reasons"][-1] and f"version {OLD} -> {NEW}" in rearmed["data"]["reasons"][-1]
    world.settle("base")
    assert not world.deps.store.get_summary("base").disabled  # the new input built: the template is armed again


def test_a_manual_request_for_unchanged_inputs_skips_and_force_builds_anyway():
    world = built_diamond()
    world.sweep()  # the service has seen 22.04.1, the version base was built from
    assert world.request("base") == "skipped"
    [skip] = [
        o for o in world.deps.store.list_outcomes("base") if o.outcome.value == "skipped" and o.reasons == ("test",)
    ]
    assert "--force" in skip.detail and f"jammy@{OLD}" in skip.detail
    assert world.request("base", force=True) == "started"


def test_a_manual_request_builds_when_the_service_has_not_observed_its_source():
    world = built_diamond()  # never swept: the marketplace may have moved on since base was built
    world.patch("jammy", NEW)
    assert world.request("base") == "started"


def test_a_definition_change_rebuilds_the_template_once_and_its_children_after_it():
    world = built_diamond()
    raw = world.catalog.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["templates"][1]["definition"]["customize"] = [{"type": "Shell", "name": "setup", "inline": ["echo v2"]}]
    world.catalog = world.deps.catalog = parse_catalog(raw)
    quiesce(world)
    assert [s.template for s in world.started] == ["web", "app"]


@pytest.mark.parametrize("new_source", [gallery("golden"), marketplace("rhel9")], ids=["golden-image", "rhel"])
def test_switching_a_templates_source_in_the_catalog_rebuilds_it(new_source):
    """It used to compare the old source's last-used version with the new source's: "up to date"."""
    world = World([template("golden", marketplace("noble")), template("base", marketplace("jammy"))])
    world.patch("jammy", "22.04.9")
    world.patch("noble", "1.0.0")
    world.patch("rhel9", "9.0.1")
    for name in ("golden", "base"):
        world.request(name)
        world.settle(name)
    world.deliver_all_events()
    world.started.clear()
    raw = world.catalog.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["templates"][1]["definition"]["source"] = new_source
    world.catalog = world.deps.catalog = parse_catalog(raw)
    world.sweep()
    quiesce(world)
    assert [s.template for s in world.started] == ["base"]
    [run] = [r for r in world.deps.store.list_runs("base") if r.state is RunState.SUCCEEDED][:1]
    assert run.inputs["source"] == "/".join(source_key(world.catalog.get("base")))
