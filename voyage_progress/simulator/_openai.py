"""OpenAI's dialect: the Files and Batch endpoints under ``/v1`` as api.openai.com serves them.

From OpenAI's API reference (platform.openai.com/docs/api-reference/batch): a batch is created
over an uploaded JSONL file whose lines name their own ``method``, ``url`` and ``body``; the
window is ``24h``; timestamps are Unix seconds; a batch that runs out of its window ends as
``expired`` with ``expired_at`` set (what was done is in the output file, the rest in the error
file as ``batch_expired``); errors are ``{"error": {"message", "type", "param", "code"}}``; every
answer carries an ``x-request-id``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._content import InputRequest, ValidationProblem, embedding
from ._dialect import BATCH_OBJECT_GLITCHES, Dialect, Producer, unix
from ._requests import file_too_large, int_param, json_body
from ._scenarios import Snapshot, request_fails
from ._store import ApiProblem, SimBatch, SimFile, Store
from ._voyage import bearer_problem

__all__ = ["OPENAI", "OpenAIDialect"]

WINDOW = 24 * 3600.0
ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations")
MAX_REQUESTS = 50_000
#: Small embeddings for batches made without an upload: quick to generate.
QUICK_MODEL, QUICK_DIMENSIONS = "text-embedding-3-small", 8
_SERVER_ERROR = {"message": "The server had an error processing your request.", "type": "server_error"}
_ERROR_TYPES = {
    401: "invalid_request_error",
    403: "invalid_request_error",
    429: "requests",
}


class OpenAIDialect(Dialect):
    name = "openai"
    title = "OpenAI"
    key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    window = WINDOW
    expiry_status = "expired"
    batch_prefix = "batch_"
    id_length = 32
    output_purpose = "batch_output"
    error_purpose = "batch_output"
    glitch_shape = BATCH_OBJECT_GLITCHES

    def routes(self, store: Store, max_file_bytes: int) -> list[Route]:
        return _routes(store, max_file_bytes)

    def render_batch(self, store: Store, batch: SimBatch, snap: Snapshot) -> dict[str, Any]:
        created = store.clock.date_of(batch.created)

        def at(moment: str) -> int | None:
            return unix(batch.date(store.clock, snap, moment))

        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "model": batch.request_params.get("model"),
            "errors": batch.errors(snap),
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": snap.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": unix(created),
            "in_progress_at": at("in_progress_at"),
            "expires_at": unix(created + timedelta(seconds=WINDOW)),
            "finalizing_at": at("finalizing_at"),
            "completed_at": at("completed_at"),
            "failed_at": at("failed_at"),
            "expired_at": at("expired_at"),
            "cancelling_at": at("cancelling_at"),
            "cancelled_at": at("cancelled_at"),
            "request_counts": {"total": snap.total, "completed": snap.completed, "failed": snap.failed},
            "metadata": dict(batch.metadata) or None,
        }

    def render_file(self, file: SimFile) -> dict[str, Any]:
        return {
            "id": file.id,
            "object": "file",
            "bytes": len(file.data()),
            "created_at": unix(file.created_at),
            "expires_at": None,
            "filename": file.filename,
            "purpose": file.purpose,
            "status": "processed",
            "status_details": None,
        }

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def auth_problem(self, headers: Mapping[bytes, bytes], api_key: str | None) -> tuple[int, str] | None:
        return bearer_problem(headers, api_key)

    def headers(self, request_number: int) -> list[tuple[bytes, bytes]]:
        return [(b"x-request-id", f"req_{_hex(f'request {request_number}', 32)}".encode())]

    def rate_limit_headers(self, retry_after: float) -> list[tuple[bytes, bytes]]:
        return [
            *super().rate_limit_headers(retry_after),
            (b"x-ratelimit-limit-requests", b"5000"),
            (b"x-ratelimit-remaining-requests", b"0"),
            (b"x-ratelimit-reset-requests", f"{retry_after:g}s".encode()),
        ]

    def quick_batch(self, store: Store, requests: int, metadata: dict[str, str]) -> SimBatch:
        lines = [
            {
                "custom_id": f"request-{i}",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": QUICK_MODEL, "input": f"text {i}", "dimensions": QUICK_DIMENSIONS},
            }
            for i in range(requests)
        ]
        content = "".join(json.dumps(line) + "\n" for line in lines).encode()
        file = store.add_file("sim_batch_input.jsonl", "batch", content)
        return create_batch(
            store,
            {
                "input_file_id": file.id,
                "endpoint": "/v1/embeddings",
                "completion_window": "24h",
                "metadata": metadata,
            },
        )

    def result_files(
        self, store: Store, batch: SimBatch, snap: Snapshot
    ) -> tuple[Producer | None, Producer | None]:
        processed = snap.processed - snap.expired
        rate = batch.plan.scenario.failure_rate

        def output() -> Iterator[bytes]:
            for index, request in enumerate(batch.requests[:processed]):
                if not request_fails(index, rate):
                    yield _line(batch, request, {"status_code": 200, "body": _body(batch, request)})

        def errors() -> Iterator[bytes]:
            for index, request in enumerate(batch.requests[:processed]):
                if request_fails(index, rate):
                    yield _line(batch, request, {"status_code": 500, "body": {"error": _SERVER_ERROR}})
            expired = {
                "code": "batch_expired",
                "message": "This request could not be executed before the completion window expired.",
            }
            for request in batch.requests[processed : processed + snap.expired]:
                yield _line(batch, request, None, expired)

        return (output if snap.completed else None), (errors if snap.failed else None)


OPENAI = OpenAIDialect()


def create_batch(store: Store, body: object) -> SimBatch:
    """``POST /v1/batches``: the body's checks, then the input file's, then the batch."""
    if not isinstance(body, Mapping):
        raise ApiProblem(400, "The request body must be a JSON object.")
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise ApiProblem(400, f"Invalid endpoint {endpoint!r}; supported: {', '.join(ENDPOINTS)}.")
    if body.get("completion_window") != "24h":
        raise ApiProblem(400, f"Invalid completion_window {body.get('completion_window')!r}; only '24h'.")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, Mapping) or len(metadata) > 16:
        raise ApiProblem(400, "metadata must be an object of at most 16 string pairs.")
    if not all(isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in metadata.items()):
        raise ApiProblem(400, "metadata keys are at most 64 characters and values strings of at most 512.")
    file_id = body.get("input_file_id")
    input_file = store.files.get(file_id) if isinstance(file_id, str) else None
    if input_file is None:
        raise ApiProblem(404, f"No such File object: {file_id}")
    if input_file.purpose != "batch":
        raise ApiProblem(400, f"File {file_id} has purpose {input_file.purpose!r}, not 'batch'.")
    requests, problems = _parse_input(input_file.data(), endpoint)
    models = {str(r.body.get("model")) for r in requests}
    return store.start_batch(
        endpoint=endpoint,
        input_file_id=input_file.id,
        params={"model": min(models) if models else None},
        metadata=dict(metadata),
        requests=requests,
        problems=problems,
    )


def _parse_input(content: bytes, endpoint: str) -> tuple[list[InputRequest], list[ValidationProblem]]:
    """The requests of an input file, and what is wrong with it (at most 10 problems)."""
    requests: list[InputRequest] = []
    problems: list[ValidationProblem] = []
    seen: set[str] = set()
    for number, line in enumerate(content.decode("utf-8", "replace").splitlines(), start=1):
        if len(problems) >= 10 or not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            problems.append(ValidationProblem(number, "The line is not valid JSON."))
            continue
        problem = _request_problem(item, endpoint, seen)
        if problem:
            problems.append(ValidationProblem(number, problem[1], problem[0]))
            continue
        seen.add(item["custom_id"])
        requests.append(InputRequest(item["custom_id"], item["body"]))
    if not requests and not problems:
        problems.append(ValidationProblem(None, "The input file has no requests."))
    if len(requests) > MAX_REQUESTS:
        problems.append(ValidationProblem(None, f"A batch holds at most {MAX_REQUESTS} requests."))
    return requests, problems


def _request_problem(item: object, endpoint: str, seen: set[str]) -> tuple[str, str] | None:
    """The parameter at fault in one line, and why; None for a good request."""
    if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str) or not item["custom_id"]:
        return "custom_id", "Each line needs a string custom_id."
    if item["custom_id"] in seen:
        return "custom_id", f"Duplicate custom_id {item['custom_id']!r}."
    if item.get("method") != "POST":
        return "method", "The method must be POST."
    if item.get("url") != endpoint:
        return "url", f"The url must be the batch's endpoint, {endpoint}."
    body = item.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "body", "The body must be an object with a model."
    return None


def _body(batch: SimBatch, request: InputRequest) -> dict[str, Any]:
    """The answer the request's endpoint would give, in small."""
    body = request.body
    model = str(body.get("model"))
    if batch.endpoint == "/v1/embeddings":
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else [str(t) for t in texts or []]
        dimensions = int(body.get("dimensions") or QUICK_DIMENSIONS)
        data = [
            {"object": "embedding", "index": i, "embedding": embedding(t, model, dimensions)}
            for i, t in enumerate(texts)
        ]
        tokens = sum(len(t.split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": model, "usage": usage}
    return {
        "id": "chatcmpl-" + _hex(request.custom_id, 24),
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"A simulated answer to {request.custom_id}."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18},
    }


def _line(batch: SimBatch, request: InputRequest, response: object, error: object = None) -> bytes:
    if isinstance(response, dict):
        response = {**response, "request_id": _hex(batch.id + request.custom_id, 32)}
    record = {
        "id": "batch_req_" + _hex(batch.id + "/" + request.custom_id, 32),
        "custom_id": request.custom_id,
        "response": response,
        "error": error,
    }
    return json.dumps(record).encode() + b"\n"


def _hex(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _routes(store: Store, max_file_bytes: int) -> list[Route]:
    async def upload(request: Request) -> Response:
        form = await request.form()
        purpose, file = form.get("purpose"), form.get("file")
        if not isinstance(file, UploadFile):
            raise ApiProblem(400, "A file is required (multipart field 'file').")
        if purpose != "batch":
            raise ApiProblem(400, f"This simulator takes files for purpose 'batch' only; got {purpose!r}.")
        if file.size is not None and file.size > max_file_bytes:
            raise file_too_large(max_file_bytes)
        content = await file.read()  # no larger than max_file_bytes: the body is capped as it arrives
        added = store.add_file(file.filename or "upload.jsonl", "batch", content)
        return JSONResponse(OPENAI.render_file(added))

    async def list_files(request: Request) -> Response:
        limit = int_param(request, "limit", 10000, 1, 10000)
        return JSONResponse(
            store.list_files(request.query_params.get("purpose"), limit, request.query_params.get("after"))
        )

    async def get_file(request: Request) -> Response:
        return JSONResponse(OPENAI.render_file(store.get_file(request.path_params["file_id"])))

    async def delete_file(request: Request) -> Response:
        return JSONResponse(store.delete_file(request.path_params["file_id"]))

    async def file_content(request: Request) -> Response:
        file = store.get_file(request.path_params["file_id"])
        return Response(file.data(), media_type="application/octet-stream")

    async def create(request: Request) -> Response:
        return JSONResponse(store.batch_json(create_batch(store, await json_body(request))))

    async def list_batches(request: Request) -> Response:
        limit = int_param(request, "limit", 20, 1, 100)
        return JSONResponse(store.list_batches(limit, request.query_params.get("after")))

    async def get_batch(request: Request) -> Response:
        return JSONResponse(store.batch_json(store.get_batch(request.path_params["batch_id"])))

    async def cancel_batch(request: Request) -> Response:
        return JSONResponse(store.cancel(request.path_params["batch_id"]))

    return [
        Route("/v1/files", upload, methods=["POST"]),
        Route("/v1/files", list_files, methods=["GET"]),
        Route("/v1/files/{file_id}", get_file, methods=["GET"]),
        Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
        Route("/v1/batches", create, methods=["POST"]),
        Route("/v1/batches", list_batches, methods=["GET"]),
        Route("/v1/batches/{batch_id}", get_batch, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    ]
