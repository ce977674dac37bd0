"""The simulator refuses batch input beyond Voyage's documented limits (``_limits``)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import jsonl
from voyage_progress import _limits
from voyage_progress.simulator import Simulator, run_simulator


def line(custom_id: str, body: object) -> bytes:
    return json.dumps({"custom_id": custom_id, "body": body}).encode() + b"\n"


def words(count: int) -> str:
    return " ".join(["word"] * count)


GOOD = line("a", {"input": ["first"]}) + line("b", {"input": "second"})
TOO_MANY_INPUTS = b"".join(line(f"r{i}", {"input": ["t"] * 1000}) for i in range(100)) + line(
    "last", {"input": "t"}
)


# -- the simulator holds to the limits ------------------------------------------------------------


async def create(http: httpx.AsyncClient, content: bytes, model: str = "voyage-3.5") -> str:
    upload = await http.post("files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
    body = {
        "endpoint": "/v1/embeddings",
        "completion_window": "12h",
        "input_file_id": upload.json()["id"],
        "request_params": {"model": model},
    }
    return str((await http.post("batches", json=body)).json()["id"])


@pytest.mark.parametrize(
    ("content", "model", "error"),
    [
        (
            line("a", {"input": [words(121)] * 1000}),
            "voyage-3-large",
            {
                "code": "invalid_request",
                "line": 1,
                "message": "body.input has at least 121,000 tokens; voyage-3-large takes at most 120,000",
                "param": "body.input",
            },
        ),
        (
            TOO_MANY_INPUTS,
            "voyage-3.5",
            {
                "code": "invalid_request",
                "line": None,
                "message": "100,001 inputs in all; a batch takes at most 100,000",
                "param": None,
            },
        ),
        (
            GOOD + line("c", {"input": ["t"] * 1001}),
            "voyage-3.5",
            {
                "code": "invalid_request",
                "line": 3,
                "message": "body.input has 1,001 texts; at most 1,000 per request",
                "param": "body.input",
            },
        ),
    ],
)
async def test_the_simulator_fails_validation_beyond_the_same_limits(
    sim: Simulator, content: bytes, model: str, error: dict[str, object]
) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url + "/", headers={"Authorization": "Bearer k"}) as http:
        batch_id = await create(http, content, model)
    sim.advance(3600)
    batch = sim.batch(batch_id)
    assert batch["status"] == "failed" and batch["errors"]["data"] == [error]


async def test_the_simulator_accepts_a_batch_at_the_limits(sim: Simulator) -> None:
    content = b"".join(line(f"r{i}", {"input": ["t"] * 1000}) for i in range(100))
    async with httpx.AsyncClient(base_url=sim.base_url + "/", headers={"Authorization": "Bearer k"}) as http:
        batch_id = await create(http, content)
    sim.advance(3600)
    assert sim.batch(batch_id)["status"] == "completed"
    assert sim.batch(batch_id)["request_counts"]["total"] == 100


async def test_the_simulator_refuses_an_upload_over_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_limits, "MAX_FILE_BYTES", 100)
    async with (
        run_simulator(speed=0) as sim,
        httpx.AsyncClient(base_url=sim.base_url + "/", headers={"Authorization": "Bearer k"}) as http,
    ):
        small = await http.post("files", files={"file": ("s.jsonl", GOOD)}, data={"purpose": "batch"})
        big = await http.post("files", files={"file": ("b.jsonl", jsonl(10))}, data={"purpose": "batch"})
    assert small.status_code == 200
    assert big.status_code == 400 and "the limit is 100 (1 GB)" in big.json()["detail"]
