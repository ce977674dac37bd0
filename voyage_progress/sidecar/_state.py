"""The sidecar's watch list on disk, so that a restarted sidecar picks up where it stopped.

Writes are atomic (a temporary file in the same folder, flushed, then renamed over the old
one): a crash or a power cut mid-write leaves the previous list, never half a file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._defaults import DEFAULT_PROVIDER
from ..core.frame import EventKind
from ..core.text import clean_label, is_batch_id
from ..watcher import WatchEntry

__all__ = ["StateFile"]

logger = logging.getLogger("voyage_progress.state")
VERSION = 1


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

    def load(self) -> list[WatchEntry]:
        """The saved list; empty when there is none. A damaged file is set aside, not fatal."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise OSError(f"cannot read the state file {self.path}: {exc.strerror or exc}") from None
        try:
            entries = json.loads(data.decode("utf-8"))["batches"]
            if not isinstance(entries, list):
                raise TypeError("batches is not a list")
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
            self._set_aside()
            return []
        return [entry for entry in map(_from_dict, entries) if entry is not None]

    def _set_aside(self) -> None:
        """Move a damaged file out of the way, kept for a person to look at."""
        damaged = self.path.with_name(self.path.name + ".damaged")
        try:
            os.replace(self.path, damaged)
        except OSError as exc:
            raise OSError(
                f"state file {self.path} is damaged and cannot be set aside as {damaged}: "
                f"{exc.strerror or exc}"
            ) from None
        logger.warning("state file %s is damaged; moved it to %s and started empty", self.path, damaged)

    def save(self, entries: Iterable[WatchEntry]) -> bool:
        """Write the list atomically. False (and a logged warning, once) when the disk refuses."""
        document = {"version": VERSION, "batches": [_to_dict(e) for e in entries]}
        data = json.dumps(document, indent=1).encode()
        try:
            with contextlib.suppress(FileExistsError):  # a file in the folder's place: mkstemp says so
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
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
