"""The Voyage Batch API: files, batches and the progress API, over the shared HTTP of ``_http``.

The key is sent in the ``Authorization`` header and nowhere else (``_http`` keeps it out of
every error, log and body, and refuses one that cannot be sent as one header line). Answers are
read within bounds (``_http``); files can be streamed to disk (``download_file_to``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
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
from ..core.errors import MalformedResponseError, MissingAPIKeyError
from ..core.events import BatchProgressEvent
from ..core.inputs import jsonl_from_texts
from ..core.models import BatchJob, FileObject, Page
from . import progress as _progress
from ._http import HttpAPI, Sleep, validated_base_url
from .retry import RetryPolicy

__all__ = ["VoyageBatchClient"]

logger = logging.getLogger("voyage_progress")

T = TypeVar("T")


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
    answer, decompressed. ``sleep`` is how it waits: between retries, and between the polls of
    the progress API.
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
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip()
        if not key:
            raise MissingAPIKeyError()
        self._http = HttpAPI(
            validated_base_url(base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL),
            secret=key,
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            retry_policy=retry_policy or RetryPolicy(max_retries=max_retries),
            transport=transport,
            max_requests_per_second=max_requests_per_second,
            max_response_bytes=max_response_bytes,
            sleep=sleep,
        )
        self.base_url = self._http.base_url
        self.timeout = timeout
        self.retry_policy = self._http.retry_policy
        self.budget = self._http.budget
        self.max_response_bytes = max_response_bytes

    @property
    def sleep(self) -> Sleep:
        return self._http.sleep

    @sleep.setter
    def sleep(self, sleep: Sleep) -> None:
        self._http.sleep = sleep

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
            return await self._http.request(
                "POST",
                "files",
                parse=FileObject.from_dict,
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

        return await self._http.create("upload of " + name, send, find)

    async def list_files(self, *, limit: int | None = None, after: str | None = None) -> Page[FileObject]:
        params = _params(limit=limit, after=after)
        return await self._http.request(
            "GET", "files", params=params, parse=_page_parser(FileObject.from_dict)
        )

    async def get_file(self, file_id: str) -> FileObject:
        return await self._http.request("GET", f"files/{_segment(file_id)}", parse=FileObject.from_dict)

    async def delete_file(self, file_id: str) -> bool:
        """Delete one file; True when the server says it is deleted."""
        body = await self._http.request("DELETE", f"files/{_segment(file_id)}", parse=dict)
        return bool(body.get("deleted", True))

    async def delete_files(self, file_ids: list[str]) -> list[str]:
        """Delete several files in one request; returns the ids the server reports deleted."""
        body = await self._http.request("POST", "files/delete", json={"file_ids": list(file_ids)}, parse=dict)
        data = body.get("data")
        if not isinstance(data, list):
            return list(file_ids)
        return [str(d.get("id")) for d in data if isinstance(d, Mapping) and d.get("deleted", True)]

    async def download_file(self, file_id: str) -> bytes:
        """A file's content, in memory: the JSONL of a batch's input, output or errors. For a
        large file, ``download_file_to`` keeps memory flat."""
        return await self._http.content("GET", f"files/{_segment(file_id)}/content")

    async def download_file_to(self, file_id: str, path: str | os.PathLike[str]) -> int:
        """Stream a file's content to ``path`` and return the bytes written. It is written to a
        temporary file beside ``path`` and renamed over it once whole, so ``path`` never holds
        half a file. Memory stays flat whatever the file's size."""
        return await self._http.save("GET", f"files/{_segment(file_id)}/content", Path(path))

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
            return await self._http.request(
                "POST", "batches", json=body, parse=BatchJob.from_dict, idempotent=False
            )

        async def find() -> BatchJob | None:
            async for batch in self.iter_batches(limit=100, max_pages=2):
                if batch.metadata.get(IDEMPOTENCY_METADATA_KEY) == marker:
                    return batch
            return None

        return await self._http.create("batch creation", send, find if marker else None)

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
        return await self._http.request("GET", f"batches/{_segment(batch_id)}", parse=BatchJob.from_dict)

    async def list_batches(self, *, limit: int = 20, after: str | None = None) -> Page[BatchJob]:
        """One page of batches (``limit`` 1–100), the newest first."""
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be between 1 and 100, not {limit}")
        params = _params(limit=limit, after=after)
        return await self._http.request(
            "GET", "batches", params=params, parse=_page_parser(BatchJob.from_dict)
        )

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
        return await self._http.request(
            "POST", f"batches/{_segment(batch_id)}/cancel", parse=BatchJob.from_dict
        )

    # -- progress (the spec's API) -------------------------------------------------------------

    def stream_batch_progress(
        self,
        batch_id: str,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        include_metrics: bool = True,
    ) -> AsyncIterator[BatchProgressEvent]:
        """Yield a progress event per poll; ends by itself after a terminal status."""
        return _progress.stream_batch_progress(
            self, batch_id, poll_interval, include_metrics, sleep=self.sleep
        )

    async def wait_for_batch_completion_with_progress(
        self,
        batch_id: str,
        on_progress: Callable[[BatchProgressEvent], object] | None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> BatchJob:
        """Call ``on_progress`` (plain or async) per poll; return the batch once it has ended."""
        return await _progress.wait_for_batch_completion_with_progress(
            self, batch_id, on_progress, poll_interval, max_wait, sleep=self.sleep
        )


def _segment(identifier: str) -> str:
    """An id as one URL path segment; an empty or slash-bearing id cannot name anything."""
    if not identifier or "/" in identifier or identifier.strip() != identifier:
        raise ValueError(f"invalid id {identifier!r}")
    return identifier


def _params(**values: object) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _page_parser(item: Callable[[Mapping[str, Any]], T]) -> Callable[[Mapping[str, Any]], Page[T]]:
    def parse(body: Mapping[str, Any]) -> Page[T]:
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
