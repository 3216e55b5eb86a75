"""Promotion interleavings (issue 14): 150 examples here; `bench/decisions_property.py --promotion` runs 10,000."""

from hypothesis import HealthCheck, settings

from tests.promotion_machine import PromotionMachine

PromotionMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestPromotionInterleavings = PromotionMachine.TestCase
