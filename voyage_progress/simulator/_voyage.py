"""Voyage's dialect: the Files and Batch endpoints under ``/v1`` as api.voyageai.com serves them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._content import ENDPOINTS, OUTPUT_DTYPES, error_lines, output_lines, parse_input
from ._dialect import BATCH_OBJECT_GLITCHES, Dialect, Producer
from ._models import MODELS, dimension_problem
from ._requests import file_too_large, int_param, json_body
from ._scenarios import WINDOW_SECONDS, Snapshot
from ._store import QUICK_BATCH_PARAMS, ApiProblem, SimBatch, SimFile, Store

__all__ = ["VOYAGE", "VoyageDialect"]


class VoyageDialect(Dialect):
    name = "voyage"
    title = "Voyage"
    key_env = "VOYAGE_API_KEY"
    base_url_env = "VOYAGE_BASE_URL"
    window = WINDOW_SECONDS
    batch_prefix = "batch-"
    id_length = 37
    glitch_shape = BATCH_OBJECT_GLITCHES

    def routes(self, store: Store, max_file_bytes: int) -> list[Route]:
        return _routes(store, max_file_bytes)

    def render_batch(self, store: Store, batch: SimBatch, snap: Snapshot) -> dict[str, Any]:
        return batch.to_dict(snap, store.clock)

    def render_file(self, file: SimFile) -> dict[str, Any]:
        return file.to_dict()

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"detail": message}

    def auth_problem(self, headers: Mapping[bytes, bytes], api_key: str | None) -> tuple[int, str] | None:
        return bearer_problem(headers, api_key)

    def quick_batch(self, store: Store, requests: int, metadata: dict[str, str]) -> SimBatch:
        lines = "".join(
            json.dumps({"custom_id": f"request-{i}", "body": {"input": [f"text {i}"]}}) + "\n"
            for i in range(requests)
        )
        file = store.add_file("sim_batch_input.jsonl", "batch", lines.encode())
        return create_batch(
            store,
            {
                "endpoint": "/v1/embeddings",
                "completion_window": "12h",
                "input_file_id": file.id,
                "request_params": dict(QUICK_BATCH_PARAMS),
                "metadata": metadata,
            },
        )

    def result_files(
        self, store: Store, batch: SimBatch, snap: Snapshot
    ) -> tuple[Producer | None, Producer | None]:
        processed = snap.processed - snap.expired
        rate = batch.plan.scenario.failure_rate

        def output() -> Iterator[bytes]:
            return output_lines(
                batch.id, batch.requests, processed, rate, batch.endpoint, batch.request_params
            )

        def errors() -> Iterator[bytes]:
            return error_lines(batch.id, batch.requests, processed, snap.expired, rate)

        return (output if snap.completed else None), (errors if snap.failed else None)


VOYAGE = VoyageDialect()


def bearer_problem(headers: Mapping[bytes, bytes], api_key: str | None) -> tuple[int, str] | None:
    """A missing or wrong ``Authorization: Bearer`` key (Voyage and OpenAI take it so)."""
    header = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return 401, "No API key provided. Set the Authorization header to 'Bearer <your key>'."
    if api_key is not None and token.strip() != api_key:
        return 401, "Provided API key is invalid."
    return None


def create_batch(store: Store, body: Mapping[str, Any]) -> SimBatch:
    """``POST /v1/batches``: Voyage's checks of the body and of the input file, then the batch."""
    endpoint, _window, file_id, params, metadata = _validated_create(body)
    input_file = store.files.get(file_id)
    if input_file is None:
        raise ApiProblem(404, f"File {file_id} not found.")
    if input_file.purpose != "batch":
        raise ApiProblem(400, f"File {file_id} has purpose {input_file.purpose!r}, not 'batch'.")
    requests, problems = parse_input(input_file.data(), endpoint, MODELS[params["model"]])
    return store.start_batch(
        endpoint=endpoint,
        input_file_id=file_id,
        params=params,
        metadata=metadata,
        requests=requests,
        problems=problems,
    )


def _routes(store: Store, max_file_bytes: int) -> list[Route]:
    async def upload(request: Request) -> Response:
        form = await request.form()
        purpose, file = form.get("purpose"), form.get("file")
        if not isinstance(file, UploadFile):
            raise ApiProblem(400, "A file is required (multipart field 'file').")
        if purpose != "batch":
            raise ApiProblem(400, f"purpose must be 'batch'; got {purpose!r}.")
        if file.size is not None and file.size > max_file_bytes:
            raise file_too_large(max_file_bytes)
        content = await file.read()  # no larger than max_file_bytes: the body is capped as it arrives
        return JSONResponse(store.add_file(file.filename or "upload.jsonl", "batch", content).to_dict())

    async def list_files(request: Request) -> Response:
        limit = int_param(request, "limit", 10000, 1, 10000)
        return JSONResponse(
            store.list_files(request.query_params.get("purpose"), limit, request.query_params.get("after"))
        )

    async def get_file(request: Request) -> Response:
        return JSONResponse(store.get_file(request.path_params["file_id"]).to_dict())

    async def delete_file(request: Request) -> Response:
        return JSONResponse(store.delete_file(request.path_params["file_id"]))

    async def delete_files(request: Request) -> Response:
        body = await json_body(request)
        ids = body.get("file_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ApiProblem(400, "file_ids must be a list of file ids.")
        data = []
        for file_id in ids:
            deleted = file_id in store.files
            store.files.pop(file_id, None)
            data.append({"id": file_id, "object": "file", "deleted": deleted})
        return JSONResponse({"object": "list", "data": data})

    async def file_content(request: Request) -> Response:
        file = store.get_file(request.path_params["file_id"])
        return Response(file.data(), media_type="application/octet-stream")

    async def create(request: Request) -> Response:
        batch = create_batch(store, await json_body(request))
        return JSONResponse(store.batch_json(batch))

    async def list_batches(request: Request) -> Response:
        limit = int_param(request, "limit", 20, 1, 100)
        return JSONResponse(store.list_batches(limit, request.query_params.get("after")))

    async def get_batch(request: Request) -> Response:
        return JSONResponse(store.batch_json(store.get_batch(request.path_params["batch_id"])))

    async def cancel_batch(request: Request) -> Response:
        return JSONResponse(store.cancel(request.path_params["batch_id"]))

    p = "/v1"
    return [
        Route(f"{p}/files", upload, methods=["POST"]),
        Route(f"{p}/files", list_files, methods=["GET"]),
        Route(f"{p}/files/delete", delete_files, methods=["POST"]),
        Route(f"{p}/files/{{file_id}}", get_file, methods=["GET"]),
        Route(f"{p}/files/{{file_id}}", delete_file, methods=["DELETE"]),
        Route(f"{p}/files/{{file_id}}/content", file_content, methods=["GET"]),
        Route(f"{p}/batches", create, methods=["POST"]),
        Route(f"{p}/batches", list_batches, methods=["GET"]),
        Route(f"{p}/batches/{{batch_id}}", get_batch, methods=["GET"]),
        Route(f"{p}/batches/{{batch_id}}/cancel", cancel_batch, methods=["POST"]),
    ]


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
