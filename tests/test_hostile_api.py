"""The client, the watcher and the commands against a hostile API on loopback: answers that
drip, that never end, that are huge or decompress to far more than they weigh, a ``Retry-After``
of centuries, a list that never moves on, and ids that are paths. The server is real (HTTP over
127.0.0.1, ``benchmarks/_hostile_api.py``); the caps are set small so the tests stay fast."""

from __future__ import annotations

import asyncio
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

from benchmarks._hostile_api import HostileAPI, serving
from tests.test_watch_command import env_for
from voyage_progress import (
    APITimeoutError,
    MalformedResponseError,
    RateLimitError,
    ResponseTooLargeError,
    RetryPolicy,
    VoyageBatchClient,
)
from voyage_progress._defaults import MAX_RETRY_AFTER
from voyage_progress.providers.retry import parse_retry_after
from voyage_progress.watcher import Intervals, Watcher

T = TypeVar("T")
RETRIES = RetryPolicy(max_retries=2, backoff_base=0.001, backoff_max=0.01)
CAP = 64 * 1024


@pytest.fixture
async def api() -> AsyncIterator[HostileAPI]:
    hostile = HostileAPI(
        huge_bytes=16 << 20, bomb_bytes=128 << 20, endless_cap=32 << 20, drip_every=0.1, file_bytes=32 << 20
    )
    hostile.add_batch("batch-good", total=100, seconds=3600)
    async with serving(hostile):
        yield hostile


def client_for(api: HostileAPI, mode: str, **options: object) -> VoyageBatchClient:
    settings: dict[str, object] = {"retry_policy": RETRIES, "max_response_bytes": CAP, **options}
    return VoyageBatchClient(api_key="k", base_url=api.base_url(mode), **settings)  # type: ignore[arg-type]


async def within(seconds: float, call: Awaitable[T]) -> T:
    """``call``, failing the test (instead of hanging it) when it takes longer than ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            return await call
    except TimeoutError:
        pytest.fail(f"still waiting after {seconds:g} s")


# -- a deadline on the whole request, a cap on the decoded answer ---------------------------------


async def test_a_dripping_answer_is_cut_at_the_deadline(api: HostileAPI) -> None:
    """A byte every 0.1 s never trips a per-read timeout of 0.4 s; the whole answer would take
    half a minute. Each attempt is cut at 0.4 s, then retried, then reported."""
    async with client_for(api, "drip", timeout=0.4) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as raised:
            await within(5, client.get_batch("batch-good"))
    elapsed = time.monotonic() - started
    assert 3 * 0.4 <= elapsed < 3 * 0.4 + 1.0
    assert api.served["drip"] == RETRIES.max_retries + 1
    assert str(raised.value) == f"{api.base_url('drip')} did not answer GET /batches/batch-good within 0.4 s"


@pytest.mark.parametrize("mode", ["huge", "endless", "bomb"])
async def test_an_answer_past_the_cap_is_given_up_and_retried(api: HostileAPI, mode: str) -> None:
    tracemalloc.start()
    try:
        async with client_for(api, mode) as client:
            with pytest.raises(ResponseTooLargeError) as raised:
                await within(10, client.list_batches())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(raised.value)
    assert message.startswith("the answer to GET /batches (200) is longer than 65,536 bytes")
    assert ("once decompressed" in message) == (mode == "bomb") and "\n" not in message
    assert api.served[mode] == RETRIES.max_retries + 1  # a transient failure: retried
    # Never the whole answer in memory: the bomb decodes to 128 MB (64 MB at most comes out of
    # one read of 64 KB); the others are 16 MB and endless.
    assert peak < (80 << 20 if mode == "bomb" else 4 << 20), f"peak {peak / 1e6:.1f} MB"


async def test_the_cap_does_not_get_in_the_way_of_an_ordinary_answer(api: HostileAPI) -> None:
    async with client_for(api, "ok") as client:
        assert (await client.get_batch("batch-good")).request_counts.total == 100


async def test_a_poll_that_hangs_turns_api_ok_off_before_it_fails(api: HostileAPI) -> None:
    """The first poll succeeds; then every answer drips. The poll (eight attempts of 0.5 s) takes
    over four seconds to fail, but ``api_ok`` goes to 0 once no answer came for the limit."""
    patient = RetryPolicy(max_retries=7, backoff_base=0.001, backoff_max=0.01)
    async with client_for(api, "live", timeout=0.5, retry_policy=patient) as client:
        watcher = Watcher(client, intervals=Intervals(poll=0.2, minimum=0.1, maximum=1.0))
        watcher.watch("batch-good")
        await watcher.poll_once()
        assert watcher.health.api_ok
        api.live_mode = "drip"
        watcher.refresh()
        poll = asyncio.create_task(watcher.poll_once())
        await asyncio.sleep(3.0)
        assert not poll.done(), "the poll ended: the test proves nothing"
        assert not watcher.health.api_ok
        assert watcher.health.message.startswith("API not answering: no answer for 3 s")
        assert watcher.silence_limit() == 2.5  # the deadline and its margin, over three intervals
        await within(10, poll)
    assert (
        watcher.health.message.startswith("API unreachable:") and "did not answer" in watcher.health.message
    )


# -- Retry-After ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["99999999999", "1e300", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_an_absurd_retry_after_is_capped(value: str) -> None:
    assert parse_retry_after(value) == MAX_RETRY_AFTER


@pytest.mark.parametrize("mode", ["retry-after", "retry-after-date"])
async def test_a_retry_after_of_centuries_does_not_stop_polling(api: HostileAPI, mode: str) -> None:
    api.live_mode = mode
    async with client_for(api, "live") as client:
        with pytest.raises(RateLimitError) as raised:
            await client.get_batch("batch-good")
        assert raised.value.retry_after == MAX_RETRY_AFTER
        watcher = Watcher(client, intervals=Intervals(poll=0.2, minimum=0.1, maximum=0.5))
        watcher.watch("batch-good")
        stop = asyncio.Event()
        running = asyncio.create_task(watcher.run(stop))
        try:
            while api.served[mode] < 2:  # the check above, then the watcher's first poll
                await within(5, asyncio.sleep(0.01))
            assert watcher.next_cycle_at() - watcher.clock() <= 0.5  # the slowest polling asked for
            api.live_mode = "ok"
            while not watcher.health.api_ok:
                await within(3, asyncio.sleep(0.01))
        finally:
            stop.set()
            await running


# -- lists that never end, ids that are paths, files that do not fit in memory ---------------------


async def test_a_list_that_never_moves_on_ends_with_an_error(api: HostileAPI) -> None:
    listed = []

    async def list_all(client: VoyageBatchClient) -> None:
        async for batch in client.iter_batches(limit=100):
            listed.append(batch.id)

    async with client_for(api, "pages") as client:
        with pytest.raises(MalformedResponseError, match="does not move on"):
            await within(5, list_all(client))
    assert listed == ["batch-good", "batch-good"]  # what it listed, then the error
    assert api.served["pages"] == 2


async def run_cli(*args: str, base_url: str, cwd: Path) -> tuple[int, str, str]:
    env = env_for()
    env.update(VOYAGE_API_KEY="k", VOYAGE_BASE_URL=base_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voyage_progress",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    try:
        out, err = await within(30, proc.communicate())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_list_all_stops_when_the_cursor_does_not_move(api: HostileAPI, tmp_path: Path) -> None:
    code, out, err = await run_cli("list", "--all", base_url=api.base_url("pages"), cwd=tmp_path)
    assert code == 1 and len(out.splitlines()) == 2  # the two pages it did list
    assert err.count("\n") == 1 and "does not move on" in err and "Traceback" not in err


@pytest.mark.parametrize("answered", ["batch-other", "a path"])
async def test_results_are_named_after_the_id_asked_for(
    api: HostileAPI, tmp_path: Path, answered: str
) -> None:
    """The server names the batch otherwise, or ``/…/elsewhere/evil``: nothing is written
    there; the files go to the current folder, named after the id asked for."""
    api.file_bytes = 1000
    api.add_batch("batch-done", total=5, seconds=0.001)
    elsewhere, here = tmp_path / "elsewhere", tmp_path / "here"
    elsewhere.mkdir()
    here.mkdir()
    api.liar_id = str(elsewhere / "evil") if answered == "a path" else answered
    code, out, err = await run_cli("results", "batch-done", base_url=api.base_url("liar"), cwd=here)
    assert not list(elsewhere.iterdir())
    if answered == "a path":  # such an id is no batch id at all: refused as an unreadable answer
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
        return
    assert (code, err) == (0, "")
    assert [p.name for p in here.iterdir()] == ["batch-done_output.jsonl"]
    assert out == "output: 12 lines -> batch-done_output.jsonl\n"  # 1,000 bytes of 82-byte lines


async def test_a_download_streams_to_disk(api: HostileAPI, tmp_path: Path) -> None:
    target = tmp_path / "output.jsonl"
    target.write_text("the previous file\n")
    tracemalloc.start()
    try:
        async with client_for(api, "ok") as client:
            written = await within(30, client.download_file_to("file-out", target))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == target.stat().st_size > 30 << 20
    assert [p.name for p in tmp_path.iterdir()] == ["output.jsonl"]  # no temporary file left
    assert peak < 8 << 20, f"peak {peak / 1e6:.1f} MB for a {written / 1e6:.0f} MB file"


async def test_a_download_cut_short_leaves_the_old_file(api: HostileAPI, tmp_path: Path) -> None:
    target = tmp_path / "output.jsonl"
    target.write_text("the previous file\n")
    async with client_for(api, "drip", timeout=0.3) as client:
        with pytest.raises(APITimeoutError):
            await within(10, client.download_file_to("file-out", target))
    assert [p.name for p in tmp_path.iterdir()] == ["output.jsonl"]
    assert target.read_text() == "the previous file\n"


async def test_results_into_a_missing_folder_is_one_line(api: HostileAPI, tmp_path: Path) -> None:
    api.file_bytes = 1000
    api.add_batch("batch-done", total=5, seconds=0.001)
    target = tmp_path / "missing" / "out.jsonl"
    code, out, err = await run_cli(
        "results", "batch-done", "-o", str(target), base_url=api.base_url("ok"), cwd=tmp_path
    )
    assert (code, out) == (1, "")
    assert err == f"voyage-progress: error: cannot write output to {target}: No such file or directory\n"
    assert not (tmp_path / "missing").exists()
