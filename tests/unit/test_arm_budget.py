"""The client-side copy of ARM's throttling buckets (aibtrigger.adapters.aib.clients.ArmBudget).

A fake clock that moves only when the code sleeps: every wait is visible in `clock.sleeps`, and no
assertion depends on how fast this machine is.
"""

from __future__ import annotations

import pytest
from azure.core.pipeline import Pipeline
from azure.core.pipeline.policies import RetryPolicy
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest

from aibtrigger.adapters.aib.clients import (
    ArmBudget,
    ArmBudgetPolicy,
    ArmClients,
    RunSafeRetryPolicy,
    TokenBucket,
    classify,
)

ARM = "https://management.azure.com"
SUB = "00000000-0000-4000-8000-00000000a1b0"
TEMPLATE = f"{ARM}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.VirtualMachineImages/imageTemplates/base"


class SleptClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock():
    return SleptClock()


@pytest.fixture
def budget(clock):
    return ArmBudget(clock=clock, sleep=clock.sleep)


def take(budget: ArmBudget, bucket: TokenBucket, times: int = 1) -> None:
    for _ in range(times):
        bucket.answered(budget.acquire(bucket))


def test_requests_are_classified_by_subscription_and_kind():
    assert classify("GET", TEMPLATE + "?api-version=2025-10-01") == (ARM, SUB, "reads")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert classify(method, TEMPLATE + "/run") == (ARM, SUB, "writes")
    assert classify("GET", f"{ARM}/providers/Microsoft.Compute/operations") == (ARM, "", "reads")
    # The subscription in a query string (a nextLink's skiptoken, say) is not the request's.
    assert classify("GET", f"{ARM}/tenants?x=/subscriptions/other") == (ARM, "", "reads")


def test_a_burst_of_250_reads_goes_at_once_then_25_per_second(budget, clock):
    reads = budget.bucket(ARM, SUB, "reads")
    take(budget, reads, 250)
    assert clock.sleeps == []
    take(budget, reads, 50)
    assert len(clock.sleeps) == 50 and set(clock.sleeps) == {0.04}  # one token every 1/25 s
    assert budget.waited == pytest.approx(2.0)


def test_writes_have_their_own_bucket_of_200_refilling_10_per_second(budget, clock):
    take(budget, budget.bucket(ARM, SUB, "reads"), 250)
    writes = budget.bucket(ARM, SUB, "writes")
    take(budget, writes, 200)
    assert clock.sleeps == []
    take(budget, writes, 1)
    assert clock.sleeps == [0.1]


def test_subscriptions_and_endpoints_do_not_share_buckets(budget, clock):
    take(budget, budget.bucket(ARM, SUB, "reads"), 250)
    take(budget, budget.bucket(ARM, "another", "reads"), 250)
    take(budget, budget.bucket("https://management.usgovcloudapi.net", SUB, "reads"), 250)
    assert clock.sleeps == []
    assert budget.bucket(ARM, SUB.upper(), "reads") is budget.bucket(ARM, SUB, "reads")


def test_an_idle_bucket_refills_up_to_its_capacity_only(budget, clock):
    reads = budget.bucket(ARM, SUB, "reads")
    take(budget, reads, 250)
    clock.now += 3600  # an hour idle: full again, not 90,000 tokens
    take(budget, reads, 250)
    assert clock.sleeps == []
    take(budget, reads, 1)
    assert clock.sleeps == [0.04]


def test_arms_remaining_header_lowers_the_count(budget, clock):
    """Another process spent most of the budget: ARM says 2 are left, so the third request waits."""
    reads = budget.bucket(ARM, SUB, "reads")
    reads.answered(budget.acquire(reads), remaining=2)
    take(budget, reads, 2)
    assert clock.sleeps == []
    take(budget, reads, 1)
    assert clock.sleeps == [0.04]


def test_requests_taken_after_the_answered_one_are_kept_off_arms_count(budget, clock):
    reads = budget.bucket(ARM, SUB, "reads")
    first, second, third = (budget.acquire(reads) for _ in range(3))  # none answered yet
    reads.answered(second, remaining=5)  # ARM counted the first two; the third may not have reached it
    assert reads.tokens == 4.0
    reads.answered(first, remaining=0)  # a slow answer to an older request: staler than what we know
    assert reads.tokens == 4.0 and reads.in_flight == 1


def test_a_higher_remaining_never_raises_the_count(budget, clock):
    reads = budget.bucket(ARM, SUB, "reads")
    take(budget, reads, 250)
    reads.answered(budget.acquire(reads), remaining=249)  # a stale or generous header: ours stands
    take(budget, reads, 1)
    assert clock.sleeps == [0.04, 0.04]


def test_a_429_holds_every_request_of_the_bucket_until_retry_after(budget, clock):
    reads, writes = budget.bucket(ARM, SUB, "reads"), budget.bucket(ARM, SUB, "writes")
    reads.answered(budget.acquire(reads), retry_after=5)
    take(budget, reads, 1)
    assert clock.sleeps == [5.0]  # the hold; the refill during it pays for the token
    take(budget, writes, 1)  # the write bucket was not throttled
    assert clock.sleeps == [5.0]


# --- as a pipeline policy ----------------------------------------------------------------------------------
class FakeTransport(HttpTransport):
    """Answers from a script of (status, headers); records every request that reached it."""

    def __init__(self, script: list[tuple[int, dict]]) -> None:
        self.script, self.sent = list(script), []

    def send(self, request, **kwargs):

        self.sent.append((request.method, request.url))
        status, headers = self.script.pop(0) if self.script else (200, {})
        return _Response(request, status, headers)

    def open(self):
        pass

    def close(self):
        pass

    def __exit__(self, *args):
        pass

    def sleep(self, duration):  # RetryPolicy's Retry-After wait: no real time passes in these tests
        pass


class _Response:
    def __init__(self, request, status: int, headers: dict) -> None:
        from azure.core.utils import CaseInsensitiveDict

        self.request, self.status_code, self.headers = request, status, CaseInsensitiveDict(headers)
        self.reason, self.content_type = "", "application/json"

    def body(self):
        return b"{}"

    def text(self, encoding=None):
        return "{}"


def pipeline(budget: ArmBudget, transport: FakeTransport) -> Pipeline:
    return Pipeline(transport, policies=[RetryPolicy(retry_total=3, retry_backoff_factor=0), ArmBudgetPolicy(budget)])


def test_the_policy_takes_a_token_per_attempt_and_reads_the_headers(budget, clock):
    header = "x-ms-ratelimit-remaining-subscription-reads"
    transport = FakeTransport([(429, {"Retry-After": "2", header: "0"}), (200, {header: "0"})])
    response = pipeline(budget, transport).run(HttpRequest("GET", TEMPLATE))
    assert response.http_response.status_code == 200 and len(transport.sent) == 2
    assert clock.sleeps == [2.0]  # the retry waited for the hold (its own Retry-After sleep is the transport's)
    pipeline(budget, transport).run(HttpRequest("GET", TEMPLATE))  # ARM said 0 left: wait for one token
    assert clock.sleeps == [2.0, 0.04]
    assert budget.bucket(ARM, SUB, "reads").in_flight == 0


def test_the_policy_spends_writes_for_a_post(budget, clock):
    transport = FakeTransport([(202, {"x-ms-ratelimit-remaining-subscription-writes": "0"})])
    pipeline(budget, transport).run(HttpRequest("POST", TEMPLATE + "/run"))
    pipeline(budget, transport).run(HttpRequest("POST", TEMPLATE + "/run"))
    assert clock.sleeps == [0.1]
    assert budget.bucket(ARM, SUB, "reads").tokens == 250


def test_a_request_without_an_answer_is_not_left_in_flight(budget):
    class Broken(FakeTransport):
        def send(self, request, **kwargs):
            raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        Pipeline(Broken([]), policies=[ArmBudgetPolicy(budget)]).run(HttpRequest("GET", TEMPLATE))
    assert budget.bucket(ARM, SUB, "reads").in_flight == 0


# --- wiring ---------------------------------------------------------------------------------------------------
def _policies(client) -> list[str]:
    return [type(p).__name__ for p in client._client._pipeline._impl_policies]


def test_every_arm_client_spends_the_process_wide_budget_after_each_retry():
    clients = ArmClients(credential=object(), arm_endpoint="https://127.0.0.1:1")
    assert clients.budget is ArmBudget.shared()
    for client in (clients.compute(SUB), clients.image_builder(SUB), clients.resources(SUB)):
        names = _policies(client)
        assert names.index("ArmBudgetPolicy") == names.index(RunSafeRetryPolicy.__name__) + 1


def test_the_budget_can_be_turned_off():
    clients = ArmClients(credential=object(), arm_endpoint="https://127.0.0.1:1", budget=None)
    assert "ArmBudgetPolicy" not in _policies(clients.compute(SUB))
