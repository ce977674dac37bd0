"""The async Voyage Batch API client: files, batches, retries and typed errors.

The key is sent in the ``Authorization`` header and nowhere else. Wherever it comes back, as is
or escaped the way a library quotes it (a body, a reason phrase, a broken status line, a JSON
string, a URL), it is replaced before anyone sees it: a proxy or a server that echoes the header
must not put the key into errors, logs, OSC or files. A key that could not be sent as one header
line (a line break from a key file of two lines) is refused before anything is sent.

Every answer is read as a stream: a JSON answer is given up past ``max_response_bytes``
(counted decompressed, so a compression bomb stops early too) and the whole request, answer
included, past ``timeout`` seconds; both are retried like a broken connection. Files are
streamed to disk (``download_file_to``).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
import re
import urllib.parse
import uuid
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from .._defaults import (
    API_KEY_ENV,
    BASE_URL_ENV,
    COMPLETION_WINDOW,
    DEFAULT_BASE_URL,
    DEFAULT_ENDPOINT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT,
    DEFAULT_MODEL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    IDEMPOTENCY_METADATA_KEY,
    MAX_RESPONSE_BYTES,
)
from .._version import __version__
from ..core.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidAPIKeyError,
    MalformedResponseError,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
)
from ..core.events import BatchProgressEvent
from ..core.inputs import jsonl_from_texts
from ..core.models import BatchJob, FileObject, Page
from . import progress as _progress
from ._budget import RequestBudget
from .retry import RetryPolicy, parse_retry_after

__all__ = ["VoyageBatchClient"]

logger = logging.getLogger("voyage_progress")

T = TypeVar("T")

#: What a download writes to disk at a time (and so holds in memory at most).
_WRITE_CHUNK = 1024 * 1024
#: The encodings asked for, and decoded here a bounded step at a time (``_decoded``).
_ACCEPT_ENCODING = "gzip, deflate"
_DECODE_STEP = 64 * 1024

_ERRORS_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}

#: Errors after which a create may or may not have happened on the server.
_AMBIGUOUS = (APIConnectionError, ServerError, MalformedResponseError)
#: The system's error number in front of its words ("[Errno -2] Name or service not known").
_ERROR_NUMBER = re.compile(r"\[(?:Errno|WinError) -?\d+\]\s*")


class VoyageBatchClient:
    """Talks to the Voyage Batch API (or anything that speaks it, such as the simulator).

    >>> async with VoyageBatchClient() as client:           # doctest: +SKIP
    ...     async for event in client.stream_batch_progress("batch-..."):
    ...         print(f"{event.percent:.1f}%")

    The key comes from ``api_key`` or ``VOYAGE_API_KEY``, the URL from ``base_url`` or
    ``VOYAGE_BASE_URL``. Requests are retried on connection errors, timeouts, 429 and 5xx with
    exponential backoff and full jitter; a create is retried only when it certainly did not
    happen, or after checking that it did not. With ``max_requests_per_second``, no window of
    a second ever holds more requests than that, retries included. ``timeout`` bounds each
    attempt as a whole (a file download: each read); ``max_response_bytes`` bounds each JSON
    answer, decompressed.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_requests_per_second: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        if not key.strip():
            raise MissingAPIKeyError()
        self._api_key = _checked_key(key.strip())
        forms = _secret_forms(self._api_key)
        pattern = "|".join(re.escape(form) for form in forms) or r"(?!)"
        self._secret = re.compile(pattern)
        self._secret_bytes = re.compile(pattern.encode())
        #: The bytes a streamed download holds back, so that no form of the key is cut in two.
        self._secret_span = max(map(len, forms), default=1) - 1
        self.base_url = _validated_base_url(base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.retry_policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self.budget = RequestBudget(max_requests_per_second) if max_requests_per_second else None
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={
                "Authorization": f"Bearer {self._api_key}",
                "User-Agent": f"voyage-progress/{__version__}",
                "Accept-Encoding": _ACCEPT_ENCODING,
            },
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"VoyageBatchClient(base_url={self.base_url!r}, api_key=<hidden>)"

    async def __aenter__(self) -> VoyageBatchClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- files ---------------------------------------------------------------------------------

    async def upload_file(
        self,
        file: str | os.PathLike[str] | bytes,
        *,
        filename: str | None = None,
        purpose: str = "batch",
    ) -> FileObject:
        """Upload a JSONL file (a path, or its bytes) and return its file object."""
        if isinstance(file, bytes):
            content, name = file, filename or "batch_input.jsonl"
        else:
            path = Path(file)
            content, name = await asyncio.to_thread(path.read_bytes), filename or path.name
        started = datetime.now(UTC)

        async def send() -> FileObject:
            return await self._request(
                "POST",
                "files",
                parse=_parse_file,
                idempotent=False,
                files={"file": (name, content, "application/jsonl")},
                data={"purpose": purpose},
            )

        async def find() -> FileObject | None:
            page = await self.list_files()
            matches = [
                f
                for f in page.data
                if f.filename == name
                and f.bytes == len(content)
                and f.purpose == purpose
                and (f.created_at is None or f.created_at >= started - timedelta(minutes=2))
            ]
            return matches[-1] if matches else None

        return await self._create("upload of " + name, send, find)

    async def list_files(self, *, limit: int | None = None, after: str | None = None) -> Page[FileObject]:
        params = _params(limit=limit, after=after)
        return await self._request("GET", "files", params=params, parse=_page_parser(FileObject.from_dict))

    async def get_file(self, file_id: str) -> FileObject:
        return await self._request("GET", f"files/{_segment(file_id)}", parse=_parse_file)

    async def delete_file(self, file_id: str) -> bool:
        """Delete one file; True when the server says it is deleted."""
        body = await self._request("DELETE", f"files/{_segment(file_id)}", parse=_parse_object)
        return bool(body.get("deleted", True))

    async def delete_files(self, file_ids: list[str]) -> list[str]:
        """Delete several files in one request; returns the ids the server reports deleted."""
        body = await self._request(
            "POST", "files/delete", json={"file_ids": list(file_ids)}, parse=_parse_object
        )
        data = body.get("data")
        if not isinstance(data, list):
            return list(file_ids)
        return [str(d.get("id")) for d in data if isinstance(d, Mapping) and d.get("deleted", True)]

    async def download_file(self, file_id: str) -> bytes:
        """A file's content, in memory: the JSONL of a batch's input, output or errors. For a
        large file, ``download_file_to`` keeps memory flat."""
        path = f"files/{_segment(file_id)}/content"
        where = self._redact(f"GET /{path}")

        async def read(response: httpx.Response) -> bytes:
            body = await self._body(
                response, where, limit=None if response.is_success else self.max_response_bytes
            )
            return self._parse(response, body, lambda content: content, where)

        return await self._send("GET", path, read, deadline=None)

    async def download_file_to(self, file_id: str, path: str | os.PathLike[str]) -> int:
        """Stream a file's content to ``path`` and return the bytes written. It is written to a
        temporary file beside ``path`` and renamed over it once whole, so ``path`` never holds
        half a file. Memory stays flat whatever the file's size."""
        target = Path(path)
        url = f"files/{_segment(file_id)}/content"
        where = self._redact(f"GET /{url}")

        async def save(response: httpx.Response) -> int:
            if not response.is_success:
                body = await self._body(response, where, limit=self.max_response_bytes)
                self._parse(response, body, lambda content: content, where)  # raises
            return await _stream_to_file(response, target, self._redact_bytes, self._secret_span)

        return await self._send("GET", url, save, deadline=None)

    # -- batches -------------------------------------------------------------------------------

    async def create_batch(
        self,
        input_file_id: str,
        *,
        model: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
        request_params: Mapping[str, Any] | None = None,
        metadata: Mapping[str, str] | None = None,
        completion_window: str = COMPLETION_WINDOW,
    ) -> BatchJob:
        """Start a batch over an uploaded file. ``model`` may instead be in ``request_params``."""
        params = dict(request_params or {})
        if model is not None:
            params["model"] = model
        if "model" not in params:
            raise ValueError("create_batch needs a model (model= or request_params['model'])")
        tagged = dict(metadata or {})
        marker = None
        if len(tagged) < 16:
            marker = uuid.uuid4().hex
            tagged[IDEMPOTENCY_METADATA_KEY] = marker
        body = {
            "endpoint": endpoint,
            "completion_window": completion_window,
            "request_params": params,
            "input_file_id": input_file_id,
            "metadata": tagged,
        }

        async def send() -> BatchJob:
            return await self._request("POST", "batches", json=body, parse=_parse_batch, idempotent=False)

        async def find() -> BatchJob | None:
            async for batch in self.iter_batches(limit=100, max_pages=2):
                if batch.metadata.get(IDEMPOTENCY_METADATA_KEY) == marker:
                    return batch
            return None

        return await self._create("batch creation", send, find if marker else None)

    async def submit_texts(
        self,
        texts: Iterable[str],
        *,
        model: str = DEFAULT_MODEL,
        per_request: int = 1,
        metadata: Mapping[str, str] | None = None,
        filename: str = "texts.jsonl",
        **request_params: Any,
    ) -> BatchJob:
        """Upload ``texts`` as an input file and start an embeddings batch over them."""
        file = await self.upload_file(jsonl_from_texts(texts, per_request), filename=filename)
        params = {k: v for k, v in request_params.items() if v is not None}
        return await self.create_batch(file.id, model=model, request_params=params, metadata=metadata)

    async def get_batch(self, batch_id: str) -> BatchJob:
        return await self._request("GET", f"batches/{_segment(batch_id)}", parse=_parse_batch)

    async def list_batches(self, *, limit: int = 20, after: str | None = None) -> Page[BatchJob]:
        """One page of batches (``limit`` 1–100), the newest first."""
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be between 1 and 100, not {limit}")
        params = _params(limit=limit, after=after)
        return await self._request("GET", "batches", params=params, parse=_page_parser(BatchJob.from_dict))

    async def iter_batches(
        self, *, limit: int = 100, max_pages: int | None = None
    ) -> AsyncIterator[BatchJob]:
        """Every batch of the organisation, page after page. A server that says there is more
        but hands out a cursor it has given before (the list would never end) raises
        ``MalformedResponseError`` after the batches it did list."""
        after, pages = None, 0
        cursors: set[str] = set()
        while max_pages is None or pages < max_pages:
            page = await self.list_batches(limit=limit, after=after)
            pages += 1
            for batch in page.data:
                yield batch
            if not page.has_more or not page.data:
                return
            after = page.last_id or page.data[-1].id
            if after in cursors:
                raise MalformedResponseError(
                    f"the list of batches does not move on: after {pages} pages the server says there "
                    "is more but points back to a page it gave before; stopped listing",
                    status_code=200,
                    method="GET",
                    url="/batches",
                )
            cursors.add(after)

    async def cancel_batch(self, batch_id: str) -> BatchJob:
        """Ask to cancel a batch (only while validating or in progress)."""
        return await self._request("POST", f"batches/{_segment(batch_id)}/cancel", parse=_parse_batch)

    # -- progress (the spec's API) -------------------------------------------------------------

    def stream_batch_progress(
        self,
        batch_id: str,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        include_metrics: bool = True,
    ) -> AsyncIterator[BatchProgressEvent]:
        """Yield a progress event per poll; ends by itself after a terminal status."""
        return _progress.stream_batch_progress(self, batch_id, poll_interval, include_metrics)

    async def wait_for_batch_completion_with_progress(
        self,
        batch_id: str,
        on_progress: Callable[[BatchProgressEvent], object] | None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> BatchJob:
        """Call ``on_progress`` (plain or async) per poll; return the batch once it has ended."""
        return await _progress.wait_for_batch_completion_with_progress(
            self, batch_id, on_progress, poll_interval, max_wait
        )

    # -- transport -----------------------------------------------------------------------------

    async def _create(
        self,
        what: str,
        send: Callable[[], Awaitable[T]],
        find: Callable[[], Awaitable[T | None]] | None,
    ) -> T:
        """Send a create; after an answer that leaves it unknown whether it happened, look for
        it (``find``) before sending it again. Without ``find`` such a create is never resent."""
        retries = self.retry_policy.max_retries
        for attempt in range(retries + 1):
            try:
                return await send()
            except _AMBIGUOUS as error:
                if find is None or attempt == retries:
                    raise
                try:
                    found = await find()
                except (APIError, APIConnectionError):
                    raise error from None
                if found is not None:
                    logger.info("%s had succeeded despite the error (%s)", what, error)
                    return found
                delay = self.retry_policy.delay(attempt)
                logger.warning(
                    "%s failed (%s); not found on the server, sending again in %.1f s", what, error, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[bytes], T],
        idempotent: bool = True,
        **kwargs: Any,
    ) -> T:
        """Send one request, retrying what is safe to retry, and parse the answer."""
        where = self._redact(f"{method} /{path}")

        async def read(response: httpx.Response) -> T:
            body = await self._body(response, where, limit=self.max_response_bytes)
            return self._parse(response, body, parse, where)

        return await self._send(method, path, read, idempotent=idempotent, deadline=self.timeout, **kwargs)

    async def _send(
        self,
        method: str,
        path: str,
        consume: Callable[[httpx.Response], Awaitable[T]],
        *,
        idempotent: bool = True,
        deadline: float | None,
        **kwargs: Any,
    ) -> T:
        """Send one request and ``consume`` its streamed answer, all within ``deadline`` seconds
        (None: only the timeout of each read); retry what is safe to retry."""
        policy = self.retry_policy
        where = self._redact(f"{method} /{path}")
        for attempt in range(policy.max_retries + 1):
            if self.budget is not None:
                await self.budget.acquire()
            try:
                async with asyncio.timeout(deadline):
                    async with self._http.stream(method, path, **kwargs) as response:
                        return await consume(response)
            except (httpx.TimeoutException, TimeoutError) as exc:
                error: VoyageErrors = APITimeoutError(
                    self._redact(f"{self.base_url} did not answer {where} within {self.timeout:g} s"),
                    method=method,
                    url=self._redact(path),
                )
                unsent = isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            except httpx.TransportError as exc:
                unsent = isinstance(exc, httpx.ConnectError)
                what = "cannot reach" if unsent else "connection broke with"
                error = APIConnectionError(
                    self._redact(f"{what} {self.base_url} ({where}): {_describe(exc)}"),
                    method=method,
                    url=self._redact(path),
                )
            except httpx.DecodingError as exc:
                error, unsent = (
                    APIConnectionError(
                        self._redact(f"undecodable answer from {self.base_url} ({where}): {_describe(exc)}"),
                        method=method,
                        url=self._redact(path),
                    ),
                    False,
                )
            except RateLimitError as exc:
                error, unsent = exc, True
            except (ServerError, MalformedResponseError, ResponseTooLargeError) as exc:
                error, unsent = exc, False
            retry_after = getattr(error, "retry_after", None)
            if (
                attempt >= policy.max_retries
                or not (idempotent or unsent)
                or (retry_after is not None and retry_after > policy.retry_after_max)
            ):
                raise error
            delay = policy.delay(attempt, retry_after)
            logger.info(
                "retrying %s in %.2f s (attempt %d of %d): %s",
                where,
                delay,
                attempt + 2,
                policy.max_retries + 1,
                error,
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _body(self, response: httpx.Response, where: str, *, limit: int | None) -> bytes:
        """The answer's body, decompressed; past ``limit`` bytes it is given up, not read on."""
        chunks: list[bytes] = []
        size = 0
        async with contextlib.aclosing(_decoded(response)) as decoded:
            async for chunk in decoded:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise ResponseTooLargeError(
                        f"the answer to {where} ({response.status_code}) is longer than {limit:,} bytes"
                        + (" once decompressed" if response.headers.get("content-encoding") else "")
                        + "; not read further",
                        method=response.request.method,
                        url=self._redact(response.request.url.path),
                    )
                chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, response: httpx.Response, body: bytes, parse: Callable[[bytes], T], where: str) -> T:
        if response.is_success:
            try:
                return parse(self._redact_bytes(body))
            except ValueError as exc:
                raise MalformedResponseError(
                    f"unexpected answer to {where} ({response.status_code}): {self._redact(str(exc))}",
                    status_code=response.status_code,
                    method=response.request.method,
                    url=self._redact(response.request.url.path),
                ) from None
        status = response.status_code
        detail = _detail(response, body, self._redact)
        message = self._redact(
            f"{status} {response.reason_phrase or 'error'} from {where}" + (f": {detail}" if detail else "")
        )
        cls = _ERRORS_BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
        extra: dict[str, Any] = {}
        if cls is RateLimitError:
            extra["retry_after"] = parse_retry_after(response.headers.get("retry-after"))
        raise cls(
            message,
            status_code=status,
            detail=detail or None,
            method=response.request.method,
            url=self._redact(response.request.url.path),
            **extra,
        )

    def _redact(self, text: str) -> str:
        return self._secret.sub("[redacted]", text)

    def _redact_bytes(self, body: bytes) -> bytes:
        """A body with the key replaced wherever it appears, as is or escaped."""
        return self._secret_bytes.sub(b"[redacted]", body)


VoyageErrors = APIConnectionError | APIError


def _checked_key(key: str) -> str:
    """The key, if it can be sent as one header line; else the reason, without the key."""
    for position, char in enumerate(key, start=1):
        if char in "\r\n":
            raise InvalidAPIKeyError("a line break", position, len(key))
        if not char.isascii():
            raise InvalidAPIKeyError("a character that is not ASCII", position, len(key))
        if not char.isprintable():
            raise InvalidAPIKeyError("a control character", position, len(key))
    return key


def _secret_forms(key: str) -> list[str]:
    """Every form in which the key may come back, longest first: as is, and escaped as Python
    (``repr`` of a string or of the header's bytes, as h11 quotes a header it refuses), JSON, a
    URL (percent-encoded, either case of hex digits, ``+`` for a space) or HTML; and each of these
    as a JSON string holds it (with or without ``\\/``), since bodies are redacted before they
    are parsed. No form at all for a key too short to be told from ordinary text."""
    if len(key) < 4:
        return []
    quoted = {urllib.parse.quote(key, safe=""), urllib.parse.quote(key), urllib.parse.quote_plus(key)}
    lower = {re.sub(r"%[0-9A-F]{2}", lambda hexes: hexes.group().lower(), form) for form in quoted}
    forms = {key, repr(key)[1:-1], repr(key.encode())[2:-1], json.dumps(key)[1:-1], html.escape(key)}
    forms |= quoted | lower
    in_json = {json.dumps(form)[1:-1] for form in forms}
    forms |= in_json | {form.replace("/", "\\/") for form in in_json}
    return sorted(forms, key=len, reverse=True)


def _validated_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parsed = httpx.URL(url) if "://" in url else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"invalid base URL {url!r}: expected http(s)://host[:port]/path")
    return url


def _segment(identifier: str) -> str:
    """An id as one URL path segment; an empty or slash-bearing id cannot name anything."""
    if not identifier or "/" in identifier or identifier.strip() != identifier:
        raise ValueError(f"invalid id {identifier!r}")
    return identifier


def _params(**values: object) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _describe(exc: BaseException) -> str:
    text = _ERROR_NUMBER.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _detail(response: httpx.Response, content: bytes, redact: Callable[[str], str]) -> str:
    """The server's error text: Voyage's ``{"detail": ...}``, or the start of the body;
    redacted before it is cut short, so that no piece of the key survives the cut."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if isinstance(body, Mapping) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):  # validation errors: [{"msg": ...}, ...]
            detail = "; ".join(str(d.get("msg", d)) if isinstance(d, Mapping) else str(d) for d in detail)
        text = str(detail)
    elif isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        text = str(body["error"].get("message", ""))
    else:
        text = _text(response, content) if body is None else str(body)
    text = " ".join(redact(text).split())
    return text[:300] + "…" if len(text) > 300 else text


def _text(response: httpx.Response, content: bytes) -> str:
    try:
        return content.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset no codec knows
        return content.decode("utf-8", errors="replace")


async def _decoded(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body, decompressed at most ``_DECODE_STEP`` bytes at a time. (httpx decompresses
    each piece read from the socket whole: 64 KB of a gzip bomb come out as 64 MB at once, and
    a bomb in two layers of gzip as 64 GB.) An encoding other than those asked for is an
    undecodable answer."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        async for chunk in response.aiter_raw():
            yield chunk
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise httpx.DecodingError(f"an answer in an encoding not asked for ({encoding[:40]!r})")
    wrapped = zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS  # gzip or zlib header
    decompressor = zlib.decompressobj(wrapped)
    started = False
    async for raw in response.aiter_raw():
        data = raw
        while data and not decompressor.eof:
            try:
                out = decompressor.decompress(data, _DECODE_STEP)
            except zlib.error as exc:
                if started or encoding != "deflate":
                    raise httpx.DecodingError(f"a broken {encoding} answer: {exc}") from None
                decompressor = zlib.decompressobj(-zlib.MAX_WBITS)  # deflate without its zlib header
                started = True
                continue
            started = True
            if out:
                yield out
            data = decompressor.unconsumed_tail
    tail = decompressor.flush()
    if tail:
        yield tail


async def _stream_to_file(
    response: httpx.Response, target: Path, redact: Callable[[bytes], bytes], span: int
) -> int:
    """Write the answer's body, redacted, to a temporary file beside ``target``, then rename it
    over ``target``; a failure part-way removes the temporary file and leaves ``target`` as it
    was. The last ``span`` bytes of what was read wait for the next chunk: a key cut in two by
    the chunks is still redacted."""
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    written = 0
    file = await asyncio.to_thread(partial.open, "wb")
    try:
        held: list[bytes] = []
        size = 0
        async with contextlib.aclosing(_decoded(response)) as decoded:
            async for chunk in decoded:
                held.append(chunk)
                size += len(chunk)
                if size >= _WRITE_CHUNK:
                    data = redact(b"".join(held))
                    cut = max(0, len(data) - span)
                    written += await asyncio.to_thread(file.write, data[:cut])
                    held, size = [data[cut:]], 0
        written += await asyncio.to_thread(file.write, redact(b"".join(held)))
        await asyncio.to_thread(file.close)
        await asyncio.to_thread(os.replace, partial, target)
    except BaseException:
        file.close()
        partial.unlink(missing_ok=True)
        raise
    return written


def _parse_object(content: bytes) -> Mapping[str, Any]:
    try:
        body = json.loads(content)  # ValueError on malformed JSON
    except RecursionError:  # arrays or objects nested thousands deep
        raise ValueError("the answer nests too deep to read") from None
    if not isinstance(body, Mapping):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _parse_batch(content: bytes) -> BatchJob:
    return BatchJob.from_dict(_parse_object(content))


def _parse_file(content: bytes) -> FileObject:
    return FileObject.from_dict(_parse_object(content))


def _page_parser(item: Callable[[Mapping[str, Any]], T]) -> Callable[[bytes], Page[T]]:
    def parse(content: bytes) -> Page[T]:
        body = _parse_object(content)
        data = body.get("data")
        if not isinstance(data, list):
            raise ValueError("the list has no data array")
        return Page(
            data=tuple(_parse_items(item, data)),
            first_id=_page_id(body.get("first_id")),
            last_id=_page_id(body.get("last_id")),
            has_more=bool(body.get("has_more", False)),
        )

    return parse


def _page_id(value: object) -> str | None:
    """A page's ``first_id`` or ``last_id``, if it is a string at all (it is sent back as ``after``)."""
    return value if isinstance(value, str) and value else None


def _parse_items(item: Callable[[Mapping[str, Any]], T], data: list[Any]) -> list[T]:
    """The list's items; one that cannot be parsed (no id) is logged and left out, not fatal."""
    items = []
    for raw in data:
        try:
            items.append(item(raw))
        except ValueError as exc:
            logger.warning("skipping an unreadable list item: %s", exc)
    return items
