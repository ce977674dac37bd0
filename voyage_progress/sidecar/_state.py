"""The sidecar's watch list on disk, so that a restarted sidecar picks up where it stopped, and
what it learned of how long batches queue and finalize (``history``, for the ETA). A file
without ``history`` (written by an older version) loads with an empty one.

Writes are atomic (a temporary file in the same folder, flushed, then renamed over the old
one): a crash or a power cut mid-write leaves the previous list, never half a file. A state file
that is a symbolic link is written through it: the rename goes over the file it points to, in
that file's folder, and the link stays a link.

One sidecar per file: two on one file would each write their own list over the other's. The
owner holds the system's lock (``flock``; ``msvcrt.locking`` on Windows) on a file next to the
state file, named like it with ``.lock`` added and holding the owner's pid; a second sidecar is
refused in one line naming that pid. The system drops the lock when its process ends, however it
ends, so the lock of a killed sidecar is taken over without a word. Where the folder allows no
lock (some network file systems), the sidecar warns and goes on without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .._defaults import DEFAULT_PROVIDER
from ..core.frame import EventKind
from ..core.phases import PhaseHistory
from ..core.text import clean_label, is_batch_id
from ..watcher import WatchEntry

__all__ = ["SaveSchedule", "StateFile"]

logger = logging.getLogger("voyage_progress.state")
VERSION = 1
#: Seconds between two saves at most: a page of a thousand batches discovered is one save, not
#: a thousand rewrites (and fsyncs) of the whole file.
SAVE_INTERVAL = 1.0


def _to_dict(entry: WatchEntry) -> dict[str, Any]:
    """An entry as the file has it; ``reported_end`` is the end said (the format's own name)."""
    return {
        "id": entry.batch_id,
        "slot": entry.slot,
        "label": entry.label,
        "auto": entry.auto,
        "reported_end": entry.end_said,
        "provider": entry.provider,
    }


def _from_dict(data: Any) -> WatchEntry | None:
    if not isinstance(data, dict) or not is_batch_id(data.get("id")):
        return None
    slot = data.get("slot")
    said = data.get("reported_end")
    provider = data.get("provider")
    return WatchEntry(
        batch_id=data["id"],
        slot=slot if isinstance(slot, int) and slot >= 0 else -1,
        label=clean_label(str(data.get("label") or "")),
        auto=bool(data.get("auto", False)),
        end_said=EventKind(said) if said in _ENDS else None,
        # files written before there were other providers are Voyage's
        provider=provider if isinstance(provider, str) and provider else DEFAULT_PROVIDER,
    )


_ENDS = frozenset(kind.value for kind in EventKind if kind.is_end)


class StateFile:
    """Load and save the watch list. Problems are reported once and never stop the sidecar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_error: str | None = None
        #: What ``load`` found of the phases' history (empty before, or in an older file).
        self.history = PhaseHistory()
        self._lock: int | None = None

    @property
    def target(self) -> Path:
        """The file written: the state file, or the file it links to."""
        return Path(os.path.realpath(self.path))

    @property
    def lock_path(self) -> Path:
        target = self.target
        return target.with_name(target.name + ".lock")

    def lock(self) -> None:
        """Become the file's one owner; ``OSError`` (one line) when another sidecar is."""
        path = self.lock_path
        with contextlib.suppress(OSError):  # else opening the lock file says what is wrong
            path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # the owner may remove the lock file between our open and our lock
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                return self._unlocked(exc.strerror or str(exc))
            try:
                held = _try_lock(descriptor)
            except OSError as exc:  # a file system without locks
                os.close(descriptor)
                return self._unlocked(exc.strerror or str(exc))
            if not held:
                os.close(descriptor)
                owner = _owner(path)
                raise OSError(
                    f"state file {self.path} is in use by {owner}: stop that one first, "
                    "or give this one another --state-file"
                )
            if _same_file(descriptor, path):
                os.ftruncate(descriptor, 0)
                os.write(descriptor, f"{os.getpid()}\n".encode())
                self._lock = descriptor
                return None
            os.close(descriptor)
        return self._unlocked("its lock file keeps being replaced")

    def unlock(self) -> None:
        """Let another sidecar have the file; the lock file goes too (where the folder allows)."""
        descriptor, self._lock = self._lock, None
        if descriptor is not None:
            _release(descriptor, self.lock_path)

    def _unlocked(self, reason: str) -> None:
        logger.warning(
            "cannot lock the state file %s (%s): a second sidecar on it would not be stopped",
            self.path,
            reason,
        )

    def load(self) -> list[WatchEntry]:
        """The saved list; empty when there is none. A damaged file is set aside, not fatal."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise OSError(f"cannot read the state file {self.path}: {exc.strerror or exc}") from None
        try:
            document = json.loads(data.decode("utf-8"))
            entries = document["batches"]
            if not isinstance(entries, list):
                raise TypeError("batches is not a list")
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
            self._set_aside()
            return []
        self.history = PhaseHistory.from_dict(document.get("history"))
        return [entry for entry in map(_from_dict, entries) if entry is not None]

    def _set_aside(self) -> None:
        """Move a damaged file out of the way, kept for a person to look at."""
        target = self.target
        damaged = target.with_name(target.name + ".damaged")
        try:
            os.replace(target, damaged)
        except OSError as exc:
            raise OSError(
                f"state file {self.path} is damaged and cannot be set aside as {damaged}: "
                f"{exc.strerror or exc}"
            ) from None
        logger.warning("state file %s is damaged; moved it to %s and started empty", self.path, damaged)

    def save(self, entries: Iterable[WatchEntry], history: PhaseHistory | None = None) -> bool:
        """Write the list (and the history) atomically. False (and a logged warning, once) when
        the disk refuses."""
        document: dict[str, Any] = {"version": VERSION, "batches": [_to_dict(e) for e in entries]}
        if history is not None:
            document["history"] = history.to_dict()
        data = json.dumps(document, indent=1).encode()
        target = self.target
        try:
            with contextlib.suppress(FileExistsError):  # a file in the folder's place: mkstemp says so
                target.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            message = f"cannot save the state file {self.path}: {exc.strerror or exc}"
            if message != self.last_error:
                logger.warning("%s (watching goes on; a restart will not remember changes)", message)
            self.last_error = message
            return False
        if self.last_error:  # a warning, to close the one the user saw
            logger.warning("state file %s saved again; a restart will remember the watch list", self.path)
        self.last_error = None
        return True


class SaveSchedule:
    """When to save: the first change after a quiet second at once, later ones at most once
    a second, each time the list as it is then; a change ``at_once`` (an end that is out) is
    saved without waiting out the second. A save runs in a worker thread (a slow disk's fsync
    must not hold up the event loop), one at a time. ``flush`` saves what is left."""

    def __init__(
        self, state: StateFile, entries: Callable[[], list[WatchEntry]], interval: float = SAVE_INTERVAL
    ) -> None:
        self.state = state
        self.interval = interval
        self.saves = 0
        self._entries = entries
        self._wanted = False
        self._saved_at = -math.inf
        self._hurry = asyncio.Event()
        self._flushing = False
        self._saver: asyncio.Task[None] | None = None

    def save_now(self) -> None:
        """Save at once, in this thread (before anything else runs)."""
        self.state.save(self._entries(), self._history())
        self._saved_at = time.monotonic()
        self.saves += 1

    def _history(self) -> PhaseHistory:
        """A copy of what the watcher learned, taken here: the saving thread must not read it
        while the event loop adds to it."""
        return PhaseHistory.from_dict(self.state.history.to_dict())

    def changed(self, *, at_once: bool = False) -> None:
        """Something to save: within a second, or ``at_once``. An end that is out is saved at
        once: until it is on disk, a kill makes the next sidecar send it again. (Ends come at
        most once per batch and as fast as the request budget reads them: a bounded number of
        saves, where a flood of watch commands is not.)"""
        self._wanted = True
        if at_once:
            self._hurry.set()
        if self._saver is None or self._saver.done():
            self._saver = asyncio.get_running_loop().create_task(self._saving(), name="state-file")

    async def flush(self) -> None:
        """Save what changed, now; return once it is on disk (or the disk refused it)."""
        self._flushing = True
        self._hurry.set()
        if self._wanted and (self._saver is None or self._saver.done()):
            self._saver = asyncio.get_running_loop().create_task(self._saving(), name="state-file")
        if self._saver is not None:
            await self._saver

    async def _saving(self) -> None:
        while self._wanted:
            wait = self._saved_at + self.interval - time.monotonic()
            if wait > 0 and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), wait)
            self._wanted = False
            if not self._flushing:  # this save takes what hurried it; later changes wait again
                self._hurry.clear()
            await asyncio.to_thread(self.state.save, self._entries(), self._history())
            self._saved_at = time.monotonic()
            self.saves += 1


if sys.platform == "win32":
    import msvcrt

    def _try_lock(descriptor: int) -> bool:
        """Take the system's lock without waiting: False when another process holds it."""
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

    def _release(descriptor: int, path: Path) -> None:
        """Unlock and close, then remove the lock file: a file open elsewhere cannot be removed
        here, so it goes only if no other sidecar has opened it meanwhile."""
        with contextlib.suppress(OSError):
            os.lseek(descriptor, 0, os.SEEK_SET)
            msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
        os.close(descriptor)
        with contextlib.suppress(OSError):
            path.unlink()

else:
    import fcntl

    def _try_lock(descriptor: int) -> bool:
        """Take the system's lock without waiting: False when another process holds it."""
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _release(descriptor: int, path: Path) -> None:
        """Remove the lock file while its lock is still held, then close (which lets it go): no
        other sidecar can lock the file in between, only to lose it."""
        with contextlib.suppress(OSError):  # a read-only folder: the file stays, unlocked
            path.unlink()
        os.close(descriptor)


def _same_file(descriptor: int, path: Path) -> bool:
    """Whether the locked file is still the one at ``path`` (its owner did not just remove it)."""
    try:
        here, there = os.fstat(descriptor), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _owner(lock_path: Path) -> str:
    try:
        pid = lock_path.read_text().strip()
    except OSError:  # Windows: the locked byte cannot be read
        pid = ""
    return f"another sidecar (pid {pid})" if pid.isdigit() else "another sidecar"
