"""OpenAI's Batch API as its public API reference describes it, for these tests alone.

From platform.openai.com/docs/api-reference/batch (the Batch object, Retrieve, List, Cancel) and
/docs/guides/error-codes:

- ``GET /v1/batches/{batch_id}``, ``GET /v1/batches?after=&limit=`` (1–100, default 20; the
  answer is ``{"object": "list", "data", "first_id", "last_id", "has_more"}``, newest first),
  ``POST /v1/batches/{batch_id}/cancel`` (the batch, ``cancelling``);
- the key as ``Authorization: Bearer``; every answer carries ``x-request-id``;
- a batch: ``id, object "batch", endpoint, errors, input_file_id, completion_window "24h",
  status, output_file_id, error_file_id, created_at, in_progress_at, expires_at, finalizing_at,
  completed_at, failed_at, expired_at, cancelling_at, cancelled_at, request_counts {total,
  completed, failed}, metadata``, every time a Unix second or null; statuses ``validating,
  failed, in_progress, finalizing, completed, expired, cancelling, cancelled``;
- errors: ``{"error": {"message", "type", "param", "code"}}``, 401 ``invalid_api_key``, 404
  ``invalid_request_error``, 429 ``rate_limit_exceeded`` (with ``retry-after``), 500
  ``server_error``.

Batches follow scripts (``tests.reference_server.Scripted``): each read shows the next step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.reference_server import Scripted

#: When each status is reached, in the batch object's field.
_REACHED = {
    "in_progress": "in_progress_at",
    "finalizing": "finalizing_at",
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelling": "cancelling_at",
    "cancelled": "cancelled_at",
}
_ERRORS = {
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def step(status: str, completed: int = 0, failed: int = 0) -> dict[str, Any]:
    return {"status": status, "completed": completed, "failed": failed}


class OpenAIReference:
    """The server: ``add`` scripted batches, ``fail_next`` to answer errors, ``app`` to serve."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.batches: dict[str, Scripted] = {}
        self.totals: dict[str, int] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._failures: list[tuple[int, str]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/batches", self._list, methods=["GET"]),
                Route("/v1/batches/{batch_id}", self._retrieve, methods=["GET"]),
                Route("/v1/batches/{batch_id}/cancel", self._cancel, methods=["POST"]),
            ]
        )

    def add(self, batch_id: str, total: int, *steps: dict[str, Any]) -> None:
        self.batches[batch_id] = Scripted(batch_id, list(steps))
        self.totals[batch_id] = total

    def fail_next(self, status: int, message: str, times: int = 1) -> None:
        self._failures += [(status, message)] * times

    # -- the endpoints ------------------------------------------------------------------------

    def _refused(self, request: Request) -> Response | None:
        self.seen.append((request.method, request.url.path, dict(request.headers)))
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or key != self.api_key:
            shown = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"  # as OpenAI masks it
            return _error(401, f"Incorrect API key provided: {shown}.")
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
            return _error(404, f"No batch found with id '{request.path_params['batch_id']}'.")
        return _json(self._object(batch, batch.read()))

    async def _list(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        limit = int(request.query_params.get("limit", "20"))
        if not 1 <= limit <= 100:
            return _error(400, "limit must be between 1 and 100.")
        newest_first = list(reversed(self.batches.values()))
        after = request.query_params.get("after")
        start = next((i + 1 for i, b in enumerate(newest_first) if b.id == after), 0)
        page = newest_first[start : start + limit]
        data = [self._object(batch, batch.read()) for batch in page]
        return _json(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": start + limit < len(newest_first),
            }
        )

    async def _cancel(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _error(404, f"No batch found with id '{request.path_params['batch_id']}'.")
        if batch.current()["status"] not in ("validating", "in_progress"):
            return _error(400, f"Cannot cancel a batch with status '{batch.current()['status']}'.")
        counts = batch.current()
        batch.steps[batch.reads :] = [
            step("cancelling", counts["completed"], counts["failed"]),
            step("cancelled", counts["completed"], counts["failed"]),
        ]
        return _json(self._object(batch, batch.read()))

    def _object(self, batch: Scripted, state: Mapping[str, Any]) -> dict[str, Any]:
        status = state["status"]
        counts = {
            "total": self.totals[batch.id] if status != "validating" else 0,
            "completed": state["completed"],
            "failed": state["failed"],
        }
        times = {field: batch.first_at(status=reached) for reached, field in _REACHED.items()}
        ended = status in ("completed", "expired", "cancelled")
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": None,
            "input_file_id": "file-abc123",
            "completion_window": "24h",
            "status": status,
            "output_file_id": "file-out123" if ended and state["completed"] else None,
            "error_file_id": "file-err123" if ended and state["failed"] else None,
            "created_at": batch.created_at,
            "in_progress_at": times["in_progress_at"],
            "expires_at": batch.created_at + 86400,
            "finalizing_at": times["finalizing_at"],
            "completed_at": times["completed_at"],
            "failed_at": times["failed_at"],
            "expired_at": times["expired_at"],
            "cancelling_at": times["cancelling_at"],
            "cancelled_at": times["cancelled_at"],
            "request_counts": counts,
            "metadata": {"customer_id": "user_123456789", "batch_description": "Nightly eval job"},
        }


def _json(body: object, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers={"x-request-id": "req_1b2c3d4e5f"})


def _error(status: int, message: str) -> Response:
    kind, code = _ERRORS.get(status, ("invalid_request_error", None))
    response = _json({"error": {"message": message, "type": kind, "param": None, "code": code}}, status)
    if status == 429:
        response.headers["retry-after"] = "0"
    return response
