"""Ctrl+C, SIGTERM and SIGHUP as a clean stop, on every platform.

POSIX event loops take signal handlers directly. Windows' do not (``add_signal_handler``
raises NotImplementedError there), so the handler is installed with ``signal.signal`` and hands
the stop to the loop thread-safely; Ctrl+Break (SIGBREAK) counts too. SIGHUP (the terminal
that ran the sidecar was closed) would otherwise end it without a word on OSC, ``running``
left at 1; where the platform has it, it stops the sidecar like SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    wanted = [signal.SIGINT, signal.SIGTERM]
    wanted += [getattr(signal, name) for name in ("SIGBREAK", "SIGHUP") if hasattr(signal, name)]
    restore: list[tuple[signal.Signals, Any]] = []
    for sig in wanted:
        try:
            loop.add_signal_handler(sig, stop.set)
            restore.append((sig, None))
        except (NotImplementedError, RuntimeError, ValueError):
            previous = signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
            restore.append((sig, previous))
    try:
        yield
    finally:
        for sig, previous in restore:
            if previous is None:
                loop.remove_signal_handler(sig)
            else:
                signal.signal(sig, previous)
