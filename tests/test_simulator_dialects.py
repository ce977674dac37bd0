"""The simulator speaks OpenAI's and Anthropic's batch APIs over its one store and scenario engine:
each dialect's objects, ids, dates, errors and headers, its scenarios and faults, read by raw
HTTP and by the project's own clients, and the progress API of every provider against them."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest

from tests.test_simulator import final_and_sequence
from voyage_progress import (
    AnthropicBatchClient,
    AuthenticationError,
    BatchStatus,
    NotFoundError,
    OpenAIBatchClient,
    RetryPolicy,
    stream_batch_progress,
)
from voyage_progress.cli.simulate import DIALECT_NAMES
from voyage_progress.simulator import DIALECTS, Faults, Simulator, run_simulator
from voyage_progress.simulator._glitches import glitch_body

DAY = 24 * 3600


@pytest.fixture
async def openai_sim() -> AsyncIterator[Simulator]:
    async with run_simulator(speed=0, seed=2, dialect="openai") as sim:
        yield sim


@pytest.fixture
async def anthropic_sim() -> AsyncIterator[Simulator]:
    async with run_simulator(speed=0, seed=3, dialect="anthropic") as sim:
        yield sim


def openai_http(sim: Simulator, key: str = "k") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sim.base_url + "/", headers={"Authorization": f"Bearer {key}"})


def anthropic_http(sim: Simulator, **headers: str) -> httpx.AsyncClient:
    sent = {"x-api-key": "k", "anthropic-version": "2023-06-01", **headers}
    return httpx.AsyncClient(base_url=sim.base_url + "/v1/", headers={k: v for k, v in sent.items() if v})


def test_the_command_line_names_every_dialect() -> None:
    assert tuple(DIALECTS) == DIALECT_NAMES


async def test_openai_objects_ids_dates_and_headers(openai_sim: Simulator) -> None:
    batch_id = openai_sim.add_batch(5, "quick")
    assert batch_id.startswith("batch_") and "-" not in batch_id
    async with openai_http(openai_sim) as http:
        response = await http.get(f"batches/{batch_id}")
    body = response.json()
    assert response.headers["x-request-id"].startswith("req_")
    assert body["object"] == "batch" and body["completion_window"] == "24h" and body["status"] == "validating"
    assert isinstance(body["created_at"], int) and body["expires_at"] == body["created_at"] + DAY
    assert body["expired_at"] is None and body["model"] == "text-embedding-3-small"
    final, statuses = final_and_sequence(openai_sim, batch_id, step=5)
    assert statuses == ["validating", "in_progress", "finalizing", "completed"]
    assert all(isinstance(final[name], int) for name in ("in_progress_at", "finalizing_at", "completed_at"))
    assert final["request_counts"] == {"total": 5, "completed": 5, "failed": 0}


async def test_openai_batches_that_outlast_the_window_expire(openai_sim: Simulator) -> None:
    batch_id = openai_sim.add_batch(40, "expire")
    final, statuses = final_and_sequence(openai_sim, batch_id, step=1800, limit=3 * DAY)
    assert statuses == ["validating", "in_progress", "expired"]
    assert final["expired_at"] - final["created_at"] == pytest.approx(DAY, abs=1)
    counts = final["request_counts"]
    assert (
        counts["total"] == 40
        and 0 < counts["completed"] < 40
        and counts["completed"] + counts["failed"] == 40
    )
    async with OpenAIBatchClient(api_key="k", base_url=openai_sim.base_url) as client:
        job = await client.get_batch(batch_id)
        errors = (await openai_http(openai_sim).get(f"files/{final['error_file_id']}/content")).text
    assert job.status is BatchStatus.EXPIRED and job.expired_at is not None and job.deadline == job.expires_at
    assert '"code": "batch_expired"' in errors and '"custom_id": "request-39"' in errors


async def test_anthropic_objects_ids_dates_and_headers(anthropic_sim: Simulator) -> None:
    batch_id = anthropic_sim.add_batch(8, "partial_failures")
    assert batch_id.startswith("msgbatch_01")
    async with anthropic_http(anthropic_sim) as http:
        response = await http.get(f"messages/batches/{batch_id}")
        body = response.json()
        assert response.headers["request-id"].startswith("req_")
        assert body["type"] == "message_batch" and body["processing_status"] == "in_progress"
        assert body["request_counts"] == {
            "processing": 8,
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        assert body["created_at"].endswith("Z") and body["results_url"] is None and body["ended_at"] is None
        created = datetime.fromisoformat(body["created_at"])
        assert datetime.fromisoformat(body["expires_at"]) - created == timedelta(days=1)
        anthropic_sim.advance(900)  # halfway: still every request processing
        assert (await http.get(f"messages/batches/{batch_id}")).json()["request_counts"]["processing"] == 8
        anthropic_sim.advance(3600)
        ended = (await http.get(f"messages/batches/{batch_id}")).json()
        results = await http.get(ended["results_url"].removeprefix(anthropic_sim.base_url + "/v1/"))
    assert ended["processing_status"] == "ended" and ended["ended_at"].endswith("Z")
    assert ended["request_counts"] == {
        "processing": 0,
        "succeeded": 7,
        "errored": 1,
        "canceled": 0,
        "expired": 0,
    }
    kinds = [json.loads(line)["result"]["type"] for line in results.text.splitlines()]
    assert sorted(kinds) == ["errored"] + ["succeeded"] * 7


async def test_anthropic_batches_expire_and_cancel(anthropic_sim: Simulator) -> None:
    late = anthropic_sim.add_batch(20, "expire")
    stopped = anthropic_sim.add_batch(20, "normal")
    async with AnthropicBatchClient(api_key="k", base_url=anthropic_sim.base_url) as client:
        anthropic_sim.advance(300)
        cancelling = await client.cancel_batch(stopped)
        assert cancelling.status is BatchStatus.CANCELLING and cancelling.cancelling_at is not None
        anthropic_sim.advance(2 * DAY)
        expired, cancelled = await client.get_batch(late), await client.get_batch(stopped)
    assert expired.status is BatchStatus.EXPIRED and expired.request_counts.total == 20
    assert expired.expired_at is not None and expired.expired_at - expired.created_at == timedelta(days=1)
    assert cancelled.status is BatchStatus.CANCELLED and cancelled.cancelled_at is not None
    raw = anthropic_sim.batch(stopped)["request_counts"]
    assert raw["canceled"] > 0 and sum(raw.values()) == 20


async def test_anthropic_pages_after_and_before(anthropic_sim: Simulator) -> None:
    ids = [anthropic_sim.add_batch(2) for _ in range(5)]
    async with anthropic_http(anthropic_sim) as http:
        first = (await http.get("messages/batches", params={"limit": 2})).json()
        second = (
            await http.get("messages/batches", params={"limit": 2, "after_id": first["last_id"]})
        ).json()
        back = (
            await http.get("messages/batches", params={"limit": 2, "before_id": second["first_id"]})
        ).json()
    assert [b["id"] for b in first["data"]] == ids[:-3:-1] and first["has_more"]
    assert [b["id"] for b in second["data"]] == [ids[2], ids[1]] and second["has_more"]
    assert back["data"] == first["data"] and not back["has_more"]
    async with AnthropicBatchClient(api_key="k", base_url=anthropic_sim.base_url) as client:
        assert [job.id async for job in client.iter_batches(limit=2)] == ids[::-1]


async def test_each_dialect_answers_errors_in_its_own_shape() -> None:
    async with run_simulator(speed=0, dialect="openai", api_key="right") as sim:
        async with openai_http(sim, key="wrong") as http:
            refused = await http.get("batches")
        async with openai_http(sim, key="right") as http:
            missing = await http.get("batches/batch_nope")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}

    async with run_simulator(speed=0, dialect="anthropic", api_key="right") as sim:
        async with anthropic_http(sim, **{"x-api-key": "wrong"}) as http:
            refused = await http.get("messages/batches")
        async with anthropic_http(sim, **{"x-api-key": "right", "anthropic-version": ""}) as http:
            unversioned = await http.get("messages/batches")
        async with anthropic_http(sim, **{"x-api-key": "right"}) as http:
            missing = await http.get("messages/batches/msgbatch_01nope")
            bad = await http.post("messages/batches", json={"requests": [{"custom_id": "a b", "params": {}}]})
        async with AnthropicBatchClient(api_key="wrong", base_url=sim.base_url) as client:
            with pytest.raises(AuthenticationError, match=r"401 .* invalid x-api-key"):
                await client.list_batches()
        async with AnthropicBatchClient(api_key="right", base_url=sim.base_url) as client:
            with pytest.raises(NotFoundError, match="msgbatch_01nope"):
                await client.get_batch("msgbatch_01nope")
    assert refused.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    assert unversioned.status_code == 400 and "anthropic-version" in unversioned.json()["error"]["message"]
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("requests.0.custom_id")


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_faults_come_in_each_dialects_shape_and_are_retried(dialect: str) -> None:
    faults = Faults(unavailable=0.2, rate_limit=0.2, retry_after=0.01, seed=5)
    patient = RetryPolicy(max_retries=10, backoff_base=0.001, backoff_max=0.01)
    client_class = OpenAIBatchClient if dialect == "openai" else AnthropicBatchClient
    async with run_simulator(speed=0, dialect=dialect, faults=faults) as sim:
        ids = [sim.add_batch(3) for _ in range(3)]
        headers = {"Authorization": "Bearer k", "x-api-key": "k", "anthropic-version": "2023-06-01"}
        path = "/v1/batches" if dialect == "openai" else "/v1/messages/batches"
        async with httpx.AsyncClient(headers=headers) as http:
            answers = [await http.get(sim.url + path) for _ in range(30)]
        async with client_class(api_key="k", base_url=sim.base_url, retry_policy=patient) as client:
            for _ in range(10):
                assert {job.id for job in (await client.list_batches()).data} == set(ids)
    shapes = {a.status_code: a.json() for a in answers if a.status_code != 200}
    assert set(shapes) == {429, 503}
    for status, body in shapes.items():
        if dialect == "openai":
            assert body["error"]["type"] == ("requests" if status == 429 else "server_error")
        else:
            assert body["type"] == "error" and body["error"]["type"] == (
                "rate_limit_error" if status == 429 else "api_error"
            )
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["retry-after"] == "0.01"
    assert (
        "x-ratelimit-reset-requests" in limited.headers
        if dialect == "openai"
        else "anthropic-ratelimit-requests-limit" in limited.headers
    )


async def test_glitches_spoil_anthropic_objects_where_they_keep_their_fields(
    anthropic_sim: Simulator,
) -> None:
    anthropic_sim.add_batch(4)
    anthropic = DIALECTS["anthropic"]
    page = {
        "data": [anthropic_sim.batch(b.id) for b in anthropic_sim.store.batches.values()],
        "has_more": False,
    }
    rng = random.Random(1)
    changed = 0
    for _ in range(20):
        spoiled = json.loads(json.dumps(page))
        assert len(glitch_body(spoiled, rng, anthropic)) == 1
        changed += spoiled != page
    assert changed >= 15  # a stale count of 0 may leave an early batch as it was


async def test_glitched_anthropic_answers_are_anomalies_not_progress() -> None:
    async with run_simulator(speed=0, seed=6, dialect="anthropic", faults=Faults(glitch=1.0, seed=2)) as sim:
        batch_id = sim.add_batch(6, "quick")
        sim.advance(3600)
        async with AnthropicBatchClient(api_key="k", base_url=sim.base_url) as client:
            jobs = [await client.get_batch(batch_id) for _ in range(12)]
    assert any(job.malformed or not job.status.is_known for job in jobs)


async def test_the_progress_api_follows_every_provider(
    openai_sim: Simulator, anthropic_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def advance_openai(seconds: float) -> None:
        openai_sim.advance(600 * seconds)  # 50 minutes of a day-long batch per poll

    async def advance_anthropic(seconds: float) -> None:
        anthropic_sim.advance(60 * seconds)

    late = openai_sim.add_batch(30, "expire")
    mixed = anthropic_sim.add_batch(20, "partial_failures")
    async with OpenAIBatchClient(api_key="k", base_url=openai_sim.base_url) as openai_client:
        openai_client.sleep = advance_openai
        events = [e async for e in openai_client.stream_batch_progress(late, poll_interval=5)]
    assert events[-1].status is BatchStatus.EXPIRED and events[-1].is_failed and events[-1].is_terminal
    assert [e.batch_id for e in events] == [late] * len(events) and len(events) > 3
    assert events[-1].error_message == "batch expired before all requests were processed"

    async with AnthropicBatchClient(api_key="k", base_url=anthropic_sim.base_url) as anthropic_client:
        stream = stream_batch_progress(anthropic_client, mixed, poll_interval=1, sleep=advance_anthropic)
        seen = [e async for e in stream]
        job = await anthropic_client.wait_for_batch_completion_with_progress(
            mixed, seen.append, poll_interval=1
        )
    assert seen[0].percent == 0.0 and seen[0].total == 20  # Anthropic tells progress only at the end
    assert job.status is BatchStatus.COMPLETED and (
        job.request_counts.completed,
        job.request_counts.failed,
    ) == (17, 3)
    assert seen[-1].is_complete and not seen[-1].is_failed and seen[-1].percent == 100.0


async def test_simulate_speaks_a_dialect_and_says_its_variables() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voyage_progress", "simulate", "--port", "0", "--dialect", "anthropic",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        second = (await asyncio.wait_for(process.stdout.readline(), 5)).decode()
        base_url = first.split()[3]
        assert first.startswith("Anthropic simulator at http://127.0.0.1:") and not base_url.endswith("/v1")
        assert f"ANTHROPIC_BASE_URL={base_url} ANTHROPIC_API_KEY=demo" in second
        async with AnthropicBatchClient(api_key="demo", base_url=base_url) as client:
            assert (await client.list_batches()).data == ()
    finally:
        process.terminate()
        await process.wait()
