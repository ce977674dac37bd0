"""The third-party check of the Anthropic dialect: Anthropic's official Python SDK creates,
retrieves, lists, cancels, reads the results of and deletes message batches against the
simulator as it does against api.anthropic.com, and sees its errors as Anthropic's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from voyage_progress.simulator import Simulator, run_simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with run_simulator(speed=0, seed=5, dialect="anthropic") as simulator:
        yield simulator


@pytest.fixture
def sdk(sim: Simulator) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=sim.base_url, max_retries=0)


def requests(count: int) -> list[Any]:
    return [
        {
            "custom_id": f"prompt-{i}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 256,
                "messages": [{"role": "user", "content": f"A haiku about light {i}"}],
            },
        }
        for i in range(count)
    ]


async def test_the_anthropic_sdk_runs_a_message_batch(sdk: anthropic.AsyncAnthropic, sim: Simulator) -> None:
    batch = await sdk.messages.batches.create(requests=requests(5))
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 5
    assert (batch.expires_at - batch.created_at).total_seconds() == 24 * 3600 and batch.results_url is None

    sim.advance(3600)
    ended = await sdk.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.ended_at is not None
    assert ended.request_counts.succeeded == 5 and ended.results_url is not None
    results = [item async for item in await sdk.messages.batches.results(batch.id)]
    assert sorted(item.custom_id for item in results) == [f"prompt-{i}" for i in range(5)]
    assert all(item.result.type == "succeeded" for item in results)

    deleted = await sdk.messages.batches.delete(batch.id)
    assert deleted.id == batch.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.batches.retrieve(batch.id)


async def test_the_anthropic_sdk_lists_and_cancels(sdk: anthropic.AsyncAnthropic, sim: Simulator) -> None:
    ids = [sim.add_batch(6) for _ in range(5)]
    listed = [b.id async for b in sdk.messages.batches.list(limit=2)]  # pages on with after_id
    assert listed == ids[::-1] and sim.stats.by_route["GET /v1/messages/batches"] == 3

    canceling = await sdk.messages.batches.cancel(ids[0])
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    sim.advance(3600)
    canceled = await sdk.messages.batches.retrieve(ids[0])
    assert canceled.processing_status == "ended" and canceled.request_counts.canceled > 0
    kinds = {item.result.type async for item in await sdk.messages.batches.results(ids[0])}
    assert "canceled" in kinds

    with pytest.raises(anthropic.BadRequestError):
        await sdk.messages.batches.cancel(ids[0])  # it has ended


async def test_the_anthropic_sdk_sees_expired_and_errored_requests(
    sdk: anthropic.AsyncAnthropic, sim: Simulator
) -> None:
    late = sim.add_batch(10, "expire")
    failing = sim.add_batch(10, "partial_failures")
    sim.advance(2 * 24 * 3600)
    expired, mixed = await sdk.messages.batches.retrieve(late), await sdk.messages.batches.retrieve(failing)
    assert expired.processing_status == "ended" and expired.request_counts.expired > 0
    assert mixed.request_counts.errored == 1 and mixed.request_counts.succeeded == 9
    errored = [
        item async for item in await sdk.messages.batches.results(failing) if item.result.type == "errored"
    ]
    assert len(errored) == 1


async def test_the_anthropic_sdk_sees_the_dialects_errors() -> None:
    async with run_simulator(speed=0, dialect="anthropic", api_key="sk-ant-right", faults="429=1") as sim:
        wrong = anthropic.AsyncAnthropic(api_key="sk-ant-wrong", base_url=sim.base_url, max_retries=0)
        with pytest.raises(anthropic.AuthenticationError) as refused:
            await wrong.messages.batches.list()
        right = anthropic.AsyncAnthropic(api_key="sk-ant-right", base_url=sim.base_url, max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as limited:
            await right.messages.batches.list()
    assert refused.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    assert limited.value.response.headers["retry-after"] and limited.value.response.headers["request-id"]

    async with run_simulator(speed=0, dialect="anthropic") as sim:
        sdk = anthropic.AsyncAnthropic(api_key="sk-ant-any", base_url=sim.base_url, max_retries=0)
        with pytest.raises(anthropic.BadRequestError, match="custom_id"):
            await sdk.messages.batches.create(requests=[{**requests(1)[0], "custom_id": "no spaces allowed"}])
