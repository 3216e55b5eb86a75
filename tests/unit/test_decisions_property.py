"""The stateful property test of rebuild decisions (tests/decisions_machine.py): a few hundred random
interleavings in CI; bench/decisions_property.py runs 10,000."""

from hypothesis import HealthCheck, settings

from tests.decisions_machine import DecisionsMachine

DecisionsMachine.TestCase.settings = settings(
    max_examples=int(__import__("os").environ.get("DECISIONS_EXAMPLES", 300)),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRebuildDecisions = DecisionsMachine.TestCase
