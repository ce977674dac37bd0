"""The simulator speaks Voyage's dialect: paths, shapes, field order, statuses, errors, files."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import jsonl
from tests.test_models import API_FIELD_ORDER
from voyage_progress import BatchStatus, VoyageBatchClient
from voyage_progress.simulator import SCENARIOS, Faults, SimClock, Simulator, run_simulator
from voyage_progress.simulator._models import MODELS
from voyage_progress.simulator._scenarios import Plan
from voyage_progress.simulator._store import ApiProblem

ID = re.compile(r"^(batch|file)-[1-9A-HJ-NP-Za-km-z]{37}$")
SLACK = timedelta(seconds=0.5)  # a loaded machine's scheduling, not the 70 s the batch simulates
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url + "/", headers={"Authorization": "Bearer k"}) as c:
        yield c


async def create(http: httpx.AsyncClient, lines: int = 20, **metadata: str) -> dict:
    upload = await http.post("files", files={"file": ("in.jsonl", jsonl(lines))}, data={"purpose": "batch"})
    assert upload.status_code == 200, upload.text
    body = {
        "endpoint": "/v1/embeddings",
        "completion_window": "12h",
        "input_file_id": upload.json()["id"],
        "request_params": {"model": "voyage-3.5", "output_dimension": 256},
        "metadata": metadata,
    }
    response = await http.post("batches", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_batch_object_has_voyages_shape(http: httpx.AsyncClient, sim: Simulator) -> None:
    created = await create(http, corpus="policies")

    assert list(created) == API_FIELD_ORDER
    assert ID.match(created["id"]) and created["id"].startswith("batch-")
    assert ID.match(created["input_file_id"])
    assert created["status"] == "validating"
    assert created["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert created["metadata"] == {"corpus": "policies"}
    assert created["model"] == "voyage-3.5" and created["completion_window"] == "12h"
    assert RFC3339.match(created["created_at"]) and created["in_progress_at"] is None
    expected = datetime.fromisoformat(created["expected_completion_at"]) - datetime.fromisoformat(
        created["created_at"]
    )
    assert expected == timedelta(hours=8)  # as in Voyage's documented responses

    sim.advance(300)
    running = (await http.get(f"batches/{created['id']}")).json()
    assert running["status"] == "in_progress" and RFC3339.match(running["in_progress_at"])
    assert running["request_counts"]["total"] == 20


def final_and_sequence(
    sim: Simulator, batch_id: str, step: float = 15.0, limit: float = 50000
) -> tuple[dict, list[str]]:
    seen: list[str] = []
    elapsed = 0.0
    while elapsed <= limit:
        batch = sim.batch(batch_id)
        if not seen or seen[-1] != batch["status"]:
            seen.append(batch["status"])
        if BatchStatus(batch["status"]).is_terminal:
            return batch, seen
        sim.advance(step)
        elapsed += step
    raise AssertionError(f"{batch_id} did not end: {seen}")


@pytest.mark.parametrize(
    ("scenario", "sequence", "counts"),
    [
        ("normal", ["validating", "in_progress", "finalizing", "completed"], (200, 200, 0)),
        ("quick", ["validating", "in_progress", "finalizing", "completed"], (200, 200, 0)),
        ("fail_validation", ["validating", "failed"], (0, 0, 0)),
        ("partial_failures", ["validating", "in_progress", "finalizing", "completed"], (200, 170, 30)),
        ("all_failed", ["validating", "in_progress", "finalizing", "completed"], (200, 0, 200)),
        ("long_finalizing", ["validating", "in_progress", "finalizing", "completed"], (200, 200, 0)),
        ("stall", ["validating", "in_progress", "finalizing", "completed"], (200, 200, 0)),
        ("late_counts", ["validating", "in_progress", "finalizing", "completed"], (200, 200, 0)),
        ("cancel", ["validating", "in_progress", "cancelling", "cancelled"], (200, 70, 0)),
        ("expire", ["validating", "in_progress", "finalizing", "completed"], None),
        ("expire_openai", ["validating", "in_progress", "expired"], None),
        ("slowing", ["validating", "in_progress", "finalizing", "completed"], (200, 200, 0)),
        ("throttled", ["validating", "in_progress", "finalizing", "completed"], (200, 200, 0)),
        ("volatile", ["validating", "in_progress", "finalizing", "completed"], (200, 200, 0)),
        ("sparse_counts", ["validating", "in_progress", "finalizing", "completed"], (200, 200, 0)),
    ],
)
def test_scenario_status_sequence_and_final_counts(
    sim: Simulator, scenario: str, sequence: list[str], counts: tuple[int, int, int] | None
) -> None:
    batch_id = sim.add_batch(200, scenario)
    final, seen = final_and_sequence(
        sim, batch_id, step={"quick": 2, "expire": 600, "expire_openai": 600}.get(scenario, 15)
    )

    assert seen == sequence
    rc = final["request_counts"]
    if counts is not None:
        assert (rc["total"], rc["completed"], rc["failed"]) == counts
    else:  # the window ran out: what was not done failed as batch_expired
        assert rc["total"] == 200 and 0 < rc["completed"] < 200 and rc["completed"] + rc["failed"] == 200


def test_the_rate_scenarios_change_pace_as_described() -> None:
    """``throttled`` runs a third as fast after half its work; ``slowing`` ends slower than it
    began; ``sparse_counts`` shows counts only every two minutes."""
    throttled = Plan(SCENARIOS["throttled"], 1000, seed=5)
    half = throttled.time_to_reach(500)
    before = 500 / half
    after = 500 / (throttled.processing - half)
    assert after == pytest.approx(before / 3, rel=0.35)
    slowing = Plan(SCENARIOS["slowing"], 1000, seed=5)
    first, last = slowing.time_to_reach(100), slowing.processing - slowing.time_to_reach(900)
    assert last > 1.5 * first
    sparse = Plan(SCENARIOS["sparse_counts"], 1000, seed=5)
    shown = {sparse.reported_processed(t) for t in range(0, 120)}
    assert len(shown) == 1


def test_every_scenario_is_covered() -> None:
    assert set(SCENARIOS) == {
        "normal",
        "quick",
        "fail_validation",
        "partial_failures",
        "all_failed",
        "long_finalizing",
        "stall",
        "late_counts",
        "slowing",
        "throttled",
        "volatile",
        "sparse_counts",
        "cancel",
        "expire",
        "expire_openai",
    }


def test_progress_is_chunky_and_never_goes_back(sim: Simulator) -> None:
    batch_id = sim.add_batch(1000, "stall")
    sim.advance(45)
    done, distinct = [], set()
    for _ in range(260):
        sim.advance(5)
        rc = sim.batch(batch_id)["request_counts"]
        done.append(rc["completed"] + rc["failed"])
        distinct.add(done[-1])
    assert done == sorted(done)
    assert len(distinct) < len(done) / 1.5  # counts refresh every few seconds, so they jump
    stalls = max(len(list(run)) for run in _runs(done))
    assert stalls * 5 >= 290  # the five-minute stall


def _runs(values: list[int]) -> list[list[int]]:
    runs: list[list[int]] = [[values[0]]]
    for v in values[1:]:
        if v == runs[-1][-1]:
            runs[-1].append(v)
        else:
            runs.append([v])
    return runs


async def test_output_and_error_files(http: httpx.AsyncClient, sim: Simulator) -> None:
    batch_id = sim.add_batch(40, "partial_failures")
    final, _ = final_and_sequence(sim, batch_id)
    assert final["output_file_id"] and final["error_file_id"]

    output = (await http.get(f"files/{final['output_file_id']}/content")).content.decode().splitlines()
    errors = (await http.get(f"files/{final['error_file_id']}/content")).content.decode().splitlines()
    assert (
        len(output) == final["request_counts"]["completed"]
        and len(errors) == final["request_counts"]["failed"]
    )
    first = json.loads(output[0])
    assert list(first) == ["batch_id", "custom_id", "response", "error"]
    vector = first["response"]["body"]["data"][0]["embedding"]
    assert len(vector) == 256 and abs(sum(v * v for v in vector) - 1) < 1e-5
    assert json.loads(errors[0])["response"]["status_code"] == 500

    again, _ = final_and_sequence(sim, sim.add_batch(40, "partial_failures"))
    again_out = (await http.get(f"files/{again['output_file_id']}/content")).content.decode().splitlines()
    assert json.loads(again_out[0])["response"]["body"]["data"][0]["embedding"] == vector  # deterministic

    listed = (await http.get("files", params={"purpose": "batch-output"})).json()["data"]
    assert final["output_file_id"] in [f["id"] for f in listed]


async def test_embeddings_have_the_requested_dimension_and_dtype(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    upload = await http.post("files", files={"file": ("in.jsonl", jsonl(2, 3))}, data={"purpose": "batch"})
    body = {
        "endpoint": "/v1/embeddings",
        "completion_window": "12h",
        "input_file_id": upload.json()["id"],
        "request_params": {"model": "voyage-3.5", "output_dimension": 256, "output_dtype": "int8"},
        "metadata": {"sim_scenario": "quick"},
    }
    batch = (await http.post("batches", json=body)).json()
    final, _ = final_and_sequence(sim, batch["id"])
    line = json.loads((await http.get(f"files/{final['output_file_id']}/content")).content.splitlines()[0])
    data = line["response"]["body"]["data"]
    assert len(data) == 3 and [d["index"] for d in data] == [0, 1, 2]
    assert all(
        len(d["embedding"]) == 256 and all(isinstance(v, int) and -128 <= v <= 127 for v in d["embedding"])
        for d in data
    )


async def test_expired_requests_go_to_the_error_file(http: httpx.AsyncClient, sim: Simulator) -> None:
    final, _ = final_and_sequence(sim, sim.add_batch(30, "expire"), step=600)
    errors = [
        json.loads(line)
        for line in (await http.get(f"files/{final['error_file_id']}/content")).content.splitlines()
    ]
    expired = [e for e in errors if e["error"] and e["error"]["code"] == "batch_expired"]
    assert expired and all(e["response"] is None for e in expired)


async def test_invalid_input_fails_validation_with_line_numbers(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    bad = (
        b'{"custom_id": "a", "body": {"input": ["ok"]}}\n'
        b"not json\n"
        b'{"custom_id": "a", "body": {"input": ["dup"]}}\n'
    )
    upload = await http.post("files", files={"file": ("bad.jsonl", bad)}, data={"purpose": "batch"})
    body = {
        "endpoint": "/v1/embeddings",
        "completion_window": "12h",
        "input_file_id": upload.json()["id"],
        "request_params": {"model": "voyage-3.5"},
    }
    batch = (await http.post("batches", json=body)).json()
    final, seen = final_and_sequence(sim, batch["id"])
    assert seen == ["validating", "failed"] and final["failed_at"]
    assert [(e["line"], e["code"]) for e in final["errors"]["data"]] == [
        (2, "invalid_request"),
        (3, "invalid_request"),
    ]


async def test_pagination_with_after(http: httpx.AsyncClient, sim: Simulator) -> None:
    ids = [sim.add_batch(3) for _ in range(5)]
    first = (await http.get("batches", params={"limit": 2})).json()
    assert list(first) == ["object", "data", "first_id", "last_id", "has_more"]
    assert [b["id"] for b in first["data"]] == ids[::-1][:2]  # newest first
    assert first["has_more"] and first["last_id"] == ids[3]
    rest = (await http.get("batches", params={"limit": 100, "after": first["last_id"]})).json()
    assert [b["id"] for b in rest["data"]] == ids[::-1][2:] and not rest["has_more"]
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"after": "batch-nope"}):
        response = await http.get("batches", params=bad)
        assert response.status_code == 400 and "detail" in response.json()


async def test_cancel_rules(http: httpx.AsyncClient, sim: Simulator) -> None:
    batch_id = sim.add_batch(50)
    response = await http.post(f"batches/{batch_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelling"
    assert response.json()["cancelling_at"]
    again = await http.post(f"batches/{batch_id}/cancel")
    assert again.status_code == 400 and "cancelling" in again.json()["detail"]
    sim.advance(600)
    assert sim.batch(batch_id)["status"] == "cancelled"

    done, _ = final_and_sequence(sim, sim.add_batch(5, "quick"))
    refused = await http.post(f"batches/{done['id']}/cancel")
    assert refused.status_code == 400 and "completed" in refused.json()["detail"]


async def test_errors_are_detail_objects(sim: Simulator, http: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url + "/") as anonymous:
        unauthorised = await anonymous.get("batches")
    assert unauthorised.status_code == 401 and unauthorised.json()["detail"]

    for path in ("batches/batch-doesnotexist", "files/file-nope", "files/file-nope/content", "nothing/here"):
        missing = await http.get(path)
        assert missing.status_code == 404 and isinstance(missing.json()["detail"], str), path

    bad_model = await http.post(
        "batches",
        json={
            "endpoint": "/v1/embeddings",
            "completion_window": "12h",
            "input_file_id": "file-x",
            "request_params": {"model": "gpt-9"},
        },
    )
    assert bad_model.status_code == 400 and "gpt-9" in bad_model.json()["detail"]
    too_much = {str(i): "v" for i in range(17)}
    response = await http.post(
        "batches",
        json={
            "endpoint": "/v1/embeddings",
            "completion_window": "12h",
            "input_file_id": "f",
            "request_params": {"model": "voyage-3.5"},
            "metadata": too_much,
        },
    )
    assert response.status_code == 400 and "16" in response.json()["detail"]


async def test_only_the_configured_key_is_accepted() -> None:
    async with run_simulator(speed=0, api_key="right") as sim:
        async with httpx.AsyncClient(base_url=sim.base_url + "/") as http:
            wrong = await http.get("batches", headers={"Authorization": "Bearer wrong"})
            right = await http.get("batches", headers={"Authorization": "Bearer right"})
    assert wrong.status_code == 401 and "invalid" in wrong.json()["detail"]
    assert right.status_code == 200


async def test_in_flight_limit(sim: Simulator, http: httpx.AsyncClient) -> None:
    for _ in range(100):
        sim.add_batch(1)
    upload = await http.post("files", files={"file": ("in.jsonl", jsonl(1))}, data={"purpose": "batch"})
    response = await http.post(
        "batches",
        json={
            "endpoint": "/v1/embeddings",
            "completion_window": "12h",
            "input_file_id": upload.json()["id"],
            "request_params": {"model": "voyage-3.5"},
        },
    )
    assert response.status_code == 429 and "100" in response.json()["detail"]


async def test_files_delete_and_bulk_delete(http: httpx.AsyncClient) -> None:
    ids = []
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):
        ids.append(
            (await http.post("files", files={"file": (name, jsonl(1))}, data={"purpose": "batch"})).json()[
                "id"
            ]
        )
    deleted = await http.delete(f"files/{ids[0]}")
    assert deleted.json() == {"id": ids[0], "object": "file", "deleted": True}
    bulk = (await http.post("files/delete", json={"file_ids": ids[1:]})).json()
    assert [d["deleted"] for d in bulk["data"]] == [True, True]
    assert (await http.get("files")).json()["data"] == []


def test_fault_specs() -> None:
    faults = Faults.parse("503=0.2, drop=0.05,429=0.1,retry-after=2,slow-seconds=40,seed=7")
    assert (
        faults.unavailable,
        faults.drop,
        faults.rate_limit,
        faults.retry_after,
        faults.slow_seconds,
        faults.seed,
    ) == (0.2, 0.05, 0.1, 2.0, 40.0, 7)
    assert faults.describe() == "429=0.1, 503=0.2, drop=0.05"
    draws = [faults.draw() for _ in range(10000)]
    assert 0.15 < draws.count("503") / len(draws) < 0.25
    for bad in ("503", "teapot=0.1", "503=lots", "503=0.7,500=0.7"):
        with pytest.raises(ValueError):
            Faults.parse(bad)


async def test_speed_scales_time() -> None:
    async with run_simulator(speed=20000) as sim:  # the normal scenario: ~1000 simulated seconds
        batch_id = sim.add_batch(10)
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url) as client:
            events = [e async for e in client.stream_batch_progress(batch_id, poll_interval=0.01)]
    assert events[-1].is_complete and len(events) < 100


async def test_sim_processing_sets_how_long_the_work_takes(sim: Simulator) -> None:
    short = sim.add_batch(100, "normal", sim_processing="60")
    long = sim.add_batch(100, "normal", sim_processing="7200")
    sim.advance(45 + 60 + 60 + 1)  # validating, the work, finalizing
    statuses = {batch_id: sim.batch(batch_id)["status"] for batch_id in (short, long)}
    assert (statuses[short], statuses[long]) == ("completed", "in_progress")
    with pytest.raises(ApiProblem, match="sim_processing must be a positive number"):
        sim.add_batch(10, "normal", sim_processing="soon")


async def upload_and_create(
    http: httpx.AsyncClient, content: bytes, endpoint: str = "/v1/embeddings", **params: object
) -> httpx.Response:
    upload = await http.post("files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
    body = {"endpoint": endpoint, "completion_window": "12h", "input_file_id": upload.json()["id"]}
    return await http.post("batches", json={**body, "request_params": params})


@pytest.mark.parametrize("model", [name for name, spec in MODELS.items() if spec.dimensions])
async def test_output_dimension_takes_the_models_sizes_only(http: httpx.AsyncClient, model: str) -> None:
    endpoint = MODELS[model].endpoint
    contextualized = b'{"custom_id": "a", "body": {"inputs": [["x"]]}}\n'
    content = jsonl(1) if endpoint == "/v1/embeddings" else contextualized
    for dimension in (256, 512, 1024, 2048, None):
        accepted = await upload_and_create(http, content, endpoint, model=model, output_dimension=dimension)
        assert accepted.status_code == 200, (dimension, accepted.text)
    for dimension in (32, 768, 4096, "512", 512.0, True):
        refused = await upload_and_create(http, content, endpoint, model=model, output_dimension=dimension)
        assert refused.status_code == 400, dimension
        assert list(refused.json()) == ["detail"]  # Voyage's error shape
        assert "256, 512, 1024, 2048" in refused.json()["detail"] and model in refused.json()["detail"]


@pytest.mark.parametrize(
    ("model", "endpoint"),
    [("voyage-law-2", "/v1/embeddings"), ("voyage-code-2", "/v1/embeddings"), ("rerank-2.5", "/v1/rerank")],
)
async def test_models_without_flexible_dimensions_refuse_output_dimension(
    http: httpx.AsyncClient, model: str, endpoint: str
) -> None:
    content = (
        jsonl(1)
        if endpoint == "/v1/embeddings"
        else b'{"custom_id": "a", "body": {"query": "q", "documents": ["d"]}}\n'
    )
    refused = await upload_and_create(http, content, endpoint, model=model, output_dimension=1024)
    assert refused.status_code == 400 and model in refused.json()["detail"]
    assert "output_dimension" in refused.json()["detail"]
    assert (await upload_and_create(http, content, endpoint, model=model)).status_code == 200


async def test_a_model_is_refused_on_an_endpoint_that_does_not_serve_it(http: httpx.AsyncClient) -> None:
    refused = await upload_and_create(http, jsonl(1), "/v1/embeddings", model="rerank-2.5")
    assert refused.status_code == 400 and "/v1/rerank" in refused.json()["detail"]


async def test_embeddings_have_the_models_default_dimension(http: httpx.AsyncClient, sim: Simulator) -> None:
    created = (await upload_and_create(http, jsonl(1), model="voyage-code-2")).json()
    sim.advance(3600)
    final = sim.batch(created["id"])
    line = json.loads((await http.get(f"files/{final['output_file_id']}/content")).content)
    assert len(line["response"]["body"]["data"][0]["embedding"]) == 1536


@pytest.mark.parametrize(
    ("model", "limit"), [("voyage-3-large", 120_000), ("voyage-3.5", 320_000), ("voyage-3.5-lite", 1_000_000)]
)
async def test_a_request_over_the_models_token_limit_fails_validation(
    http: httpx.AsyncClient, sim: Simulator, model: str, limit: int
) -> None:
    words = limit // 13 * 10 + 100  # 1.3 tokens a word: just over the limit, in two texts
    text = " ".join(["word"] * (words // 2))
    content = (
        json.dumps({"custom_id": "ok", "body": {"input": ["short"]}})
        + "\n"
        + json.dumps({"custom_id": "big", "body": {"input": [text, text]}})
        + "\n"
    ).encode()
    created = (await upload_and_create(http, content, model=model)).json()
    final, seen = final_and_sequence(sim, created["id"])
    assert seen == ["validating", "failed"]
    [error] = final["errors"]["data"]
    assert error["line"] == 2 and model in error["message"] and f"{limit}" in error["message"]

    fits = " ".join(["word"] * (limit // 13 * 10 // 2 - 100))
    content = (json.dumps({"custom_id": "a", "body": {"input": [fits, fits]}}) + "\n").encode()
    created = (await upload_and_create(http, content, model=model)).json()
    assert final_and_sequence(sim, created["id"])[0]["status"] == "completed"


async def test_a_rerank_request_counts_the_query_once_per_document(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    query = " ".join(["q"] * 1000)  # 1,300 tokens, counted for each of 500 documents: 650,500
    body = {"query": query, "documents": ["a document"] * 500}
    content = (json.dumps({"custom_id": "r", "body": body}) + "\n").encode()
    created = (await upload_and_create(http, content, "/v1/rerank", model="rerank-2.5")).json()
    final, _ = final_and_sequence(sim, created["id"])
    assert final["status"] == "failed" and "600000" in final["errors"]["data"][0]["message"]


async def test_dates_keep_to_the_wall_clock_at_any_speed() -> None:
    async with run_simulator(speed=200) as sim:  # "quick": 70 simulated seconds, 0.35 s real
        before = datetime.now(UTC)
        batch_id = sim.add_batch(20, "quick")
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url) as client:
            events = [e async for e in client.stream_batch_progress(batch_id, poll_interval=0.05)]
            job = await client.get_batch(batch_id)
            output = await client.get_file(job.output_file_id or "")
        after = datetime.now(UTC)
    assert events[-1].is_complete
    dated = [job.created_at, job.in_progress_at, job.finalizing_at, job.completed_at, output.created_at]
    assert all(at is not None and before - SLACK <= at <= after + SLACK for at in dated), dated
    assert dated == sorted(dated)  # type: ignore[type-var]
    assert job.expected_completion_at == job.created_at + timedelta(hours=8)  # type: ignore[operator]
    first = events[0].job
    assert first is not None and first.created_at == job.created_at  # a date, once shown, stays


def test_the_clock_dates_running_time_at_real_pace_and_advances_in_full() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = SimClock(speed=0, start=start)
    clock.advance(3600)
    assert clock.now() == start + timedelta(hours=1)  # a stopped clock: dated as advanced
    clock.set_speed(100)
    before = clock.elapsed()
    clock.advance(600)
    after = clock.elapsed()
    running = after - before - 600  # simulated seconds that ran meanwhile, dated 1/100 each
    dated = (clock.date_of(after) - clock.date_of(before)).total_seconds()
    assert dated == pytest.approx(600 + running / 100, abs=1e-5)
    clock.set_speed(50)
    now = clock.elapsed()
    ahead = (clock.date_of(now + 50) - clock.date_of(now)).total_seconds()
    assert ahead == pytest.approx(1.0, abs=1e-5)  # ahead of now: at the pace now
    assert clock.date_of(1800) == start + timedelta(minutes=30)  # the past stays where it was
