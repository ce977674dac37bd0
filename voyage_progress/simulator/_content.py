"""What the simulator reads and writes inside files: input validation, and the output and
error JSONL of a batch, with deterministic embeddings of the requested dimension."""

from __future__ import annotations

import hashlib
import json
import random
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..core.inputs import InputProblem, read_batch_input
from ._models import CONTEXTUALIZED, EMBEDDINGS, MODELS, RERANK, ModelSpec
from ._scenarios import request_fails

ENDPOINTS = (EMBEDDINGS, CONTEXTUALIZED, RERANK)
OUTPUT_DTYPES = ("float", "int8", "uint8", "binary", "ubinary")
#: Problems listed in a failed batch's ``errors``; reading stops there.
MAX_PROBLEMS = 10


@dataclass(frozen=True)
class InputRequest:
    custom_id: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class ValidationProblem:
    line: int | None
    message: str
    param: str | None = None

    def to_error(self) -> dict[str, Any]:
        return {"code": "invalid_request", "line": self.line, "message": self.message, "param": self.param}


def parse_input(
    content: bytes, endpoint: str, model: ModelSpec
) -> tuple[list[InputRequest], list[ValidationProblem]]:
    """The requests of an input file for ``model``, and what is wrong with it (at most
    ``MAX_PROBLEMS``): the rules and limits that ``submit`` checks before uploading
    (``voyage_progress.core.inputs``, which counts tokens from below, to refuse only what is surely
    over), then the model's token limit again with tokens estimated as Voyage counts them."""
    requests: list[InputRequest] = []
    problems: list[ValidationProblem] = []
    for item in read_batch_input(content, endpoint, model.name):
        if isinstance(item, InputProblem):
            problems.append(ValidationProblem(item.line, item.message, item.param))
        elif (tokens := _request_tokens(item.body, endpoint)) > (limit := model.max_request_tokens):
            message = f"the request holds {tokens} tokens; {model.name} takes at most {limit} in one request"
            problems.append(ValidationProblem(item.line, message, "body"))
        else:
            requests.append(InputRequest(item.custom_id, item.body))
        if len(problems) >= MAX_PROBLEMS:
            break
    return requests, problems


def embedding(text: str, model: str, dimension: int, dtype: str = "float") -> list[float] | list[int]:
    """A unit vector that depends only on ``(model, text, dimension)``: the same input always
    embeds the same, and different texts differ."""
    seed = hashlib.sha256(f"{model}\0{dimension}\0{text}".encode()).digest()
    rng = random.Random(seed)
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimension)]
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    unit = [v / norm for v in vector]
    if dtype == "float":
        return [float(struct.unpack("f", struct.pack("f", v))[0]) for v in unit]
    if dtype in ("int8", "uint8"):
        offset = 128 if dtype == "uint8" else 0
        return [max(-128, min(127, round(v * 127 * 8))) + offset for v in unit]
    bits = [1 if v > 0 else 0 for v in unit]
    packed = [int("".join(map(str, bits[i : i + 8])).ljust(8, "0"), 2) for i in range(0, len(bits), 8)]
    return packed if dtype == "ubinary" else [b - 128 for b in packed]


def _tokens(texts: list[str]) -> int:
    """About as many tokens as Voyage's tokenizers count for English: 1.3 per word."""
    return sum(max(1, round(len(t.split()) * 1.3)) for t in texts)


def _request_tokens(body: Mapping[str, Any], endpoint: str) -> int:
    """The tokens of one valid request, as the endpoint's limit counts them."""
    if endpoint == RERANK:
        documents = list(body["documents"])
        return _tokens([body["query"]]) * len(documents) + _tokens(documents)
    if endpoint == CONTEXTUALIZED:
        return _tokens([chunk for document in body["inputs"] for chunk in document])
    return _tokens([body["input"]] if isinstance(body["input"], str) else list(body["input"]))


def response_body(request: InputRequest, endpoint: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The body the real endpoint would answer for this request."""
    model = str(params.get("model"))
    dimension = int(params.get("output_dimension") or MODELS[model].default_dimension)
    dtype = str(params.get("output_dtype") or "float")
    body = request.body
    data: list[dict[str, Any]]
    if endpoint == "/v1/rerank":
        documents = list(body["documents"])
        scores = [random.Random(f"{body['query']}\0{d}").random() for d in documents]
        order = sorted(range(len(documents)), key=lambda i: -scores[i])
        data = [{"relevance_score": round(scores[i], 8), "index": i} for i in order]
        return {"object": "list", "data": data, "model": model, "usage": {"total_tokens": _tokens(documents)}}
    if endpoint == "/v1/contextualizedembeddings":
        docs = body["inputs"]
        data = [
            {
                "object": "list",
                "index": d,
                "data": [
                    {
                        "object": "embedding",
                        "embedding": embedding(chunk, model, dimension, dtype),
                        "index": c,
                    }
                    for c, chunk in enumerate(doc)
                ],
            }
            for d, doc in enumerate(docs)
        ]
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"total_tokens": _tokens([c for doc in docs for c in doc])},
        }
    texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
    data = [
        {"object": "embedding", "embedding": embedding(t, model, dimension, dtype), "index": i}
        for i, t in enumerate(texts)
    ]
    return {"object": "list", "data": data, "model": model, "usage": {"total_tokens": _tokens(texts)}}


def output_lines(
    batch_id: str,
    requests: list[InputRequest],
    processed: int,
    failure_rate: float,
    endpoint: str,
    params: Mapping[str, Any],
) -> Iterator[bytes]:
    """One line per succeeded request among the first ``processed``."""
    for index, request in enumerate(requests[:processed]):
        if not request_fails(index, failure_rate):
            body = response_body(request, endpoint, params)
            yield _line(batch_id, request.custom_id, {"status_code": 200, "body": body}, None)


def error_lines(
    batch_id: str, requests: list[InputRequest], processed: int, expired: int, failure_rate: float
) -> Iterator[bytes]:
    """One line per failed request among the first ``processed``, then one per expired one."""
    for index, request in enumerate(requests[:processed]):
        if request_fails(index, failure_rate):
            response = {"status_code": 500, "message": "Internal Server Error"}
            yield _line(batch_id, request.custom_id, response, None)
    expired_error = {
        "code": "batch_expired",
        "message": "This request could not be executed before the completion window expired.",
    }
    for request in requests[processed : processed + expired]:
        yield _line(batch_id, request.custom_id, None, expired_error)


def _line(batch_id: str, custom_id: str, response: object, error: object) -> bytes:
    record = {"batch_id": batch_id, "custom_id": custom_id, "response": response, "error": error}
    return json.dumps(record, separators=(", ", ": ")).encode() + b"\n"
