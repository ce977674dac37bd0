"""Anthropic's Message Batches API as its public API reference describes it, for these tests alone.

From docs.anthropic.com/en/api (Retrieve, List and Cancel a Message Batch; Errors; Versions):

- ``GET /v1/messages/batches/{message_batch_id}``, ``GET /v1/messages/batches`` with
  ``before_id``, ``after_id`` and ``limit`` (1–1000, default 20; the answer is ``{"data",
  "has_more", "first_id", "last_id"}``, the most recent first), ``POST
  /v1/messages/batches/{message_batch_id}/cancel`` (the batch, ``canceling``);
- the key in ``x-api-key``; ``anthropic-version`` on every request (``2023-06-01``); every
  answer carries ``request-id``;
- a batch: ``id, type "message_batch", processing_status (in_progress, canceling, ended),
  request_counts {processing, succeeded, errored, canceled, expired}`` (their sum is the batch's
  size; requests stay ``processing`` until the whole batch ends), ``ended_at, created_at,
  expires_at`` (24 hours after creation), ``archived_at, cancel_initiated_at, results_url``,
  dates in RFC 3339;
- errors: ``{"type": "error", "error": {"type", "message"}}``, 400 ``invalid_request_error``,
  401 ``authentication_error``, 403 ``permission_error``, 404 ``not_found_error``, 429
  ``rate_limit_error`` (with ``retry-after``), 500 ``api_error``, 529 ``overloaded_error``.

Batches follow scripts (``tests.reference_server.Scripted``): each read shows the next step.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.reference_server import Scripted

TALLIES = ("processing", "succeeded", "errored", "canceled", "expired")
_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def step(status: str, **tallies: int) -> dict[str, Any]:
    """A step: ``processing_status`` and the tallies (those not given are 0)."""
    return {"processing_status": status, **{name: tallies.get(name, 0) for name in TALLIES}}


class AnthropicReference:
    """The server: ``add`` scripted batches, ``fail_next`` to answer errors, ``app`` to serve."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.batches: dict[str, Scripted] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._failures: list[tuple[int, str]] = []
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/v1/messages/batches", self._list, methods=["GET"]),
                Route("/v1/messages/batches/{batch_id}", self._retrieve, methods=["GET"]),
                Route("/v1/messages/batches/{batch_id}/cancel", self._cancel, methods=["POST"]),
            ]
        )

    def add(self, batch_id: str, *steps: dict[str, Any]) -> None:
        self.batches[batch_id] = Scripted(batch_id, list(steps))

    def fail_next(self, status: int, message: str, times: int = 1) -> None:
        self._failures += [(status, message)] * times

    # -- the endpoints ------------------------------------------------------------------------

    def _refused(self, request: Request) -> Response | None:
        self.seen.append((request.method, request.url.path, dict(request.headers)))
        if request.headers.get("x-api-key") != self.api_key:
            return _error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        if self._failures:
            status, message = self._failures.pop(0)
            return _error(status, message)
        return None

    async def _retrieve(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _error(404, f"No such message batch: {request.path_params['batch_id']}")
        return _json(self._object(batch, batch.read()))

    async def _list(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        limit = int(request.query_params.get("limit", "20"))
        if not 1 <= limit <= 1000:
            return _error(400, "limit: Input should be between 1 and 1000")
        newest_first = list(reversed(self.batches.values()))
        ids = [b.id for b in newest_first]
        after, before = request.query_params.get("after_id"), request.query_params.get("before_id")
        if before in ids:
            end = ids.index(before)
            page, has_more = newest_first[max(0, end - limit) : end], end - limit > 0
        else:
            start = ids.index(after) + 1 if after in ids else 0
            page, has_more = newest_first[start : start + limit], start + limit < len(ids)
        data = [self._object(batch, batch.read()) for batch in page]
        return _json(
            {
                "data": data,
                "has_more": has_more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def _cancel(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _error(404, f"No such message batch: {request.path_params['batch_id']}")
        if batch.current()["processing_status"] == "ended":
            return _error(400, "Message batch has already ended and cannot be canceled.")
        size = sum(batch.current()[name] for name in TALLIES)
        batch.steps[batch.reads :] = [
            step("canceling", processing=size),
            step("ended", succeeded=size // 3, canceled=size - size // 3),
        ]
        return _json(self._object(batch, batch.read()))

    def _object(self, batch: Scripted, state: Mapping[str, Any]) -> dict[str, Any]:
        ended = state["processing_status"] == "ended"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": state["processing_status"],
            "request_counts": {name: state[name] for name in TALLIES},
            "ended_at": _date(batch.first_at(processing_status="ended")),
            "created_at": _date(batch.created_at),
            "expires_at": _date(batch.created_at + 86400),
            "archived_at": None,
            "cancel_initiated_at": _date(batch.first_at(processing_status="canceling")),
            "results_url": f"{self.url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }


def _date(unix: int | None) -> str | None:
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def _json(body: object, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers={"request-id": "req_018EeWyXxfu5pfWkrYcMdjWG"})


def _error(status: int, message: str) -> Response:
    body = {"type": "error", "error": {"type": _ERRORS.get(status, "api_error"), "message": message}}
    response = _json(body, status)
    if status == 429:
        response.headers["retry-after"] = "0"
    return response
