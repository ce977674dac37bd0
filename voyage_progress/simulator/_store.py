"""The simulator's files and batches, whichever API shows them (see ``_dialect``), and their JSON
exactly as Voyage sends it."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ._clock import SimClock
from ._content import InputRequest, ValidationProblem
from ._models import MODELS
from ._scenarios import DEFAULT_SCENARIO, SCENARIOS, Plan, Scenario, Snapshot

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
IN_FLIGHT = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
#: Batches one organisation may have in flight; a create beyond is refused with a 429. From the
#: project's design notes: Voyage's batch pages (docs.voyageai.com/docs/batch-inference,
#: /docs/rate-limits) as read in 2026 state no in-flight limit, so this is an assumption.
MAX_IN_FLIGHT = 100
FILE_LIFETIME = timedelta(days=30)
# Voyage's documented responses show expected_completion_at 8 h after created_at, although the
# completion window is 12 h; the simulator answers as the real API does.
EXPECTED_COMPLETION = timedelta(hours=8)


#: The request parameters of a batch created without an upload (``Simulator.add_batch``,
#: ``POST /_sim/batches``): the smallest embeddings voyage-3.5 makes, quick to generate.
QUICK_BATCH_PARAMS = {"model": "voyage-3.5", "output_dimension": min(MODELS["voyage-3.5"].dimensions)}


class ApiProblem(Exception):
    """An error answer: HTTP status and the ``detail`` text."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


@dataclass
class SimFile:
    id: str
    filename: str
    purpose: str
    created_at: datetime
    content: bytes | None = None
    producer: Callable[[], Iterator[bytes]] | None = field(default=None, repr=False)

    def data(self) -> bytes:
        """The file's bytes; a batch's output is generated on first use, then kept."""
        if self.content is None:
            self.content = b"".join(self.producer()) if self.producer else b""
        return self.content

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data()),
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.created_at + FILE_LIFETIME),
            "filename": self.filename,
            "purpose": self.purpose,
        }


@dataclass
class SimBatch:
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    request_params: dict[str, Any]
    metadata: dict[str, str]
    #: The simulated second it was created at (the clock's ``elapsed``); its timeline counts
    #: from there, and the clock dates it.
    created: float
    plan: Plan
    requests: list[InputRequest]
    problems: list[ValidationProblem]
    cancel_requested: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None

    @property
    def model(self) -> str:
        return str(self.request_params.get("model"))

    def snapshot(self, now: float) -> Snapshot:
        """The batch at simulated second ``now``."""
        return self.plan.snapshot(now - self.created, self.cancel_requested)

    def date(self, clock: SimClock, snap: Snapshot, moment: str) -> datetime | None:
        """The date of one moment of the batch's timeline (``completed_at``...), if reached."""
        offset = snap.times.get(moment)
        return None if offset is None else clock.date_of(self.created + offset)

    def errors(self, snap: Snapshot) -> dict[str, Any] | None:
        if snap.status != "failed":
            return None
        problems = self.problems or [
            ValidationProblem(1, "simulated validation failure (sim_scenario=fail_validation)")
        ]
        return {"object": "list", "data": [p.to_error() for p in problems]}

    def to_dict(self, snap: Snapshot, clock: SimClock) -> dict[str, Any]:
        created_at = clock.date_of(self.created)

        def at(name: str) -> str | None:
            date = self.date(clock, snap, name)
            return None if date is None else _iso(date)

        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": self.errors(snap),
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "model": self.model,
            "status": snap.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "request_counts": {"total": snap.total, "completed": snap.completed, "failed": snap.failed},
            "metadata": dict(self.metadata),
            "created_at": _iso(created_at),
            "in_progress_at": at("in_progress_at"),
            "finalizing_at": at("finalizing_at"),
            "completed_at": at("completed_at"),
            "failed_at": at("failed_at"),
            "expected_completion_at": _iso(created_at + EXPECTED_COMPLETION),
            "cancelling_at": at("cancelling_at"),
            "cancelled_at": at("cancelled_at"),
        }


Producer = Callable[[], Iterator[bytes]]


class Dialect(Protocol):
    """What the store asks of the API that shows it: the shape of ids, the window, and how its
    objects and result files look (``_dialect.Dialect`` is the whole of a dialect)."""

    @property
    def batch_prefix(self) -> str: ...
    @property
    def file_prefix(self) -> str: ...
    @property
    def id_length(self) -> int: ...
    @property
    def window(self) -> float: ...
    @property
    def expiry_status(self) -> str | None: ...
    @property
    def cancellable(self) -> frozenset[str]: ...
    @property
    def output_purpose(self) -> str: ...
    @property
    def error_purpose(self) -> str: ...

    def render_batch(self, store: Store, batch: SimBatch, snap: Snapshot) -> dict[str, Any]: ...
    def render_file(self, file: SimFile) -> dict[str, Any]: ...
    def quick_batch(self, store: Store, requests: int, metadata: dict[str, str]) -> SimBatch: ...
    def result_files(
        self, store: Store, batch: SimBatch, snap: Snapshot
    ) -> tuple[Producer | None, Producer | None]: ...


class Store:
    """Files and batches of one simulated organisation, shown by ``dialect``."""

    def __init__(
        self,
        clock: SimClock,
        seed: int = 0,
        default_scenario: str = DEFAULT_SCENARIO,
        *,
        dialect: Dialect,
    ) -> None:
        if default_scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {default_scenario!r}; one of: {', '.join(SCENARIOS)}")
        self.clock = clock
        self.default_scenario = default_scenario
        self.dialect = dialect
        #: The server's own address (``http://127.0.0.1:8765``), for URLs inside objects.
        self.url = ""
        self._rng = random.Random(seed)
        self.files: dict[str, SimFile] = {}
        self.batches: dict[str, SimBatch] = {}

    def new_id(self, kind: str) -> str:
        """A ``batch`` or ``file`` id in the dialect's shape (``batch-7vT5tY...`` for Voyage):
        base58 characters, time-ordered."""
        dialect = self.dialect
        millis = int(self.clock.now().timestamp() * 1000)
        number = int.from_bytes(millis.to_bytes(6, "big") + self._rng.randbytes(21), "big")
        digits = []
        while number:
            number, rest = divmod(number, 58)
            digits.append(_BASE58[rest])
        prefix = dialect.batch_prefix if kind == "batch" else dialect.file_prefix
        return prefix + "".join(reversed(digits)).rjust(37, "1")[-dialect.id_length :]

    # -- files ---------------------------------------------------------------------------------

    def add_file(
        self,
        filename: str,
        purpose: str,
        content: bytes | None = None,
        producer: Callable[[], Iterator[bytes]] | None = None,
        created_at: datetime | None = None,
    ) -> SimFile:
        file = SimFile(
            self.new_id("file"), filename, purpose, created_at or self.clock.now(), content, producer
        )
        self.files[file.id] = file
        return file

    def get_file(self, file_id: str) -> SimFile:
        self.refresh_all()
        file = self.files.get(file_id)
        if file is None:
            raise ApiProblem(404, f"File {file_id} not found.")
        return file

    def delete_file(self, file_id: str) -> dict[str, Any]:
        self.get_file(file_id)
        del self.files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def list_files(self, purpose: str | None, limit: int, after: str | None) -> dict[str, Any]:
        self.refresh_all()
        files = [f for f in self.files.values() if purpose is None or f.purpose == purpose]
        return page([self.dialect.render_file(f) for f in files], limit, after)

    # -- batches -------------------------------------------------------------------------------

    def start_batch(
        self,
        *,
        endpoint: str,
        input_file_id: str,
        params: dict[str, Any],
        metadata: dict[str, str],
        requests: list[InputRequest],
        problems: list[ValidationProblem],
    ) -> SimBatch:
        """A batch over validated requests, following the scenario its metadata names (or the
        default); its window is the dialect's. ``problems`` make it fail validation."""
        if self.in_flight() >= MAX_IN_FLIGHT:
            raise ApiProblem(
                429,
                f"Your organization has {MAX_IN_FLIGHT} batches in flight, the maximum; "
                "wait for some to finish.",
            )
        scenario_name = metadata.get("sim_scenario", self.default_scenario)
        scenario = SCENARIOS.get(scenario_name)
        if scenario is None:
            raise ApiProblem(400, f"Unknown sim_scenario {scenario_name!r}; one of: {', '.join(SCENARIOS)}.")
        scenario = _with_processing(scenario, metadata.get("sim_processing"))
        if problems:
            scenario = dataclasses.replace(scenario, fail_validation=True)
        if self.dialect.expiry_status is not None:
            scenario = dataclasses.replace(scenario, expiry_status=self.dialect.expiry_status)
        window = self.dialect.window
        batch = SimBatch(
            id=self.new_id("batch"),
            endpoint=endpoint,
            input_file_id=input_file_id,
            completion_window=f"{window / 3600:g}h",
            request_params=params,
            metadata=metadata,
            created=self.clock.elapsed(),
            plan=Plan(scenario, len(requests), self._rng.getrandbits(32), window),
            requests=requests,
            problems=problems,
        )
        self.batches[batch.id] = batch
        return batch

    def add_quick_batch(self, requests: int, metadata: Mapping[str, str]) -> SimBatch:
        """A batch of ``requests`` small requests, created without an upload (in the dialect's
        shape: an input file made here for Voyage and OpenAI, inline requests for Anthropic)."""
        return self.dialect.quick_batch(self, requests, dict(metadata))

    def get_batch(self, batch_id: str) -> SimBatch:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise ApiProblem(404, f"Batch {batch_id} not found.")
        return batch

    def batch_json(self, batch: SimBatch) -> dict[str, Any]:
        snap = batch.snapshot(self.clock.elapsed())
        self._publish_results(batch, snap)
        return self.dialect.render_batch(self, batch, snap)

    def cancel(self, batch_id: str) -> dict[str, Any]:
        batch = self.get_batch(batch_id)
        now = self.clock.elapsed()
        status = batch.snapshot(now).status
        if status not in self.dialect.cancellable:
            raise ApiProblem(400, f"Batch {batch_id} cannot be cancelled: its status is {status}.")
        batch.cancel_requested = now - batch.created
        return self.batch_json(batch)

    def list_batches(self, limit: int, after: str | None) -> dict[str, Any]:
        newest_first = list(reversed(self.batches.values()))
        return page([self.batch_json(b) for b in newest_first], limit, after)

    def in_flight(self) -> int:
        now = self.clock.elapsed()
        return sum(1 for b in self.batches.values() if b.snapshot(now).status in IN_FLIGHT)

    def refresh_all(self) -> None:
        """Publish the result files of every batch that has ended (files are listed as soon
        as their batch is over, whether or not anyone asked for the batch)."""
        now = self.clock.elapsed()
        for batch in self.batches.values():
            if batch.output_file_id is None and batch.error_file_id is None:
                self._publish_results(batch, batch.snapshot(now))

    def _publish_results(self, batch: SimBatch, snap: Snapshot) -> None:
        if batch.output_file_id or batch.error_file_id:
            return
        ended = batch.date(self.clock, snap, _ENDED.get(snap.status, ""))
        if ended is None:
            return
        output, errors = self.dialect.result_files(self, batch, snap)
        name = f"batch_{batch.id}"
        if output is not None:
            batch.output_file_id = self.add_file(
                name + "_output", self.dialect.output_purpose, created_at=ended, producer=output
            ).id
        if errors is not None:
            batch.error_file_id = self.add_file(
                name + "_error", self.dialect.error_purpose, created_at=ended, producer=errors
            ).id


#: The moment of a batch's end that publishes its result files, by status.
_ENDED = {"completed": "completed_at", "cancelled": "cancelled_at", "expired": "expired_at"}


def _with_processing(scenario: Scenario, seconds: str | None) -> Scenario:
    """The scenario with its processing time set by the batch's ``sim_processing`` metadata, so
    that one simulator can hold batches of every length (the fault soak spreads them over 12 h)."""
    if seconds is None:
        return scenario
    try:
        processing = float(seconds)
    except ValueError:
        processing = -1.0
    if not 0 < processing < float("inf"):
        raise ApiProblem(400, f"sim_processing must be a positive number of seconds; got {seconds!r}.")
    return dataclasses.replace(scenario, processing=processing, outlasts_window=None)


def page(items: list[dict[str, Any]], limit: int, after: str | None) -> dict[str, Any]:
    """A list answer: ``limit`` items after the id ``after``, with first and last ids."""
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise ApiProblem(400, f"after={after!r} is not an id in this list.")
        start = ids.index(after) + 1
    data = items[start : start + limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + limit < len(items),
    }


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")
