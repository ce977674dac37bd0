"""The Voyage Batch API: files and batches, over what every provider shares (``_client``).

The key is sent in the ``Authorization`` header and nowhere else (``_http`` keeps it out of
every error, log and body, and refuses one that cannot be sent as one header line). Answers are
read within bounds (``_http``); files can be streamed to disk (``download_file_to``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .._defaults import (
    API_KEY_ENV,
    BASE_URL_ENV,
    COMPLETION_WINDOW,
    COMPLETION_WINDOW_HOURS,
    DEFAULT_BASE_URL,
    DEFAULT_ENDPOINT,
    DEFAULT_MODEL,
    IDEMPOTENCY_METADATA_KEY,
)
from ..core.inputs import jsonl_from_texts
from ..core.models import BatchJob, FileObject, Page
from ._client import BatchClient, check_limit, page_parser, query, segment

__all__ = ["VoyageBatchClient"]

logger = logging.getLogger("voyage_progress")


class VoyageBatchClient(BatchClient):
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

    name = "voyage"
    title = "Voyage"
    api_key_env = API_KEY_ENV
    base_url_env = BASE_URL_ENV
    default_base_url = DEFAULT_BASE_URL
    id_prefix = "batch-"
    window_hours = COMPLETION_WINDOW_HOURS

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
        params = query(limit=limit, after=after)
        return await self._http.request(
            "GET", "files", params=params, parse=page_parser(FileObject.from_dict)
        )

    async def get_file(self, file_id: str) -> FileObject:
        return await self._http.request("GET", f"files/{segment(file_id)}", parse=FileObject.from_dict)

    async def delete_file(self, file_id: str) -> bool:
        """Delete one file; True when the server says it is deleted."""
        body = await self._http.request("DELETE", f"files/{segment(file_id)}", parse=dict)
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
        return await self._http.content("GET", f"files/{segment(file_id)}/content")

    async def download_file_to(self, file_id: str, path: str | os.PathLike[str]) -> int:
        """Stream a file's content to ``path`` and return the bytes written. It is written to a
        temporary file beside ``path`` and renamed over it once whole, so ``path`` never holds
        half a file. Memory stays flat whatever the file's size."""
        return await self._http.save("GET", f"files/{segment(file_id)}/content", Path(path))

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
        return await self._http.request("GET", f"batches/{segment(batch_id)}", parse=BatchJob.from_dict)

    async def list_batches(self, *, limit: int = 20, after: str | None = None) -> Page[BatchJob]:
        """One page of batches (``limit`` 1–100), the newest first."""
        check_limit(limit)
        params = query(limit=limit, after=after)
        return await self._http.request(
            "GET", "batches", params=params, parse=page_parser(BatchJob.from_dict)
        )

    async def cancel_batch(self, batch_id: str) -> BatchJob:
        """Ask to cancel a batch (only while validating or in progress)."""
        return await self._http.request(
            "POST", f"batches/{segment(batch_id)}/cancel", parse=BatchJob.from_dict
        )
