"""The Voyage Batch API's objects, parsed leniently and serialised in the API's own field order.

The parsers accept what real servers send and what they send on a bad day: RFC 3339 strings or
Unix numbers for timestamps, ``null`` or ``""`` for absent file ids, missing fields, wrong types,
numbers out of any range, dates a time zone pushes out of the calendar, and fields we have never
heard of (kept in ``extra``). A batch object that cannot name a valid id (see
``voyage_progress.core.text``) is the only thing rejected, with ``MalformedObjectError`` and nothing
else, because nothing can be tracked without it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from .errors import MalformedObjectError
from .text import check_batch_id

__all__ = [
    "MAX_COUNT",
    "BatchError",
    "BatchJob",
    "BatchStatus",
    "FileObject",
    "Page",
    "RequestCounts",
    "format_timestamp",
    "parse_timestamp",
]

#: The largest request count believed: more than any batch holds, and the most an OSC ``i`` carries.
MAX_COUNT = 2**31 - 1


class BatchStatus(enum.StrEnum):
    """A batch's status: Voyage's seven, OpenAI's ``expired``, and any other string as unknown.

    ``BatchStatus("paused")`` does not raise: it returns an unknown status whose ``value`` keeps the
    raw string, so a new status from the server is shown as it is instead of breaking a show.
    """

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> BatchStatus:
        raw = value if isinstance(value, str) else repr(value)
        unknown = str.__new__(cls, raw)
        unknown._name_ = "UNKNOWN"
        unknown._value_ = raw
        return unknown

    def __reduce_ex__(self, protocol: object) -> tuple[type[BatchStatus], tuple[str]]:
        # By value, so an unknown status pickles with its raw string: early 3.11 releases pickle
        # members by name, which turns it into plain ``unknown``.
        return type(self), (self._value_,)

    @property
    def is_known(self) -> bool:
        return self._name_ != "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """No further change will come: completed, failed, cancelled or expired."""
        return self in _TERMINAL

    @property
    def is_in_flight(self) -> bool:
        """Known and not ended: validating, in progress, finalizing or cancelling."""
        return self.is_known and not self.is_terminal

    @property
    def is_failure(self) -> bool:
        """The batch ended without its results: failed or expired (cancelled is the user's choice)."""
        return self in (BatchStatus.FAILED, BatchStatus.EXPIRED)

    @property
    def phase(self) -> int:
        """The status as a small integer, stable across releases (the OSC ``phase`` value)."""
        return PHASES.index(self) if self.is_known else PHASES.index(BatchStatus.UNKNOWN)


_TERMINAL = frozenset({BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED, BatchStatus.EXPIRED})

#: Every known status in phase order; ``BatchStatus.phase`` is the index into this tuple.
PHASES: tuple[BatchStatus, ...] = tuple(BatchStatus)


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 string (Voyage) or Unix seconds (OpenAI) as an aware UTC datetime; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            return None
    return None


def format_timestamp(value: datetime | None) -> str | None:
    """The API's timestamp form: ``2025-11-19T02:46:44.547607+00:00``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _as_int(value: object) -> int:
    """A whole number from a JSON number or numeric string; 0 for anything else (``"inf"``,
    ``NaN``, a list...)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value)  # "1e400" and 400 digits become inf, not an error
        except ValueError:
            return 0
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return 0


def _as_count(value: object) -> int:
    """A request count, or 0 when the value cannot be one (negative, beyond ``MAX_COUNT``)."""
    count = _as_int(value)
    return count if 0 <= count <= MAX_COUNT else 0


def _as_str(value: object) -> str | None:
    """A non-empty string, or None: the API sends ``""`` for file ids it has not got."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _as_status(value: object) -> BatchStatus:
    return BatchStatus(value if isinstance(value, str) and value else "unknown")


def _as_mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """How many requests of a batch exist, have succeeded and have failed."""

    total: int = 0
    completed: int = 0
    failed: int = 0

    @classmethod
    def from_dict(cls, data: object) -> RequestCounts:
        data = _as_mapping(data)
        return cls(
            total=_as_count(data.get("total")),
            completed=_as_count(data.get("completed")),
            failed=_as_count(data.get("failed")),
        )

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "completed": self.completed, "failed": self.failed}

    @property
    def processed(self) -> int:
        """Requests the batch is done with, whether they succeeded or failed."""
        return self.completed + self.failed

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.processed)

    @property
    def fraction(self) -> float:
        """Processed share of the total, 0.0–1.0 (0.0 while the total is unknown)."""
        if self.total <= 0:
            return 0.0
        return min(1.0, self.processed / self.total)


@dataclass(frozen=True, slots=True)
class BatchError:
    """One entry of a batch's ``errors`` list (input validation problems)."""

    code: str | None = None
    message: str | None = None
    line: int | None = None
    param: str | None = None

    @classmethod
    def from_dict(cls, data: object) -> BatchError:
        data = _as_mapping(data)
        line = data.get("line")
        return cls(
            code=_as_str(data.get("code")),
            message=_as_str(data.get("message")),
            line=_as_int(line) if line is not None else None,
            param=_as_str(data.get("param")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "line": self.line, "message": self.message, "param": self.param}

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.code or 'error'}{where}: {self.message or 'no message'}"


_BATCH_TIMESTAMPS = (
    "created_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expected_completion_at",
    "cancelling_at",
    "cancelled_at",
)
#: The end of a batch's window, and when it ran out: OpenAI's and Anthropic's (Voyage sends
#: neither; its window is ``completion_window`` after ``created_at``).
_DEADLINE_TIMESTAMPS = ("expires_at", "expired_at")
_BATCH_FIELDS = frozenset(
    {
        "id",
        "object",
        "endpoint",
        "errors",
        "input_file_id",
        "completion_window",
        "model",
        "status",
        "output_file_id",
        "error_file_id",
        "request_counts",
        "metadata",
        *_BATCH_TIMESTAMPS,
        *_DEADLINE_TIMESTAMPS,
    }
)


# Spellings seen in older Voyage responses.
_ALIASES = {"cancelling_at": ("canceling_at",), "cancelled_at": ("canceled_at",)}
_ALIAS_NAMES = frozenset(name for names in _ALIASES.values() for name in names)


def _malformed_batch_fields(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields progress is read from that are missing or of the wrong type."""
    problems = []
    status = data.get("status")
    if not isinstance(status, str) or not status:
        problems.append("status")
    counts = data.get("request_counts")
    if counts is not None and not isinstance(counts, Mapping):
        problems.append("request_counts")
    elif counts is not None:
        problems += [
            f"request_counts.{name}"
            for name in ("total", "completed", "failed")
            if not _is_count(counts.get(name))
        ]
    for name in ("created_at", "metadata"):
        value = data.get(name)
        if value is not None and (
            parse_timestamp(value) is None if name == "created_at" else not isinstance(value, Mapping)
        ):
            problems.append(name)
    return tuple(problems)


def _is_count(value: object) -> bool:
    """A whole number from 0 to ``MAX_COUNT`` (as JSON has it: an int, or a float such as ``3.0``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value <= MAX_COUNT and (isinstance(value, int) or value.is_integer())


def _first(data: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if data.get(name) is not None:
            return data[name]
    return None


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A batch object, every field of it, in the API's order."""

    id: str
    object: str = "batch"
    endpoint: str | None = None
    errors: tuple[BatchError, ...] = ()
    input_file_id: str | None = None
    completion_window: str | None = None
    model: str | None = None
    status: BatchStatus = BatchStatus.UNKNOWN
    output_file_id: str | None = None
    error_file_id: str | None = None
    request_counts: RequestCounts = field(default_factory=RequestCounts)
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    in_progress_at: datetime | None = None
    finalizing_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    expected_completion_at: datetime | None = None
    cancelling_at: datetime | None = None
    cancelled_at: datetime | None = None
    expires_at: datetime | None = None
    expired_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: What was wrong with the object as received (a field missing or of the wrong type, whose
    #: value was replaced by its default); empty for a well-formed object.
    malformed: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchJob:
        """Parse a batch object. Raises ``MalformedObjectError`` (a ``ValueError``), and only
        when it has no valid ``id``: whatever else is wrong is in ``malformed``."""
        if not isinstance(data, Mapping):
            raise MalformedObjectError(f"a batch object must be a JSON object, not {type(data).__name__}")
        batch_id = _as_str(data.get("id"))
        if batch_id is None:
            raise MalformedObjectError("the batch object has no id")
        try:
            check_batch_id(batch_id)
        except ValueError as exc:
            raise MalformedObjectError(f"the batch object has an {exc}") from None
        errors = _as_mapping(data.get("errors")).get("data")
        metadata = _as_mapping(data.get("metadata"))
        return cls(
            id=batch_id,
            object=_as_str(data.get("object")) or "batch",
            endpoint=_as_str(data.get("endpoint")),
            errors=tuple(BatchError.from_dict(e) for e in errors) if isinstance(errors, list) else (),
            input_file_id=_as_str(data.get("input_file_id")),
            completion_window=_as_str(data.get("completion_window")),
            model=_as_str(data.get("model")),
            status=_as_status(data.get("status")),
            output_file_id=_as_str(data.get("output_file_id")),
            error_file_id=_as_str(data.get("error_file_id")),
            request_counts=RequestCounts.from_dict(data.get("request_counts")),
            metadata={str(k): "" if v is None else str(v) for k, v in metadata.items()},
            **{
                name: parse_timestamp(_first(data, name, *_ALIASES.get(name, ())))
                for name in (*_BATCH_TIMESTAMPS, *_DEADLINE_TIMESTAMPS)
            },
            extra={k: v for k, v in data.items() if k not in _BATCH_FIELDS and k not in _ALIAS_NAMES},
            malformed=_malformed_batch_fields(data),
        )

    def to_dict(self) -> dict[str, Any]:
        """The batch object as the API sends it (field order included), extras last."""
        return {
            "id": self.id,
            "object": self.object,
            "endpoint": self.endpoint,
            "errors": (
                {"object": "list", "data": [e.to_dict() for e in self.errors]} if self.errors else None
            ),
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "model": self.model,
            "status": self.status.value,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "request_counts": self.request_counts.to_dict(),
            "metadata": dict(self.metadata),
            **{name: format_timestamp(getattr(self, name)) for name in _BATCH_TIMESTAMPS},
            **{
                name: format_timestamp(getattr(self, name))
                for name in _DEADLINE_TIMESTAMPS
                if getattr(self, name) is not None
            },
            **self.extra,
        }

    @property
    def deadline(self) -> datetime | None:
        """When the batch's window closes: ``expires_at`` where the API sends it, else
        ``completion_window`` (``"12h"``, ``"24h"``) after ``created_at``; None when unknown."""
        if self.expires_at is not None:
            return self.expires_at
        window = _window_seconds(self.completion_window)
        if window is None or self.created_at is None:
            return None
        return self.created_at + timedelta(seconds=window)

    @property
    def error_message(self) -> str | None:
        """The batch's errors as one line, or None when it has none."""
        if not self.errors:
            return None
        first = str(self.errors[0])
        more = len(self.errors) - 1
        return f"{first} (+{more} more)" if more else first


def _window_seconds(window: str | None) -> float | None:
    """``"12h"`` / ``"24h"`` / ``"30m"`` / ``"2d"`` as seconds; None for anything else."""
    units = {"m": 60.0, "h": 3600.0, "d": 86400.0}
    if not window or window[-1:] not in units or not window[:-1].isdigit():
        return None
    return int(window[:-1]) * units[window[-1]]


@dataclass(frozen=True, slots=True)
class FileObject:
    """A file: an uploaded input, or a batch's output or error file."""

    id: str
    object: str = "file"
    bytes: int = 0
    created_at: datetime | None = None
    expires_at: datetime | None = None
    filename: str | None = None
    purpose: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileObject:
        if not isinstance(data, Mapping):
            raise MalformedObjectError(f"a file object must be a JSON object, not {type(data).__name__}")
        file_id = _as_str(data.get("id"))
        if file_id is None:
            raise MalformedObjectError("the file object has no id")
        known = {"id", "object", "bytes", "created_at", "expires_at", "filename", "purpose"}
        return cls(
            id=file_id,
            object=_as_str(data.get("object")) or "file",
            bytes=max(0, _as_int(data.get("bytes"))),
            created_at=parse_timestamp(data.get("created_at")),
            expires_at=parse_timestamp(data.get("expires_at")),
            filename=_as_str(data.get("filename")),
            purpose=_as_str(data.get("purpose")),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": self.object,
            "bytes": self.bytes,
            "created_at": format_timestamp(self.created_at),
            "expires_at": format_timestamp(self.expires_at),
            "filename": self.filename,
            "purpose": self.purpose,
            **self.extra,
        }


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list endpoint: ``{object: "list", data, first_id, last_id, has_more}``."""

    data: tuple[T, ...]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False
