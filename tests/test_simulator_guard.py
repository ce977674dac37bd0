"""The simulator's door: ``/_sim`` behind the API key, bounded arguments, and bodies capped as
they arrive, as Voyage caps them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import jsonl
from voyage_progress.core.limits import MAX_FILE_BYTES
from voyage_progress.simulator import Simulator, run_simulator
from voyage_progress.simulator._limits import (
    MAX_ADVANCE_SECONDS,
    MAX_JSON_BODY_BYTES,
    MAX_REQUESTS_PER_BATCH,
)

KEY = "right"
STEERING = [
    ("GET", "/_sim/stats", {}),
    ("POST", "/_sim/advance", {"params": {"seconds": 3600}}),
    ("POST", "/_sim/batches", {"json": {"requests": 5}}),
    ("GET", "/_sim/scenarios", {}),
    ("POST", "/_sim/faults", {"content": b"503=1"}),
]


def test_the_limits_are_voyages() -> None:
    assert MAX_FILE_BYTES == 1 << 30  # "up to 1 GB file sizes", read as the larger 1 GiB
    assert MAX_REQUESTS_PER_BATCH == 100_000  # "100K inputs per batch", one at least per request


@pytest.fixture
async def keyed() -> AsyncIterator[Simulator]:
    async with run_simulator(speed=0, api_key=KEY) as sim:
        yield sim


async def test_steering_needs_the_key_when_one_is_set(keyed: Simulator) -> None:
    async with httpx.AsyncClient(base_url=keyed.url) as http:
        for method, path, extra in STEERING:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                refused = await http.request(method, path, headers=headers, **extra)  # type: ignore[arg-type]
                assert refused.status_code == 401, (path, headers)
                assert "API key" in refused.json()["detail"]
        assert keyed.clock.elapsed() == 0 and not keyed.store.batches and not keyed.faults.any
        for method, path, extra in STEERING:
            answer = await http.request(method, path, headers={"Authorization": f"Bearer {KEY}"}, **extra)  # type: ignore[arg-type]
            assert answer.status_code == 200, (path, answer.text)
    assert keyed.clock.elapsed() == 3600 and len(keyed.store.batches) == 1 and keyed.faults.any
    async with run_simulator(speed=0) as open_sim, httpx.AsyncClient(base_url=open_sim.url) as http:
        assert (await http.post("/_sim/advance", params={"seconds": 60})).status_code == 200  # no key set


@pytest.mark.parametrize("seconds", ["1e15", str(MAX_ADVANCE_SECONDS + 1), "-1", "nan", "inf", "soon"])
async def test_time_moves_a_bounded_step_at_a_time(sim: Simulator, seconds: str) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        refused = await http.post("/_sim/advance", params={"seconds": seconds})
        assert refused.status_code == 400 and str(MAX_ADVANCE_SECONDS) in refused.json()["detail"]
        assert sim.clock.elapsed() == 0
        most = await http.post("/_sim/advance", params={"seconds": MAX_ADVANCE_SECONDS})
    assert most.status_code == 200 and sim.clock.elapsed() == MAX_ADVANCE_SECONDS
    sim.batch(sim.add_batch(3))  # the clock still makes dates


@pytest.mark.parametrize(
    "body",
    [
        {"requests": 3_000_000},
        {"requests": MAX_REQUESTS_PER_BATCH + 1},
        {"requests": 0},
        {"requests": -1},
        {"requests": 2.5},
        {"requests": "many"},
        {"requests": True},
        {"requests": 5, "metadata": "label"},
        [1, 2],
    ],
)
async def test_quick_batches_are_as_large_as_voyage_allows(sim: Simulator, body: object) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        refused = await http.post("/_sim/batches", json=body)
    assert refused.status_code == 400, refused.text
    assert not sim.store.batches and not sim.store.files


async def test_bad_fault_specs_are_a_400(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        refused = await http.post("/_sim/faults", content=b"lots=1")
    assert refused.status_code == 400 and "bad fault" in refused.json()["detail"]


# -- bodies: capped while they arrive -----------------------------------------------------------------

BOUNDARY = "xyzzy"


async def raw_request(sim: Simulator, head: str, body: bytes = b"", chunk: int = 64 * 1024) -> bytes:
    """Send ``head`` and ``body`` (never ending it when chunked) on a raw connection; return the
    answer's first bytes, or b"" when none comes within 5 s."""
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    try:
        writer.write(head.encode())
        chunked = "chunked" in head.lower()
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        with contextlib.suppress(TimeoutError, ConnectionError):
            return await asyncio.wait_for(reader.read(4096), 5)
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def upload_head(sim: Simulator, length: str = "Transfer-Encoding: chunked") -> str:
    return (
        f"POST /v1/files HTTP/1.1\r\nHost: {sim.host}:{sim.port}\r\nAuthorization: Bearer k\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{length}\r\n\r\n"
    )


def file_part(content: bytes) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + content


async def test_an_upload_over_the_limit_is_refused_while_it_arrives() -> None:
    limit = 256 * 1024
    async with run_simulator(speed=0, max_file_bytes=limit) as sim:
        # four times the limit is sent and the body never ends: only a server that counts as it
        # reads answers at all
        answer = await raw_request(sim, upload_head(sim), file_part(b"x" * (4 * limit)))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert f"at most {limit} bytes".encode() in answer
        assert not sim.store.files


async def test_an_upload_that_says_it_is_too_large_is_refused_unread(sim: Simulator) -> None:
    answer = await raw_request(sim, upload_head(sim, f"Content-Length: {2 * MAX_FILE_BYTES}"))
    assert answer.startswith(b"HTTP/1.1 413") and f"at most {MAX_FILE_BYTES} bytes".encode() in answer


async def upload(http: httpx.AsyncClient, content: bytes) -> httpx.Response:
    return await http.post("files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})


async def test_a_file_of_the_limit_fits_and_one_byte_more_does_not() -> None:
    content = jsonl(2000)
    async with (
        run_simulator(speed=0, max_file_bytes=len(content)) as sim,
        httpx.AsyncClient(base_url=sim.base_url + "/", headers={"Authorization": "Bearer k"}) as http,
    ):
        fits = await upload(http, content)
        over = await upload(http, content + b"\n")
    assert fits.status_code == 200 and fits.json()["bytes"] == len(content)
    assert over.status_code == 413 and f"at most {len(content)} bytes" in over.json()["detail"]
    assert len(sim.store.files) == 1


@pytest.mark.parametrize("path", ["/v1/batches", "/_sim/batches", "/_sim/faults"])
async def test_other_bodies_are_small(sim: Simulator, path: str) -> None:
    padding = "x" * MAX_JSON_BODY_BYTES
    body = json.dumps({"requests": 1, "metadata": {"label": padding}}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {sim.host}:{sim.port}\r\nAuthorization: Bearer k\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    answer = await raw_request(sim, head, body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert not sim.store.batches
