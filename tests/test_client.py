"""The client against the real simulator: every endpoint, every injected fault, every error."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from tests.conftest import FAST_RETRIES, jsonl
from voyage_progress import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchStatus,
    MalformedResponseError,
    MissingAPIKeyError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    VoyageBatchClient,
)
from voyage_progress._defaults import IDEMPOTENCY_METADATA_KEY
from voyage_progress._retry import parse_retry_after
from voyage_progress.simulator import Faults, Simulator, run_simulator

SECRET = "pa-SECRET-test-key-0123456789"


async def test_every_endpoint(client: VoyageBatchClient, sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(jsonl(12))
    uploaded = await client.upload_file(path)
    from_bytes = await client.upload_file(jsonl(3), filename="small.jsonl")
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == ("corpus.jsonl", len(jsonl(12)), "batch")
    assert (await client.get_file(uploaded.id)) == uploaded
    assert [f.id for f in (await client.list_files()).data] == [uploaded.id, from_bytes.id]
    assert await client.download_file(uploaded.id) == jsonl(12)

    job = await client.create_batch(
        uploaded.id,
        model="voyage-3.5",
        metadata={"label": "corpus"},
        request_params={"output_dimension": 256},
    )
    assert job.status is BatchStatus.VALIDATING and job.metadata["label"] == "corpus"
    assert (await client.get_batch(job.id)).id == job.id
    other = await client.create_batch(from_bytes.id, request_params={"model": "voyage-3.5"})
    page = await client.list_batches(limit=1)
    assert [b.id for b in page.data] == [other.id] and page.has_more
    assert [b.id async for b in client.iter_batches(limit=1)] == [other.id, job.id]

    cancelled = await client.cancel_batch(other.id)
    assert cancelled.status is BatchStatus.CANCELLING

    sim.advance(3600)
    finished = await client.get_batch(job.id)
    assert finished.status is BatchStatus.COMPLETED and finished.output_file_id
    output = await client.download_file(finished.output_file_id)
    assert output.count(b"\n") == 12

    assert await client.delete_file(from_bytes.id)
    assert await client.delete_files([uploaded.id]) == [uploaded.id]
    with pytest.raises(NotFoundError):
        await client.get_file(uploaded.id)


async def test_submit_texts(client: VoyageBatchClient, sim: Simulator) -> None:
    job = await client.submit_texts(
        [f"gesture {i}" for i in range(15)], per_request=4, metadata={"label": "g"}
    )
    sim.advance(3600)
    done = await client.get_batch(job.id)
    assert done.request_counts.total == 4 and done.status is BatchStatus.COMPLETED


@pytest.mark.parametrize(
    "fault",
    [
        "500=0.5",
        "502=0.5",
        "503=0.5",
        "429=0.5,retry-after=0",
        "429-bare=0.5",
        "drop=0.5",
        "malformed=0.5",
        "truncated=0.5",
        "slow=0.3,slow-seconds=2",
    ],
)
async def test_recovers_from_intermittent_faults(fault: str) -> None:
    async with run_simulator(speed=0, faults=Faults.parse(fault + ",seed=3")) as sim:
        batch_id = sim.add_batch(5)
        policy = RetryPolicy(max_retries=8, backoff_base=0.001, backoff_max=0.01)
        async with VoyageBatchClient(
            api_key="k", base_url=sim.base_url, retry_policy=policy, timeout=0.5
        ) as c:
            for _ in range(6):
                assert (await c.get_batch(batch_id)).id == batch_id
    assert sum(sim.stats.faults.values()) > 0


@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [
        ("500=1", ServerError, "500 Internal Server Error"),
        ("502=1", ServerError, "502 Bad Gateway"),
        ("503=1", ServerError, "503 Service Unavailable"),
        ("429-bare=1", RateLimitError, "429 Too Many Requests"),
        ("drop=1", APIConnectionError, "connection broke"),
        ("truncated=1", APIConnectionError, "connection broke"),
        ("malformed=1", MalformedResponseError, "unexpected answer"),
        ("slow=1,slow-seconds=2", APITimeoutError, "did not answer"),
    ],
)
async def test_persistent_faults_raise_typed_errors(fault: str, error: type[Exception], words: str) -> None:
    async with run_simulator(speed=0, faults=fault) as sim:
        async with VoyageBatchClient(
            api_key=SECRET, base_url=sim.base_url, retry_policy=FAST_RETRIES, timeout=0.3
        ) as client:
            with pytest.raises(error) as raised:
                await client.get_batch("batch-x")
    message = str(raised.value)
    assert words in message and "GET /batches/batch-x" in message
    assert "\n" not in message and SECRET not in message
    assert sim.stats.requests == FAST_RETRIES.max_retries + 1  # retried, then gave up


async def test_retry_after_is_honoured() -> None:
    async with run_simulator(speed=0, faults="429=1,retry-after=0.2") as sim:
        async with VoyageBatchClient(
            api_key="k", base_url=sim.base_url, retry_policy=RetryPolicy(max_retries=2, backoff_base=0.001)
        ) as client:
            started = time.monotonic()
            with pytest.raises(RateLimitError) as raised:
                await client.get_batch("batch-x")
            elapsed = time.monotonic() - started
    assert raised.value.retry_after == pytest.approx(0.2)
    assert elapsed >= 0.4  # two waits of Retry-After, not the millisecond backoff


async def test_a_long_retry_after_is_raised_for_the_caller_to_schedule() -> None:
    async with run_simulator(speed=0, faults="429=1,retry-after=120") as sim:
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            with pytest.raises(RateLimitError) as raised:
                await client.get_batch("batch-x")
    assert raised.value.retry_after == 120 and sim.stats.requests == 1


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_full_jitter_backoff_stays_within_its_ceiling() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    for retry in range(8):
        delays = [policy.delay(retry) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= min(4.0, 0.5 * 2**retry)
        assert max(delays) > 0.5 * min(4.0, 0.5 * 2**retry)  # jittered over the whole range
    assert policy.delay(5, retry_after=7.5) == 7.5


async def test_a_create_is_not_sent_twice_when_its_answer_is_lost() -> None:
    async with run_simulator(speed=0) as sim:
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            file = await client.upload_file(jsonl(5))
            sim.faults.truncated = 1.0  # the create happens, its answer breaks half-way
            task = asyncio.create_task(client.create_batch(file.id, model="voyage-3.5"))
            while sim.stats.by_route["POST /v1/batches"] == 0:
                await asyncio.sleep(0.001)
            sim.faults.truncated = 0.0
            job = await task
    assert len(sim.store.batches) == 1  # found again, not created twice
    assert job.id in sim.store.batches and job.metadata[IDEMPOTENCY_METADATA_KEY]


async def test_a_create_that_never_arrived_is_sent_again() -> None:
    async with run_simulator(speed=0) as sim:
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            file = await client.upload_file(jsonl(5))
            sim.faults.rate_limit, sim.faults.retry_after = 1.0, 0.0
            task = asyncio.create_task(client.create_batch(file.id, model="voyage-3.5"))
            while sim.stats.by_route["POST /v1/batches"] < 2:
                await asyncio.sleep(0.001)
            sim.faults.rate_limit = 0.0
            job = await task
    assert list(sim.store.batches) == [job.id]


async def test_an_ambiguous_create_without_a_marker_is_not_retried() -> None:
    async with run_simulator(speed=0, faults="500=1") as sim:
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            full = {f"k{i}": "v" for i in range(16)}  # no room for the marker
            with pytest.raises(ServerError):
                await client.create_batch("file-x", model="voyage-3.5", metadata=full)
    assert sim.stats.by_route["POST /v1/batches"] == 1


async def test_api_errors_are_typed_with_the_servers_detail(
    client: VoyageBatchClient, sim: Simulator
) -> None:
    with pytest.raises(NotFoundError) as missing:
        await client.get_batch("batch-unknown")
    assert missing.value.status_code == 404 and missing.value.detail == "Batch batch-unknown not found."
    assert (
        str(missing.value) == "404 Not Found from GET /batches/batch-unknown: Batch batch-unknown not found."
    )

    done = sim.add_batch(3, "quick")
    sim.advance(600)
    with pytest.raises(BadRequestError, match="cannot be cancelled: its status is completed"):
        await client.cancel_batch(done)
    with pytest.raises(ValueError, match="needs a model"):
        await client.create_batch("file-x")
    with pytest.raises(ValueError, match="invalid id"):
        await client.get_batch("../files")


async def test_the_key_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with run_simulator(speed=0, api_key="another-key", faults="503=0.3,seed=1") as sim:
        async with VoyageBatchClient(
            api_key=SECRET, base_url=sim.base_url, retry_policy=FAST_RETRIES
        ) as client:
            assert SECRET not in repr(client) and "hidden" in repr(client)
            with pytest.raises(AuthenticationError) as raised:
                await client.list_batches()
    assert raised.value.status_code == 401
    for text in (str(raised.value), repr(raised.value), caplog.text):
        assert SECRET not in text


async def test_a_server_echoing_the_key_is_redacted() -> None:
    async with run_simulator(speed=0) as sim:
        async with VoyageBatchClient(api_key=SECRET, base_url=sim.base_url) as client:
            with pytest.raises(NotFoundError) as raised:
                await client.get_batch(SECRET)  # the 404 detail repeats the id, here the key
    assert SECRET not in str(raised.value) and "[redacted]" in str(raised.value)


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOYAGE_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="VOYAGE_API_KEY"):
        VoyageBatchClient()
    monkeypatch.setenv("VOYAGE_API_KEY", "from-env")
    monkeypatch.setenv("VOYAGE_BASE_URL", "http://127.0.0.1:9/v1/")
    client = VoyageBatchClient()
    assert client.base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(ValueError, match="invalid base URL"):
        VoyageBatchClient(base_url="localhost:8765")


async def test_an_unreachable_server_is_one_clear_error() -> None:
    async with VoyageBatchClient(
        api_key="k", base_url="http://127.0.0.1:9/v1", retry_policy=FAST_RETRIES
    ) as c:
        with pytest.raises(APIConnectionError, match=r"cannot reach http://127.0.0.1:9/v1 \(GET /batches\)"):
            await c.list_batches()
