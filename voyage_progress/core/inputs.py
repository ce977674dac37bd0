"""Batch input files: made from plain texts, and checked against Voyage's limits (``_limits``).

``read_batch_input`` is the one reading of an input file: ``submit`` checks a file with it
before uploading (``check_batch_input``, ``check_texts``: one line naming the file, the line and
the command line's option to change), and the simulator validates uploads with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from .._defaults import DEFAULT_ENDPOINT
from . import limits

RERANK_ENDPOINT = "/v1/rerank"
CONTEXTUALIZED_ENDPOINT = "/v1/contextualizedembeddings"
_BOM = "\ufeff"
_NOT_UTF8 = "not UTF-8 text (save the file as UTF-8)"


class BatchInputError(ValueError):
    """What is wrong with an input file, in one line that names the file and the line."""


@dataclass(frozen=True)
class BatchRequest:
    line: int
    custom_id: str
    body: Mapping[str, Any]
    #: Texts, chunks or documents: what counts towards the batch's limit of inputs.
    inputs: int


@dataclass(frozen=True)
class InputProblem:
    """What is wrong with one line, or with the whole file when ``line`` is None."""

    line: int | None
    message: str
    param: str | None = None


class _Invalid(Exception):
    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def jsonl_from_texts(texts: Iterable[str], per_request: int = 1, id_prefix: str = "request") -> bytes:
    """A Voyage batch input file: ``per_request`` texts per line, ids ``request-0``, ``request-1``...

    One text per request makes counts move per text (smooth progress); up to 1,000 per request
    is what Voyage allows, and fewer requests finish sooner.
    """
    if not 1 <= per_request <= limits.MAX_TEXTS_PER_REQUEST:
        raise ValueError(
            f"per_request must be between 1 and {limits.MAX_TEXTS_PER_REQUEST}, not {per_request}"
        )
    items = [t for t in texts]
    if not items:
        raise ValueError("no texts to embed")
    lines = []
    for number, start in enumerate(range(0, len(items), per_request)):
        chunk = items[start : start + per_request]
        lines.append(json.dumps({"custom_id": f"{id_prefix}-{number}", "body": {"input": chunk}}))
    return ("\n".join(lines) + "\n").encode()


# -- reading a batch input file ------------------------------------------------------------------


def read_batch_input(
    content: bytes, endpoint: str = DEFAULT_ENDPOINT, model: str | None = None
) -> Iterator[BatchRequest | InputProblem]:
    """Each request of an input file in turn, or what is wrong with its line; then what is wrong
    with the file as a whole (no requests, too many inputs). ``model`` sets the token limits."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield InputProblem(content.count(b"\n", 0, exc.start) + 1, _NOT_UTF8)
        return
    if text.startswith(_BOM):
        yield InputProblem(1, "starts with a byte order mark (BOM); save the file as UTF-8 without one")
        return
    first_lines: dict[str, int] = {}
    inputs = problems = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            request = _request(line, number, endpoint, model, first_lines)
        except _Invalid as invalid:
            problems += 1
            yield InputProblem(number, invalid.message, invalid.param)
            continue
        first_lines[request.custom_id] = number
        inputs += request.inputs
        yield request
    if not first_lines and not problems:
        yield InputProblem(None, "no requests")
    if inputs > limits.MAX_INPUTS_PER_BATCH:
        yield InputProblem(
            None, f"{inputs:,} inputs in all; a batch takes at most {limits.MAX_INPUTS_PER_BATCH:,}"
        )


def _request(
    line: str, number: int, endpoint: str, model: str | None, first_lines: Mapping[str, int]
) -> BatchRequest:
    try:
        item = json.loads(line)
    except ValueError:
        raise _Invalid("not valid JSON", None) from None
    if not isinstance(item, dict):
        raise _Invalid("not a JSON object with custom_id and body", None)
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise _Invalid("custom_id must be a non-empty string", "custom_id")
    if custom_id in first_lines:
        raise _Invalid(f"custom_id {custom_id!r} is already on line {first_lines[custom_id]}", "custom_id")
    body = item.get("body")
    if not isinstance(body, dict):
        raise _Invalid("body must be an object", "body")
    return BatchRequest(number, custom_id, body, _inputs_of(body, endpoint, model))


def _inputs_of(body: Mapping[str, Any], endpoint: str, model: str | None) -> int:
    if endpoint == RERANK_ENDPOINT:
        return _rerank_inputs(body, model)
    if endpoint == CONTEXTUALIZED_ENDPOINT:
        return _contextualized_inputs(body, model)
    return _embedding_inputs(body, model)


def _embedding_inputs(body: Mapping[str, Any], model: str | None) -> int:
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not _strings(texts):
        raise _Invalid("body.input must be a string or a non-empty list of strings", "body.input")
    _at_most(len(texts), limits.MAX_TEXTS_PER_REQUEST, "body.input", "texts")
    tokens = sum(limits.token_floor(t) for t in texts)
    _tokens_at_most(tokens, limits.TOKENS_PER_REQUEST.get(model or ""), model, "body.input")
    return len(texts)


def _contextualized_inputs(body: Mapping[str, Any], model: str | None) -> int:
    documents = body.get("inputs")
    if not isinstance(documents, list) or not documents or not all(_strings(d) for d in documents):
        raise _Invalid("body.inputs must be a non-empty list of non-empty lists of strings", "body.inputs")
    chunks = [chunk for document in documents for chunk in document]
    _at_most(len(documents), limits.MAX_TEXTS_PER_REQUEST, "body.inputs", "inputs")
    _at_most(len(chunks), limits.MAX_CHUNKS_PER_REQUEST, "body.inputs", "chunks")
    tokens = sum(limits.token_floor(c) for c in chunks)
    _tokens_at_most(tokens, limits.CONTEXTUALIZED_TOKENS_PER_REQUEST, model, "body.inputs")
    return len(chunks)


def _rerank_inputs(body: Mapping[str, Any], model: str | None) -> int:
    query, documents = body.get("query"), body.get("documents")
    if not isinstance(query, str) or not _strings(documents):
        raise _Invalid("a rerank body needs a query string and a non-empty list of document strings", "body")
    _at_most(len(documents), limits.MAX_TEXTS_PER_REQUEST, "body.documents", "documents")
    tokens = limits.token_floor(query) * len(documents) + sum(limits.token_floor(d) for d in documents)
    _tokens_at_most(tokens, limits.TOKENS_PER_REQUEST.get(model or ""), model, "body.documents")
    return len(documents)


def _at_most(count: int, limit: int, param: str, what: str) -> None:
    if count > limit:
        raise _Invalid(f"{param} has {count:,} {what}; at most {limit:,} per request", param)


def _tokens_at_most(tokens: int, limit: int | None, model: str | None, param: str) -> None:
    if limit is not None and tokens > limit:
        who = model or "a request"
        raise _Invalid(f"{param} has at least {tokens:,} tokens; {who} takes at most {limit:,}", param)


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


# -- what ``submit`` checks before uploading -----------------------------------------------------


def check_batch_input(
    content: bytes, name: str, endpoint: str = DEFAULT_ENDPOINT, model: str | None = None
) -> int:
    """The number of requests in a batch input file, or a ``BatchInputError`` about the first
    thing wrong with it."""
    _check_size(len(content), name)
    first = _first_line(content)
    if first is None:
        raise BatchInputError(f"{name} is empty" if not content else f"{name} has only blank lines")
    number, line = first
    if not line.lstrip().startswith((b"{", b"[", _BOM.encode())):
        raise BatchInputError(
            f"{name} line {number} is not JSON: did you mean --texts (plain texts, one per line)?"
        )
    requests = 0
    for item in read_batch_input(content, endpoint, model):
        if isinstance(item, InputProblem):
            where = f"{name} line {item.line}" if item.line is not None else name
            raise BatchInputError(f"{where}: {item.message}")
        requests += 1
    return requests


def numbered_texts(content: bytes, name: str) -> list[tuple[int, str]]:
    """The non-blank lines of a plain text file, with their line numbers."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise BatchInputError(f"{name} line {line}: {_NOT_UTF8}") from None
    lines = [(n, line.removesuffix("\r")) for n, line in enumerate(text.split("\n"), start=1)]
    texts = [(n, line) for n, line in lines if line.strip()]
    if not texts:
        raise BatchInputError(f"{name} is empty" if not text else f"{name} has only blank lines")
    return texts


def check_texts(texts: Sequence[tuple[int, str]], name: str, per_request: int, model: str) -> None:
    """Texts that fit one batch, ``per_request`` of them per request, for ``model``."""
    if len(texts) > limits.MAX_INPUTS_PER_BATCH:
        raise BatchInputError(
            f"{name} has {len(texts):,} texts; a batch takes at most "
            f"{limits.MAX_INPUTS_PER_BATCH:,}: split the file"
        )
    limit = limits.TOKENS_PER_REQUEST.get(model)
    for start in range(0, len(texts), per_request):
        chunk = texts[start : start + per_request]
        tokens = sum(limits.token_floor(text) for _, text in chunk)
        if limit is not None and tokens > limit:
            lines = f"lines {chunk[0][0]}-{chunk[-1][0]}" if len(chunk) > 1 else f"line {chunk[0][0]}"
            raise BatchInputError(
                f"{name} {lines}, one request, have at least {tokens:,} tokens; {model} takes at most "
                f"{limit:,} per request: lower --per-request"
            )


def _first_line(content: bytes) -> tuple[int, bytes] | None:
    """The first line that is not blank, and its number."""
    start, number = 0, 1
    while start < len(content):
        end = content.find(b"\n", start)
        end = len(content) if end < 0 else end
        if content[start:end].strip():
            return number, content[start:end]
        start, number = end + 1, number + 1
    return None


def _check_size(size: int, name: str) -> None:
    if size > limits.MAX_FILE_BYTES:
        raise BatchInputError(
            f"{name} has {size:,} bytes; a batch input file may have at most "
            f"{limits.MAX_FILE_BYTES:,} (1 GB): split it"
        )
