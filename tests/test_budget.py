"""The request budget: never more requests in a second than asked, retries included."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import FAST_RETRIES
from voyage_progress import VoyageBatchClient
from voyage_progress._defaults import DEFAULT_MAX_REQUESTS_PER_SECOND
from voyage_progress.cli import build_parser
from voyage_progress.cli._common import budget
from voyage_progress.providers._budget import RequestBudget
from voyage_progress.simulator import Faults, run_simulator


class FakeTime:
    """A clock that only moves when the budget sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def most_in_any_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


@pytest.mark.parametrize(
    ("per_second", "limit", "window"),
    [(5.0, 5, 1.0), (2.5, 2, 1.0), (1.0, 1, 1.0), (0.5, 1, 2.0), (0.3, 1, 1 / 0.3)],
)
async def test_holds_the_rate_over_every_window(per_second: float, limit: int, window: float) -> None:
    fake = FakeTime()
    budget = RequestBudget(per_second, clock=fake.clock, sleep=fake.sleep)
    sent = []
    for _ in range(40):
        await budget.acquire()
        sent.append(fake.now)
    assert (budget.limit, budget.window) == (limit, pytest.approx(window * 1.02))
    assert most_in_any_window(sent, 1.0) <= max(1, int(per_second))
    assert most_in_any_window(sent, window) == limit
    assert len(sent) / (sent[-1] - sent[0] + budget.window) <= per_second


async def test_a_burst_within_the_budget_waits_for_nothing() -> None:
    fake = FakeTime()
    budget = RequestBudget(10, clock=fake.clock, sleep=fake.sleep)
    for _ in range(10):
        await budget.acquire()
    assert fake.sleeps == [] and budget.delayed == 0
    await budget.acquire()
    assert fake.sleeps == [pytest.approx(1.02)] and budget.delayed == 1


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan")])
def test_refuses_a_budget_that_is_no_budget(bad: float) -> None:
    with pytest.raises(ValueError, match="positive number per second"):
        RequestBudget(bad)


async def test_the_server_never_sees_more_than_the_budget_even_while_retrying() -> None:
    faults = Faults(unavailable=0.3, rate_limit_bare=0.2, seed=3)
    async with (
        run_simulator(speed=0, seed=1, faults=faults) as sim,
        VoyageBatchClient(
            api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES, max_requests_per_second=20
        ) as client,
    ):
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.list_batches(limit=1) for _ in range(30)), return_exceptions=True
        )
        elapsed = time.monotonic() - started
    assert sim.stats.requests > 30  # faults were retried, inside the budget too
    assert all(not isinstance(r, BaseException) or "503" in str(r) or "429" in str(r) for r in results)
    assert sim.stats.peak_per_second <= 20
    assert elapsed >= (sim.stats.requests - 1) // 20 * 1.0


@pytest.mark.parametrize("command", ["watch", "status", "list", "cancel", "submit", "results"])
def test_every_api_command_has_a_budget_by_default(command: str) -> None:
    parser = build_parser()
    extra = {
        "watch": [],
        "status": ["b"],
        "list": [],
        "cancel": ["b"],
        "submit": ["in.jsonl"],
        "results": ["b"],
    }
    by_default = parser.parse_args([command, *extra[command]])
    assert budget(by_default, "voyage") == DEFAULT_MAX_REQUESTS_PER_SECOND
    assert budget(by_default, "anthropic") == 0.5  # 30 of the 50 a minute its lowest tier allows
    asked = parser.parse_args([command, *extra[command], "--max-rps", "0.25"])
    assert budget(asked, "voyage") == budget(asked, "openai") == 0.25
