"""The async Voyage Batch API client: files, batches, retries and typed errors.

The key is sent in the ``Authorization`` header and nowhere else. Wherever it comes back as is
(a body, a reason phrase, a broken status line), it is replaced before anyone sees it: a proxy
or a server that echoes the header must not put the key into errors, logs, OSC or files.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
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
)
from .._version import __version__
from ..core.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
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
    a second ever holds more requests than that, retries included.
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
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        if not key.strip():
            raise MissingAPIKeyError()
        self._api_key = key.strip()
        self.base_url = _validated_base_url(base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL)
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self.budget = RequestBudget(max_requests_per_second) if max_requests_per_second else None
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={
                "Authorization": f"Bearer {self._api_key}",
                "User-Agent": f"voyage-progress/{__version__}",
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
        """A file's content: the JSONL of a batch's input, output or errors."""
        return await self._request("GET", f"files/{_segment(file_id)}/content", parse=lambda body: body)

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
        """Every batch of the organisation, page after page."""
        after, pages = None, 0
        while max_pages is None or pages < max_pages:
            page = await self.list_batches(limit=limit, after=after)
            pages += 1
            for batch in page.data:
                yield batch
            if not page.has_more or not page.data:
                return
            after = page.last_id or page.data[-1].id

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
        policy = self.retry_policy
        where = self._redact(f"{method} /{path}")
        for attempt in range(policy.max_retries + 1):
            if self.budget is not None:
                await self.budget.acquire()
            try:
                response = await self._http.request(method, path, **kwargs)
                return self._parse(response, parse, where)
            except httpx.TimeoutException as exc:
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
            except RateLimitError as exc:
                error, unsent = exc, True
            except (ServerError, MalformedResponseError) as exc:
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

    def _parse(self, response: httpx.Response, parse: Callable[[bytes], T], where: str) -> T:
        if response.is_success:
            try:
                return parse(self._redact_bytes(response.content))
            except ValueError as exc:
                raise MalformedResponseError(
                    f"unexpected answer to {where} ({response.status_code}): {self._redact(str(exc))}",
                    status_code=response.status_code,
                    method=response.request.method,
                    url=self._redact(response.request.url.path),
                ) from None
        status = response.status_code
        detail = _detail(response, self._redact)
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
        return text.replace(self._api_key, "[redacted]") if len(self._api_key) >= 4 else text

    def _redact_bytes(self, body: bytes) -> bytes:
        """A body with the key replaced wherever it appears as is (JSON strings included)."""
        secret = self._api_key.encode()
        return body.replace(secret, b"[redacted]") if len(secret) >= 4 else body


VoyageErrors = APIConnectionError | APIError


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


def _detail(response: httpx.Response, redact: Callable[[str], str]) -> str:
    """The server's error text: Voyage's ``{"detail": ...}``, or the start of the body;
    redacted before it is cut short, so that no piece of the key survives the cut."""
    try:
        body = response.json()
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
        text = response.text if body is None else str(body)
    text = " ".join(redact(text).split())
    return text[:300] + "…" if len(text) > 300 else text


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
