"""What every provider's client shares, whatever its API: where its key and URL come from, the
HTTP of ``_http`` with its budget and retries, closing, paging, and the spec's progress API.

A provider module subclasses :class:`BatchClient`, names its key and URL variables, its headers
and its id shape, and writes the three calls of ``BatchAPI`` with a mapping of its batch object
to :class:`~voyage_progress.core.models.BatchJob`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx

from .._defaults import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    MAX_RESPONSE_BYTES,
)
from ..core.errors import MalformedResponseError, MissingAPIKeyError
from ..core.events import BatchProgressEvent
from ..core.models import BatchJob, Page
from . import progress as _progress
from ._http import HttpAPI, Sleep, checked_key, validated_base_url
from .retry import RetryPolicy

if TYPE_CHECKING:
    from . import BatchAPI

__all__ = ["BatchClient", "check_limit", "iter_batches", "page_parser", "query", "segment"]

logger = logging.getLogger("voyage_progress")

T = TypeVar("T")
Self = TypeVar("Self", bound="BatchClient")


class BatchClient(abc.ABC):
    """One provider's batch API, reached over HTTP.

    The key comes from ``api_key`` or the provider's variable (``api_key_env``), the URL from
    ``base_url``, the provider's variable (``base_url_env``), then its public URL. Requests are
    retried on connection errors, timeouts, 429 and 5xx with exponential backoff and full
    jitter, after the server's ``Retry-After`` where it sends one. With
    ``max_requests_per_second``, no window of a second ever holds more requests than that,
    retries included. ``timeout`` bounds each attempt as a whole (a file download: each read);
    ``max_response_bytes`` bounds each JSON answer, decompressed. ``sleep`` is how it waits:
    between retries, and between the polls of the progress API.
    """

    #: The provider's name in ``PROVIDERS``, and as people read it.
    name: ClassVar[str]
    title: ClassVar[str]
    api_key_env: ClassVar[str]
    base_url_env: ClassVar[str]
    default_base_url: ClassVar[str]
    #: How the provider's batch ids begin (``batch_`` ...), for telling them apart; None when
    #: its ids have no shape of their own.
    id_prefix: ClassVar[str | None] = None
    #: The retries this provider's limits call for, unless the caller gives a policy.
    default_retry_policy: ClassVar[RetryPolicy] = RetryPolicy()
    #: The completion window: a batch older than this (and an hour) is no longer in flight.
    window_hours: ClassVar[float] = 24.0
    #: Where the batches are listed, below the base URL (for messages that name it).
    batches_path: ClassVar[str] = "batches"

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
        key = (api_key if api_key is not None else os.environ.get(self.api_key_env, "")).strip()
        if not key:
            raise MissingAPIKeyError(self.api_key_env, self.title)
        checked_key(key, self.api_key_env)
        if retry_policy is None:
            retry_policy = _with_retries(self.default_retry_policy, max_retries)
        self._http = HttpAPI(
            validated_base_url(base_url or os.environ.get(self.base_url_env) or self.default_base_url),
            secret=key,
            headers=self.auth_headers(key),
            timeout=timeout,
            retry_policy=retry_policy,
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

    @classmethod
    def auth_headers(cls, key: str) -> dict[str, str]:
        """The headers that carry the key (and any the API requires on every request)."""
        return {"Authorization": f"Bearer {key}"}

    @property
    def sleep(self) -> Sleep:
        return self._http.sleep

    @sleep.setter
    def sleep(self, sleep: Sleep) -> None:
        self._http.sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<hidden>)"

    async def __aenter__(self: Self) -> Self:
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

    # -- batches: each provider writes these three (abstract) ---------------------------------------------

    @abc.abstractmethod
    async def get_batch(self, batch_id: str) -> BatchJob:
        """Each provider's own: see ``BatchAPI``."""

    @abc.abstractmethod
    async def list_batches(self, *, limit: int = 20, after: str | None = None) -> Page[BatchJob]:
        """Each provider's own: see ``BatchAPI``."""

    @abc.abstractmethod
    async def cancel_batch(self, batch_id: str) -> BatchJob:
        """Each provider's own: see ``BatchAPI``."""

    def iter_batches(self, *, limit: int = 100, max_pages: int | None = None) -> AsyncIterator[BatchJob]:
        """Every batch, page after page, the newest first (see ``iter_batches``)."""
        return iter_batches(self, limit=limit, max_pages=max_pages)

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


async def iter_batches(
    api: BatchAPI, *, limit: int = 100, max_pages: int | None = None
) -> AsyncIterator[BatchJob]:
    """Every batch of ``api``, page after page (at most ``max_pages``), the newest first. A
    server that says there is more but hands out a cursor it has given before (the list would
    never end) raises ``MalformedResponseError`` after the batches it did list."""
    after, pages = None, 0
    cursors: set[str] = set()
    while max_pages is None or pages < max_pages:
        page = await api.list_batches(limit=limit, after=after)
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
                url=f"/{getattr(api, 'batches_path', 'batches')}",
            )
        cursors.add(after)


def _with_retries(policy: RetryPolicy, max_retries: int) -> RetryPolicy:
    return RetryPolicy(
        max_retries=max_retries,
        backoff_base=policy.backoff_base,
        backoff_max=policy.backoff_max,
        retry_after_max=policy.retry_after_max,
    )


def check_limit(limit: int) -> None:
    if not 1 <= limit <= 100:
        raise ValueError(f"limit must be between 1 and 100, not {limit}")


def segment(identifier: str) -> str:
    """An id as one URL path segment; an empty or slash-bearing id cannot name anything."""
    if not identifier or "/" in identifier or identifier.strip() != identifier:
        raise ValueError(f"invalid id {identifier!r}")
    return identifier


def query(**values: object) -> dict[str, Any]:
    """Query parameters, those that are None left out."""
    return {k: v for k, v in values.items() if v is not None}


def page_parser(item: Callable[[Mapping[str, Any]], T]) -> Callable[[Mapping[str, Any]], Page[T]]:
    """A list answer, ``{data, first_id, last_id, has_more}``, its items parsed by ``item``."""

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
