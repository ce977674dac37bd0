"""The sidecar's watch list on disk, so that a restarted sidecar picks up where it stopped, and
what it learned of how long batches queue and finalize (``history``, for the ETA). A file
without ``history`` (written by an older version) loads with an empty one.

Writes are atomic (a temporary file in the same folder, flushed, then renamed over the old
one): a crash or a power cut mid-write leaves the previous list, never half a file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._phases import PhaseHistory

__all__ = ["StateFile", "WatchEntry"]

logger = logging.getLogger("voyage_progress.state")
VERSION = 1


@dataclass(frozen=True)
class WatchEntry:
    batch_id: str
    slot: int
    label: str = ""
    auto: bool = False
    reported_end: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.batch_id,
            "slot": self.slot,
            "label": self.label,
            "auto": self.auto,
            "reported_end": self.reported_end,
        }

    @classmethod
    def from_dict(cls, data: Any) -> WatchEntry | None:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            return None
        slot = data.get("slot")
        reported = data.get("reported_end")
        return cls(
            batch_id=data["id"],
            slot=slot if isinstance(slot, int) and slot >= 0 else -1,
            label=str(data.get("label") or ""),
            auto=bool(data.get("auto", False)),
            reported_end=reported if isinstance(reported, str) else None,
        )


class StateFile:
    """Load and save the watch list. Problems are reported once and never stop the sidecar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_error: str | None = None
        #: What ``load`` found of the phases' history (empty before, or in an older file).
        self.history = PhaseHistory()

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
        return [entry for entry in map(WatchEntry.from_dict, entries) if entry is not None]

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

    def save(self, entries: list[WatchEntry], history: PhaseHistory | None = None) -> bool:
        """Write the list (and the history) atomically. False (and a logged warning, once) when
        the disk refuses."""
        document: dict[str, Any] = {"version": VERSION, "batches": [e.to_dict() for e in entries]}
        if history is not None:
            document["history"] = history.to_dict()
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
