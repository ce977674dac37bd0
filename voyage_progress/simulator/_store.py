"""The simulator's files and batches, and their JSON exactly as Voyage sends it."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ._clock import SimClock
from ._content import (
    ENDPOINTS,
    OUTPUT_DTYPES,
    InputRequest,
    ValidationProblem,
    error_lines,
    output_lines,
    parse_input,
)
from ._models import MODELS, dimension_problem
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
            offset = snap.times.get(name)
            return None if offset is None else _iso(clock.date_of(self.created + offset))

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


class Store:
    """Files and batches of one simulated organisation."""

    def __init__(self, clock: SimClock, seed: int = 0, default_scenario: str = DEFAULT_SCENARIO) -> None:
        if default_scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {default_scenario!r}; one of: {', '.join(SCENARIOS)}")
        self.clock = clock
        self.default_scenario = default_scenario
        self._rng = random.Random(seed)
        self.files: dict[str, SimFile] = {}
        self.batches: dict[str, SimBatch] = {}

    def new_id(self, prefix: str) -> str:
        """``batch-7vT5tY...`` / ``file-7vT5tY...``: 37 base58 characters, time-ordered."""
        millis = int(self.clock.now().timestamp() * 1000)
        number = int.from_bytes(millis.to_bytes(6, "big") + self._rng.randbytes(21), "big")
        digits = []
        while number:
            number, rest = divmod(number, 58)
            digits.append(_BASE58[rest])
        return f"{prefix}-" + "".join(reversed(digits)).rjust(37, "1")

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
        return _page([f.to_dict() for f in files], limit, after)

    # -- batches -------------------------------------------------------------------------------

    def create_batch(self, body: Mapping[str, Any]) -> SimBatch:
        endpoint, window, file_id, params, metadata = _validated_create(body)
        input_file = self.files.get(file_id)
        if input_file is None:
            raise ApiProblem(404, f"File {file_id} not found.")
        if input_file.purpose != "batch":
            raise ApiProblem(400, f"File {file_id} has purpose {input_file.purpose!r}, not 'batch'.")
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
        requests, problems = parse_input(input_file.data(), endpoint, MODELS[params["model"]])
        if problems:
            scenario = dataclasses.replace(scenario, fail_validation=True)
        batch = SimBatch(
            id=self.new_id("batch"),
            endpoint=endpoint,
            input_file_id=file_id,
            completion_window=window,
            request_params=params,
            metadata=metadata,
            created=self.clock.elapsed(),
            plan=Plan(scenario, len(requests), self._rng.getrandbits(32)),
            requests=requests,
            problems=problems,
        )
        self.batches[batch.id] = batch
        return batch

    def add_quick_batch(self, requests: int, metadata: Mapping[str, str]) -> SimBatch:
        """A batch of ``requests`` one-text requests, created without an upload (its input file is
        made here), with ``QUICK_BATCH_PARAMS``."""
        lines = "".join(
            json.dumps({"custom_id": f"request-{i}", "body": {"input": [f"text {i}"]}}) + "\n"
            for i in range(requests)
        )
        file = self.add_file("sim_batch_input.jsonl", "batch", lines.encode())
        return self.create_batch(
            {
                "endpoint": "/v1/embeddings",
                "completion_window": "12h",
                "input_file_id": file.id,
                "request_params": dict(QUICK_BATCH_PARAMS),
                "metadata": dict(metadata),
            }
        )

    def get_batch(self, batch_id: str) -> SimBatch:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise ApiProblem(404, f"Batch {batch_id} not found.")
        return batch

    def batch_json(self, batch: SimBatch) -> dict[str, Any]:
        snap = batch.snapshot(self.clock.elapsed())
        self._publish_results(batch, snap)
        return batch.to_dict(snap, self.clock)

    def cancel(self, batch_id: str) -> dict[str, Any]:
        batch = self.get_batch(batch_id)
        now = self.clock.elapsed()
        status = batch.snapshot(now).status
        if status not in ("validating", "in_progress"):
            raise ApiProblem(400, f"Batch {batch_id} cannot be cancelled: its status is {status}.")
        batch.cancel_requested = now - batch.created
        return self.batch_json(batch)

    def list_batches(self, limit: int, after: str | None) -> dict[str, Any]:
        newest_first = list(reversed(self.batches.values()))
        return _page([self.batch_json(b) for b in newest_first], limit, after)

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
        ended_at = snap.times.get("completed_at", snap.times.get("cancelled_at"))
        if ended_at is None or batch.output_file_id or batch.error_file_id:
            return
        created = self.clock.date_of(batch.created + ended_at)
        processed = snap.processed - snap.expired
        rate = batch.plan.scenario.failure_rate
        if snap.completed:
            batch.output_file_id = self.add_file(
                f"batch_{batch.id}_output",
                "batch-output",
                created_at=created,
                producer=lambda: output_lines(
                    batch.id, batch.requests, processed, rate, batch.endpoint, batch.request_params
                ),
            ).id
        if snap.failed:
            batch.error_file_id = self.add_file(
                f"batch_{batch.id}_error",
                "batch-error",
                created_at=created,
                producer=lambda: error_lines(batch.id, batch.requests, processed, snap.expired, rate),
            ).id


def _validated_create(body: Mapping[str, Any]) -> tuple[str, str, str, dict[str, Any], dict[str, str]]:
    if not isinstance(body, Mapping):
        raise ApiProblem(400, "The request body must be a JSON object.")
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise ApiProblem(400, f"endpoint must be one of {', '.join(ENDPOINTS)}; got {endpoint!r}.")
    window = body.get("completion_window")
    if window != "12h":
        raise ApiProblem(400, f"completion_window must be '12h'; got {window!r}.")
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise ApiProblem(400, "input_file_id is required.")
    params = body.get("request_params")
    if not isinstance(params, Mapping) or not isinstance(params.get("model"), str):
        raise ApiProblem(400, "request_params.model is required.")
    model = MODELS.get(params["model"])
    if model is None:
        raise ApiProblem(
            400, f"Model {params['model']!r} is not available for batch; one of: {', '.join(MODELS)}."
        )
    if model.endpoint != endpoint:
        raise ApiProblem(400, f"Model {model.name} is not served by {endpoint}; use {model.endpoint}.")
    if params.get("output_dtype", "float") not in OUTPUT_DTYPES:
        raise ApiProblem(400, f"output_dtype must be one of {', '.join(OUTPUT_DTYPES)}.")
    problem = dimension_problem(model, params.get("output_dimension"))
    if problem:
        raise ApiProblem(400, problem)
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise ApiProblem(400, "metadata must be an object of strings.")
    if len(metadata) > 16:
        raise ApiProblem(400, "metadata can have at most 16 key-value pairs.")
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > 64 or len(value) > 512:
            raise ApiProblem(
                400, "metadata keys are at most 64 characters and values strings of at most 512."
            )
    return endpoint, window, file_id, dict(params), dict(metadata)


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
    return dataclasses.replace(scenario, processing=processing)


def _page(items: list[dict[str, Any]], limit: int, after: str | None) -> dict[str, Any]:
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
