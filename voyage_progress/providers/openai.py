"""The OpenAI Batch API: read, list and cancel batches.

OpenAI's batch object is the one Voyage's follows, with Unix-second timestamps, a status of its
own (``expired``, when the 24-hour window runs out with requests left; what was done is in the
output file) and the window's end in ``expires_at`` (``expired_at`` once it has run out), so it
parses as it comes. The key comes from ``OPENAI_API_KEY`` and goes in a Bearer header; the base
URL from ``OPENAI_BASE_URL``, with ``/v1`` as the official SDK takes it. Errors come as
``{"error": {"message", "type", "code"}}``; ``_http`` reads the message from there.
"""

from __future__ import annotations

from .._defaults import OPENAI_API_KEY_ENV, OPENAI_BASE_URL_ENV, OPENAI_DEFAULT_BASE_URL
from ..core.models import BatchJob, Page
from ._client import BatchClient, check_limit, page_parser, query, segment

__all__ = ["OpenAIBatchClient"]


class OpenAIBatchClient(BatchClient):
    """Follows OpenAI batches (or those of any server that speaks OpenAI's Batch API).

    >>> async with OpenAIBatchClient() as client:           # doctest: +SKIP
    ...     async for event in client.stream_batch_progress("batch_..."):
    ...         print(f"{event.percent:.1f}%")
    """

    name = "openai"
    title = "OpenAI"
    api_key_env = OPENAI_API_KEY_ENV
    base_url_env = OPENAI_BASE_URL_ENV
    default_base_url = OPENAI_DEFAULT_BASE_URL
    id_prefix = "batch_"

    async def get_batch(self, batch_id: str) -> BatchJob:
        return await self._http.request("GET", f"batches/{segment(batch_id)}", parse=BatchJob.from_dict)

    async def list_batches(self, *, limit: int = 20, after: str | None = None) -> Page[BatchJob]:
        """One page of batches (``limit`` 1–100), the newest first; ``after`` is a batch id."""
        check_limit(limit)
        return await self._http.request(
            "GET", "batches", params=query(limit=limit, after=after), parse=page_parser(BatchJob.from_dict)
        )

    async def cancel_batch(self, batch_id: str) -> BatchJob:
        """Ask to cancel a batch: it goes to ``cancelling``, then ``cancelled``."""
        return await self._http.request(
            "POST", f"batches/{segment(batch_id)}/cancel", parse=BatchJob.from_dict
        )
