"""Log lines to a stream that may be slow, full or gone, without ever holding up the caller.

A sidecar's standard output is often a pipe: ``| head -1`` closes it after a line, and a
service manager or a shell that stops reading leaves it full. Written from the event loop, the
first raises ``BrokenPipeError`` wherever a line is logged (inside the supervisor's own
``except``, it stopped polling for good) and the second blocks the loop in a ``write`` for good
(no OSC, no signal handled). So lines go into a bounded queue and a thread of their own writes
them: when the queue is full a line is dropped and counted (the count is written once there is
room again), and after a write fails the stream is given up, silently. Threads and ``os.write``
work the same on Windows.

The thread writes to the stream's file descriptor itself rather than through the stream: a
thread blocked in a write of a Python stream holds that stream's lock, which the interpreter
takes to flush it at exit (a fatal error with a daemon thread still holding it). Windows
consoles are the exception (their text goes through the stream to keep its characters); a
stream with no descriptor (in memory) is written at once, as nothing can hold it up.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import TextIO

__all__ = ["LineWriter"]

#: Lines that may wait for a slow reader before new ones are dropped.
QUEUE_LINES = 1000
#: Seconds ``close`` waits for the lines still queued to be written.
CLOSE_TIMEOUT = 2.0

Write = Callable[[str], None]


class LineWriter:
    """``write(line)`` returns at once; the line leaves in order, or is dropped and counted.

    ``dropped_line(count)`` is the line that says ``count`` lines were dropped, in the caller's
    format (a log line, a JSON object)."""

    def __init__(
        self, stream: TextIO, dropped_line: Callable[[int], str], capacity: int = QUEUE_LINES
    ) -> None:
        self.dropped = 0
        self.failed = False
        self._dropped_line = dropped_line
        self._lock = threading.Lock()
        self._unreported = 0
        self._write, threaded = _writer(stream)
        self._queue: queue.Queue[str | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(capacity)
            self._thread = threading.Thread(target=self._run, name="voyage-progress-output", daemon=True)
            self._thread.start()

    def write(self, line: str) -> None:
        if self.failed:
            return
        if self._queue is None:
            self._write_now(line)
            return
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            with self._lock:
                self.dropped += 1
                self._unreported += 1

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Let the queued lines out, waiting at most ``timeout`` seconds for a slow reader."""
        if self._queue is None or self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)

    def _run(self) -> None:
        assert self._queue is not None
        while (line := self._queue.get()) is not None:
            with self._lock:
                unreported, self._unreported = self._unreported, 0
            if unreported:
                self._write_now(self._dropped_line(unreported))
            self._write_now(line)
            if self.failed:
                return

    def _write_now(self, line: str) -> None:
        try:
            self._write(line)
        except (OSError, ValueError):  # a closed pipe, a vanished terminal, a closed stream
            self.failed = True


def _writer(stream: TextIO) -> tuple[Write, bool]:
    """How to write a line to ``stream``, and whether from a thread."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: in memory
        descriptor = -1
    if descriptor < 0:
        return _through(stream), False
    with contextlib.suppress(OSError, ValueError):
        stream.flush()  # what was written before goes first
    if sys.platform == "win32" and _is_console(stream):
        return _through(stream), True
    encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(line: str) -> None:
        data = (line + os.linesep).encode(encoding, "backslashreplace")
        while data:
            data = data[os.write(descriptor, data) :]

    return write, True


def _through(stream: TextIO) -> Write:
    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return write


def _is_console(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
