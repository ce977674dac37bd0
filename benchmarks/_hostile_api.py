"""A hostile Voyage Batch API on loopback, for the tests and the hostile-API reliability run.

It serves a few good batches that move with the clock, and answers each request by its mode:
the first segment of the path (``http://127.0.0.1:PORT/MODE/v1``), or with ``live`` whatever
``live_mode`` says at that moment (the reliability run switches it phase by phase).

Modes:

- ``ok``: the truth, promptly.
- ``drip``: the true answer, one byte every ``drip_every`` seconds.
- ``huge``: the true answer padded to ``huge_bytes`` (with a ``Content-Length``).
- ``endless``: a chunked body that never ends (until the client hangs up, or ``endless_cap``).
- ``bomb``: gzip of the true answer padded with ``bomb_bytes`` of spaces: valid JSON once
  decompressed, about a thousandth of that on the wire.
- ``poison``: batches whose ``request_counts.total`` is ``"inf"`` or an integer of 400 digits.
- ``retry-after`` / ``retry-after-date``: 429 with ``Retry-After: 99999999999`` / a date in 9999.
- ``pages``: every list says ``has_more`` and hands out the same cursor again.
- ``liar``: batch objects name the id ``liar_id`` whatever was asked (an absolute path, say).

Files (``GET /files/{id}/content``) are ``file_bytes`` of JSONL, streamed (``drip``: half of
it, then silence). Every loop that
writes is bounded in bytes and time, and ``aclose`` ends every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

MODES = (
    "ok", "drip", "huge", "endless", "bomb", "poison", "retry-after", "retry-after-date", "pages", "liar",
)  # fmt: skip
CHUNK = 64 * 1024
#: No answer is written for longer than this, whatever its mode.
MAX_ANSWER_SECONDS = 600.0


@dataclass
class GoodBatch:
    id: str
    total: int
    started: float
    seconds: float

    def completed(self, now: float) -> int:
        return min(self.total, int(self.total * (now - self.started) / self.seconds))

    def to_dict(self, now: float, batch_id: str | None = None) -> dict[str, Any]:
        done = self.completed(now)
        ended = done >= self.total
        return {
            "id": batch_id or self.id,
            "object": "batch",
            "endpoint": "/v1/embeddings",
            "input_file_id": f"file-in-{self.id}",
            "completion_window": "12h",
            "status": "completed" if ended else "in_progress",
            "output_file_id": f"file-out-{self.id}" if ended else None,
            "error_file_id": None,
            "request_counts": {"total": self.total, "completed": done, "failed": 0},
            "metadata": {"label": self.id},
            "created_at": datetime.now(UTC).isoformat(),
        }


@dataclass
class HostileAPI:
    huge_bytes: int = 1 << 30
    bomb_bytes: int = 1 << 30
    drip_every: float = 5.0
    endless_cap: int = 1 << 34
    file_bytes: int = 1024
    liar_id: str = "batch-liar"
    live_mode: str = "ok"
    batches: dict[str, GoodBatch] = field(default_factory=dict)
    #: Requests by mode, bytes written by mode, and when a true answer (``ok``) was last served
    #: for a good batch, so a run can tell whether polling went on.
    served: Counter[str] = field(default_factory=Counter)
    written: Counter[str] = field(default_factory=Counter)
    good_answers: list[float] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bomb: bytes | None = None
        self._bomb_crc = 0

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def base_url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def add_batch(self, batch_id: str, total: int = 100, seconds: float = 10.0) -> GoodBatch:
        batch = GoodBatch(batch_id, total, time.monotonic(), seconds)
        self.batches[batch_id] = batch
        return batch

    # -- one connection, one answer ------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            await reader.readexactly(int(headers.get("content-length") or 0))
            async with asyncio.timeout(MAX_ANSWER_SECONDS):
                await self._answer(method, target, reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(
        self, method: str, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        url = urlsplit(target)
        _, mode, _v1, *route = url.path.split("/")
        if mode == "live":
            mode = self.live_mode
        self.served[mode] += 1
        now = time.monotonic()
        if mode in ("retry-after", "retry-after-date"):
            after = "99999999999" if mode == "retry-after" else "Fri, 31 Dec 9999 23:59:59 GMT"
            body = json.dumps({"detail": "Too many requests"}).encode()
            await self._write(writer, mode, 429, body, {"Retry-After": after})
            return
        if route[:1] == ["files"] and route[-1:] == ["content"]:
            await self._file(writer, mode)
            return
        status, truth = self._truth(method, route, parse_qs(url.query), mode, now)
        body = json.dumps(truth).encode()
        if mode == "drip" and status == 200:
            await self._drip(reader, writer, body)
        elif mode == "huge" and status == 200:
            await self._huge(writer, truth)
        elif mode == "endless" and status == 200:
            await self._endless(writer)
        elif mode == "bomb" and status == 200:
            await self._write(writer, mode, 200, self._bombed(body), {"Content-Encoding": "gzip"})
        else:
            await self._write(writer, mode, status, body)
            if mode == "ok" and status == 200 and route[:1] == ["batches"]:
                self.good_answers.append(now)

    def _truth(
        self, method: str, route: list[str], query: dict[str, list[str]], mode: str, now: float
    ) -> tuple[int, Any]:
        if route == ["batches"] and method == "GET":
            data = [batch.to_dict(now) for batch in self.batches.values()]
            if mode == "poison":
                data += [_poisoned(batch, kind) for kind, batch in enumerate(data[:2])]
            more = mode == "pages"
            last = "batch-cursor" if more else (data[-1]["id"] if data else None)
            page = {"object": "list", "data": data, "first_id": None, "last_id": last, "has_more": more}
            return 200, page
        if len(route) >= 2 and route[0] == "batches":
            batch = self.batches.get(route[1])
            if batch is None:
                return 404, {"detail": f"Batch {route[1]} not found."}
            answer = batch.to_dict(now, self.liar_id if mode == "liar" else None)
            if mode == "poison":
                answer = _poisoned(answer, self.served[mode], rename=False)
            return 200, answer
        return 404, {"detail": "Not found."}

    # -- ways of answering ---------------------------------------------------------------------

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        mode: str,
        status: int,
        body: bytes,
        extra: dict[str, str] | None = None,
    ) -> None:
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(extra or {})}
        writer.write(_head(status, headers) + body)
        await writer.drain()
        self.written[mode] += len(body)

    async def _drip(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        writer.write(_head(200, headers))
        for at in range(len(body)):
            writer.write(body[at : at + 1])
            await writer.drain()
            self.written["drip"] += 1
            with contextlib.suppress(TimeoutError):  # the client hung up: stop
                async with asyncio.timeout(self.drip_every):
                    if not await reader.read(1):
                        return

    async def _huge(self, writer: asyncio.StreamWriter, truth: Any) -> None:
        start = json.dumps(truth)[:-1].encode() + b', "padding": "'
        end = b'"}'
        padding = max(0, self.huge_bytes - len(start) - len(end))
        headers = {"Content-Type": "application/json", "Content-Length": str(len(start) + padding + len(end))}
        writer.write(_head(200, headers) + start)
        filler = b"x" * CHUNK
        while padding > 0:
            piece = filler[: min(CHUNK, padding)]
            writer.write(piece)
            await writer.drain()
            padding -= len(piece)
            self.written["huge"] += len(piece)
        writer.write(end)
        await writer.drain()

    async def _endless(self, writer: asyncio.StreamWriter) -> None:
        writer.write(_head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
        item = b'{"id": "batch-endless", "status": "in_progress"}, '
        piece = item * (CHUNK // len(item))
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        writer.write(b"1\r\n[\r\n")
        sent = 0
        while sent < self.endless_cap:
            writer.write(chunk)
            await writer.drain()
            sent += len(piece)
            self.written["endless"] += len(piece)

    def prepare_bomb(self) -> None:
        """Compress the bomb now (a second or two for a gigabyte), not on the first request."""
        self._bombed(b"{}")

    def _bombed(self, body: bytes) -> bytes:
        """One gzip member: ``bomb_bytes`` of spaces, then ``body`` (JSON allows whitespace
        before a value). The spaces are compressed once, and their CRC carried on from."""
        if self._bomb is None:
            packer = zlib.compressobj(9, zlib.DEFLATED, 31)
            spaces = b" " * (1 << 20)
            pieces, crc, left = [], 0, self.bomb_bytes
            while left > 0:
                piece = spaces[: min(left, len(spaces))]
                pieces.append(packer.compress(piece))
                crc = zlib.crc32(piece, crc)
                left -= len(piece)
            pieces.append(packer.flush(zlib.Z_SYNC_FLUSH))  # byte-aligned, not the last block
            self._bomb, self._bomb_crc = b"".join(pieces), crc
        tail = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, ending the stream
        size = (self.bomb_bytes + len(body)) & 0xFFFFFFFF
        trailer = struct.pack("<II", zlib.crc32(body, self._bomb_crc), size)
        return self._bomb + tail.compress(body) + tail.flush() + trailer

    async def _file(self, writer: asyncio.StreamWriter, mode: str) -> None:
        line = b'{"custom_id": "request-0", "response": {"status_code": 200, "body": {"data": []}}}\n'
        count = max(1, self.file_bytes // len(line))
        writer.write(
            _head(200, {"Content-Type": "application/jsonl", "Content-Length": str(count * len(line))})
        )
        block = line * max(1, CHUNK // len(line))
        lines_per_block = block.count(b"\n")
        left = count
        if mode == "drip":  # half the file, then nothing more until the client hangs up
            writer.write(line * (count // 2))
            await writer.drain()
            await asyncio.sleep(MAX_ANSWER_SECONDS)
        while left > 0:
            piece = block if left >= lines_per_block else line * left
            writer.write(piece)
            await writer.drain()
            left -= piece.count(b"\n")
            self.written[mode] += len(piece)


def _head(status: int, headers: dict[str, str]) -> bytes:
    reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items()), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _poisoned(batch: dict[str, Any], kind: int, rename: bool = True) -> dict[str, Any]:
    """The batch with a total no integer type holds: ``"inf"`` (even ``kind``), or an integer
    of 400 digits (odd); renamed, unless it stands for the batch asked for."""
    total: object = "inf" if kind % 2 == 0 else int("9" * 400)
    counts = {**batch["request_counts"], "total": total}
    return {**batch, "id": batch["id"] + ("-poison" if rename else ""), "request_counts": counts}


@contextlib.asynccontextmanager
async def serving(api: HostileAPI) -> AsyncIterator[HostileAPI]:
    await api.start()
    try:
        yield api
    finally:
        await api.aclose()


@contextlib.contextmanager
def in_thread(api: HostileAPI) -> Iterator[HostileAPI]:
    """Serve ``api`` from an event loop of its own in a thread (for a run that is not async)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(api.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="hostile-api", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield api
    finally:
        asyncio.run_coroutine_threadsafe(api.aclose(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
