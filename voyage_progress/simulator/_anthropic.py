"""Anthropic's dialect: Message Batches under ``/v1/messages/batches`` as api.anthropic.com serves
them.

From Anthropic's API reference (docs.anthropic.com/en/api/creating-message-batches and the
pages beside it): requests come inline, not in a file; ``processing_status`` is ``in_progress``,
``canceling`` or ``ended``; ``request_counts`` holds ``processing``, ``succeeded``, ``errored``,
``canceled`` and ``expired``, and requests stay ``processing`` until the whole batch ends; dates
are RFC 3339; a batch ends at the latest 24 hours after its creation (``expires_at``), requests
left then are ``expired``; results are JSONL at ``results_url`` once it has ended. Lists page
with ``after_id``/``before_id``/``limit`` and answer ``data``, ``has_more``, ``first_id`` and
``last_id``. The key comes in ``x-api-key`` (recent official SDKs send it as a Bearer token,
which is taken too), and ``anthropic-version`` is required. Errors are
``{"type": "error", "error": {"type", "message"}}``; every answer carries a ``request-id``.

The store's phases show as Anthropic's: validating and finalizing are ``in_progress`` too; a
failed validation ends the batch with every request errored. A create may carry simulator-only
``metadata`` (``sim_scenario``, ``sim_processing``) to choose how the batch unfolds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._content import InputRequest
from ._dialect import Dialect, GlitchShape, rfc3339
from ._requests import int_param, json_body
from ._scenarios import Snapshot, request_fails
from ._store import ApiProblem, SimBatch, SimFile, Store

__all__ = ["ANTHROPIC", "AnthropicDialect"]

WINDOW = 24 * 3600.0
MAX_REQUESTS = 100_000
QUICK_MODEL = "claude-sonnet-4-5"
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PROCESSING_STATUS = {"validating": "in_progress", "finalizing": "in_progress", "cancelling": "canceling"}
_ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class AnthropicDialect(Dialect):
    name = "anthropic"
    title = "Anthropic"
    base_path = ""
    key_env = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    window = WINDOW
    expiry_status = "expired"
    batch_prefix = "msgbatch_01"
    id_length = 22
    glitch_shape = GlitchShape(
        kind_field="type",
        kind="message_batch",
        status_field="processing_status",
        done_counts=("succeeded", "errored", "expired"),
        total_count=None,
        droppable=("created_at", "expires_at", "ended_at"),
    )

    def routes(self, store: Store, max_file_bytes: int) -> list[Route]:
        return _routes(store, max_file_bytes)

    def render_batch(self, store: Store, batch: SimBatch, snap: Snapshot) -> dict[str, Any]:
        created = store.clock.date_of(batch.created)
        ended = snap.status in _ENDED_AT
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else _PROCESSING_STATUS.get(snap.status, snap.status),
            "request_counts": _tallies(batch, snap),
            "ended_at": rfc3339(batch.date(store.clock, snap, _ENDED_AT.get(snap.status, ""))),
            "created_at": rfc3339(created),
            "expires_at": rfc3339(created + timedelta(seconds=WINDOW)),
            "archived_at": None,
            "cancel_initiated_at": rfc3339(batch.date(store.clock, snap, "cancelling_at")),
            "results_url": f"{store.url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def render_file(self, file: SimFile) -> dict[str, Any]:
        raise ApiProblem(404, "Not found.")  # message batches have no files

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status) or "api_error"
        return {"type": "error", "error": {"type": kind, "message": message}}

    def auth_problem(self, headers: Mapping[bytes, bytes], api_key: str | None) -> tuple[int, str] | None:
        key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if not key and scheme.lower() == "bearer":  # what recent official SDKs send
            key = token.strip()
        if not key:
            return 401, "x-api-key header is required"
        if api_key is not None and key != api_key:
            return 401, "invalid x-api-key"
        if not headers.get(b"anthropic-version", b"").strip():
            return 400, "anthropic-version: header is required"
        return None

    def headers(self, request_number: int) -> list[tuple[bytes, bytes]]:
        return [(b"request-id", f"req_011{_id(f'request {request_number}', 21)}".encode())]

    def rate_limit_headers(self, retry_after: float) -> list[tuple[bytes, bytes]]:
        return [
            *super().rate_limit_headers(retry_after),
            (b"anthropic-ratelimit-requests-limit", b"50"),
            (b"anthropic-ratelimit-requests-remaining", b"0"),
        ]

    def quick_batch(self, store: Store, requests: int, metadata: dict[str, str]) -> SimBatch:
        return create_batch(
            store,
            {
                "requests": [
                    {
                        "custom_id": f"request-{i}",
                        "params": {
                            "model": QUICK_MODEL,
                            "max_tokens": 64,
                            "messages": [{"role": "user", "content": f"text {i}"}],
                        },
                    }
                    for i in range(requests)
                ],
                "metadata": metadata,
            },
        )


ANTHROPIC = AnthropicDialect()


def _tallies(batch: SimBatch, snap: Snapshot) -> dict[str, int]:
    """The five tallies; every request is ``processing`` until the batch ends."""
    size = len(batch.requests)
    if snap.status not in _ENDED_AT:
        return {"processing": size, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if snap.status == "failed":
        return {"processing": 0, "succeeded": 0, "errored": size, "canceled": 0, "expired": 0}
    return {
        "processing": 0,
        "succeeded": snap.completed,
        "errored": snap.failed - snap.expired,
        "canceled": size - snap.processed,
        "expired": snap.expired,
    }


def create_batch(store: Store, body: object) -> SimBatch:
    """``POST /v1/messages/batches``: every request checked, or a 400 that names the first bad one."""
    if not isinstance(body, Mapping):
        raise ApiProblem(400, "The request body must be a JSON object.")
    items = body.get("requests")
    if not isinstance(items, list) or not items:
        raise ApiProblem(400, "requests: Field required (a non-empty list).")
    if len(items) > MAX_REQUESTS:
        raise ApiProblem(400, f"requests: at most {MAX_REQUESTS} requests per batch.")
    requests: list[InputRequest] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        problem = _request_problem(item, seen)
        if problem:
            raise ApiProblem(400, f"requests.{index}.{problem}")
        seen.add(item["custom_id"])
        requests.append(InputRequest(item["custom_id"], item["params"]))
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise ApiProblem(400, "metadata (a simulator extension) must be an object of strings.")
    return store.start_batch(
        endpoint="/v1/messages",
        input_file_id="",
        params={"model": str(requests[0].body.get("model"))},
        metadata={str(k): str(v) for k, v in metadata.items()},
        requests=requests,
        problems=[],
    )


def _request_problem(item: object, seen: set[str]) -> str | None:
    if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
        return "custom_id: Field required"
    custom_id = item["custom_id"]
    if not _CUSTOM_ID.match(custom_id):
        return "custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"
    if custom_id in seen:
        return f"custom_id: duplicate custom_id {custom_id!r}"
    params = item.get("params")
    if not isinstance(params, dict):
        return "params: Field required"
    if not isinstance(params.get("model"), str):
        return "params.model: Field required"
    max_tokens = params.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return "params.max_tokens: Field required (an integer of at least 1)"
    if not isinstance(params.get("messages"), list) or not params["messages"]:
        return "params.messages: Field required (a non-empty list)"
    return None


def results(batch: SimBatch, snap: Snapshot) -> Iterator[bytes]:
    """One line per request: succeeded, errored, canceled or expired."""
    processed = snap.processed - snap.expired
    rate = batch.plan.scenario.failure_rate
    for index, request in enumerate(batch.requests):
        result: dict[str, Any]
        if snap.status == "failed":
            result = _errored("invalid_request_error", "The request could not be validated.")
        elif index >= processed:
            result = {"type": "expired" if index < processed + snap.expired else "canceled"}
        elif request_fails(index, rate):
            result = _errored("api_error", "Internal server error")
        else:
            result = {"type": "succeeded", "message": _message(request)}
        yield json.dumps({"custom_id": request.custom_id, "result": result}).encode() + b"\n"


def _errored(kind: str, message: str) -> dict[str, Any]:
    return {"type": "errored", "error": {"type": "error", "error": {"type": kind, "message": message}}}


def _message(request: InputRequest) -> dict[str, Any]:
    return {
        "id": "msg_01" + _id(request.custom_id, 22),
        "type": "message",
        "role": "assistant",
        "model": str(request.body.get("model")),
        "content": [{"type": "text", "text": f"A simulated answer to {request.custom_id}."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 8},
    }


def _id(text: str, length: int) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest)[:length]


def _page(items: list[dict[str, Any]], limit: int, after: str | None, before: str | None) -> dict[str, Any]:
    """Newest first; ``after_id`` pages on to older batches, ``before_id`` back to newer ones."""
    ids = [item["id"] for item in items]
    for cursor in (after, before):
        if cursor is not None and cursor not in ids:
            raise ApiProblem(400, f"Invalid cursor {cursor!r}: no such batch in this list.")
    if before is not None:
        end = ids.index(before)
        start = max(0, end - limit)
        data, has_more = items[start:end], start > 0
    else:
        start = ids.index(after) + 1 if after is not None else 0
        data, has_more = items[start : start + limit], start + limit < len(items)
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def _routes(store: Store, max_file_bytes: int) -> list[Route]:
    async def create(request: Request) -> Response:
        return JSONResponse(store.batch_json(create_batch(store, await json_body(request))))

    async def list_batches(request: Request) -> Response:
        limit = int_param(request, "limit", 20, 1, 1000)
        params = request.query_params
        if params.get("after_id") and params.get("before_id"):
            raise ApiProblem(400, "Only one of after_id and before_id may be given.")
        items = [store.batch_json(b) for b in reversed(store.batches.values())]
        return JSONResponse(_page(items, limit, params.get("after_id"), params.get("before_id")))

    async def get_batch(request: Request) -> Response:
        return JSONResponse(store.batch_json(store.get_batch(request.path_params["batch_id"])))

    async def cancel_batch(request: Request) -> Response:
        return JSONResponse(store.cancel(request.path_params["batch_id"]))

    async def batch_results(request: Request) -> Response:
        batch = store.get_batch(request.path_params["batch_id"])
        snap = batch.snapshot(store.clock.elapsed())
        if snap.status not in _ENDED_AT:
            raise ApiProblem(400, f"Message Batch {batch.id} has not yet ended; its results come then.")
        return Response(b"".join(results(batch, snap)), media_type="application/binary")

    async def delete_batch(request: Request) -> Response:
        batch = store.get_batch(request.path_params["batch_id"])
        if batch.snapshot(store.clock.elapsed()).status not in _ENDED_AT:
            raise ApiProblem(400, f"Message Batch {batch.id} has not ended; cancel it before deleting it.")
        del store.batches[batch.id]
        return JSONResponse({"id": batch.id, "type": "message_batch_deleted"})

    p = "/v1/messages/batches"
    return [
        Route(p, create, methods=["POST"]),
        Route(p, list_batches, methods=["GET"]),
        Route(p + "/{batch_id}", get_batch, methods=["GET"]),
        Route(p + "/{batch_id}", delete_batch, methods=["DELETE"]),
        Route(p + "/{batch_id}/cancel", cancel_batch, methods=["POST"]),
        Route(p + "/{batch_id}/results", batch_results, methods=["GET"]),
    ]
