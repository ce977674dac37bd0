"""Anthropic's Message Batches: read, list and cancel them, as the common model.

A message batch has no status of the common kind, only ``processing_status`` (``in_progress``,
``canceling``, ``ended``) and five tallies (``processing``, ``succeeded``, ``errored``,
``canceled``, ``expired``) whose sum is the batch's size. Requests stay ``processing`` until the
whole batch ends, so progress comes at once at the end: Anthropic's API tells no more. Mapped:

- ``in_progress`` is in progress, ``canceling`` cancelling;
- ``ended`` is cancelled once a cancel was asked for (``cancel_initiated_at``), expired when
  requests ran out of the 24-hour window, and completed otherwise, failed requests and all,
  as a Voyage batch completes with failures;
- completed is ``succeeded``; failed is ``errored + canceled + expired``;
- ``expires_at`` is the deadline; ``ended_at`` dates the end.

The key goes in ``x-api-key`` with ``anthropic-version``; the base URL is taken without ``/v1``,
as the official SDK takes ``ANTHROPIC_BASE_URL``. Errors come as
``{"type": "error", "error": {"type", "message"}}``; ``_http`` reads the message from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._defaults import (
    ANTHROPIC_API_KEY_ENV,
    ANTHROPIC_BASE_URL_ENV,
    ANTHROPIC_DEFAULT_BASE_URL,
    ANTHROPIC_VERSION,
)
from ..core.models import BatchJob, BatchStatus, Page, RequestCounts, parse_timestamp
from ._client import BatchClient, check_limit, page_parser, query, segment
from .retry import RetryPolicy

__all__ = ["AnthropicBatchClient", "job_from_message_batch"]

BATCHES = "v1/messages/batches"
#: The tallies of a message batch, in the API's order.
TALLIES = ("processing", "succeeded", "errored", "canceled", "expired")
_STATUSES = {"in_progress": BatchStatus.IN_PROGRESS, "canceling": BatchStatus.CANCELLING}
_KNOWN = frozenset(
    {
        "id",
        "type",
        "processing_status",
        "request_counts",
        "created_at",
        "ended_at",
        "expires_at",
        "cancel_initiated_at",
    }
)


class AnthropicBatchClient(BatchClient):
    """Follows Anthropic message batches.

    >>> async with AnthropicBatchClient() as client:        # doctest: +SKIP
    ...     job = await client.wait_for_batch_completion_with_progress("msgbatch_...", print)
    """

    name = "anthropic"
    title = "Anthropic"
    api_key_env = ANTHROPIC_API_KEY_ENV
    base_url_env = ANTHROPIC_BASE_URL_ENV
    default_base_url = ANTHROPIC_DEFAULT_BASE_URL
    id_prefix = "msgbatch_"
    batches_path = BATCHES
    #: Its lowest tier allows 50 requests a minute to every batch endpoint together, and an
    #: overloaded API answers 529 for a while: wait longer between tries than for the others.
    default_retry_policy = RetryPolicy(backoff_base=1.0, backoff_max=30.0)

    @classmethod
    def auth_headers(cls, key: str) -> dict[str, str]:
        return {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}

    async def get_batch(self, batch_id: str) -> BatchJob:
        return await self._http.request("GET", f"{BATCHES}/{segment(batch_id)}", parse=job_from_message_batch)

    async def list_batches(self, *, limit: int = 20, after: str | None = None) -> Page[BatchJob]:
        """One page of batches (``limit`` 1–100), the newest first; ``after`` is a batch id."""
        check_limit(limit)
        return await self._http.request(
            "GET",
            BATCHES,
            params=query(limit=limit, after_id=after),
            parse=page_parser(job_from_message_batch),
        )

    async def cancel_batch(self, batch_id: str) -> BatchJob:
        """Ask to cancel a batch: it goes to ``canceling``, then ends with its tallies."""
        return await self._http.request(
            "POST", f"{BATCHES}/{segment(batch_id)}/cancel", parse=job_from_message_batch
        )


def job_from_message_batch(data: Mapping[str, Any]) -> BatchJob:
    """A message batch as the common model. Raises ``ValueError`` only when it has no id."""
    if not isinstance(data, Mapping):
        raise ValueError(f"a message batch must be a JSON object, not {type(data).__name__}")
    batch_id = data.get("id")
    if not isinstance(batch_id, str) or not batch_id:
        raise ValueError("the message batch has no id")
    tallies, malformed = _tallies(data.get("request_counts"))
    cancel_asked = parse_timestamp(data.get("cancel_initiated_at"))
    status = _status(data.get("processing_status"), tallies, cancel_asked is not None)
    if not isinstance(data.get("processing_status"), str):
        malformed.insert(0, "status")
    created = parse_timestamp(data.get("created_at"))
    if data.get("created_at") is not None and created is None:
        malformed.append("created_at")
    ended = parse_timestamp(data.get("ended_at"))
    return BatchJob(
        id=batch_id,
        object=str(data.get("type") or "message_batch"),
        endpoint="/v1/messages",
        completion_window="24h",
        status=status,
        request_counts=RequestCounts(
            total=sum(tallies.values()),
            completed=tallies["succeeded"],
            failed=tallies["errored"] + tallies["canceled"] + tallies["expired"],
        ),
        created_at=created,
        in_progress_at=created,  # a message batch is processed from its creation on
        cancelling_at=cancel_asked,
        completed_at=ended if status is BatchStatus.COMPLETED else None,
        cancelled_at=ended if status is BatchStatus.CANCELLED else None,
        expired_at=ended if status is BatchStatus.EXPIRED else None,
        expires_at=parse_timestamp(data.get("expires_at")),
        extra={k: v for k, v in data.items() if k not in _KNOWN},
        malformed=tuple(malformed),
    )


def _tallies(counts: object) -> tuple[dict[str, int], list[str]]:
    """The five tallies (0 for one missing or unreadable) and the names of the unreadable."""
    if counts is None:
        return dict.fromkeys(TALLIES, 0), []
    if not isinstance(counts, Mapping):
        return dict.fromkeys(TALLIES, 0), ["request_counts"]
    tallies, malformed = {}, []
    for name in TALLIES:
        value = counts.get(name, 0)
        whole = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
        if not whole or value < 0:
            malformed.append(f"request_counts.{name}")
            value = 0
        tallies[name] = int(value)
    return tallies, malformed


def _status(processing_status: object, tallies: Mapping[str, int], cancel_asked: bool) -> BatchStatus:
    if not isinstance(processing_status, str) or not processing_status:
        return BatchStatus.UNKNOWN
    if processing_status != "ended":
        return _STATUSES.get(processing_status) or BatchStatus(processing_status)
    if cancel_asked:
        return BatchStatus.CANCELLED
    if tallies["expired"]:
        return BatchStatus.EXPIRED
    return BatchStatus.COMPLETED
