"""Batch APIs: what the watcher and the progress API need of one, and which ones there are.

A provider is one module with a class that has the three calls of :class:`BatchAPI` (and
``aclose``), raising the errors of ``voyage_progress.core.errors``; one line in ``PROVIDERS``
makes it known by name. The watcher, the progress API and the sidecar know providers only
through this protocol.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..core.models import BatchJob, Page
from ..core.registry import load

__all__ = ["PROVIDERS", "BatchAPI", "Provider", "open_provider"]


class BatchAPI(Protocol):
    """Reading and cancelling batches: all that watching them takes.

    Errors are those of ``voyage_progress.core.errors``: ``NotFoundError`` for an unknown
    batch, ``AuthenticationError``/``PermissionDeniedError`` for a refused key, one of
    ``TRANSIENT_ERRORS`` for what may pass (already retried as the provider sees fit).
    """

    async def get_batch(self, batch_id: str) -> BatchJob: ...

    async def list_batches(self, *, limit: int = ..., after: str | None = None) -> Page[BatchJob]:
        """One page (``limit`` 1-100), the newest first; ``after`` is the last id of the page before."""
        ...

    async def cancel_batch(self, batch_id: str) -> BatchJob: ...


class Provider(BatchAPI, Protocol):
    """A batch API as opened by name: it holds connections until closed."""

    async def aclose(self) -> None: ...


#: Provider name: ``module:class``, called with the options of ``open_provider``.
PROVIDERS: dict[str, str] = {
    "voyage": "voyage_progress.providers.voyage:VoyageBatchClient",
    "openai": "voyage_progress.providers.openai:OpenAIBatchClient",
    "anthropic": "voyage_progress.providers.anthropic:AnthropicBatchClient",
}


def open_provider(name: str, **options: Any) -> Provider:
    """The provider registered as ``name``, made with ``options`` (``api_key``, ``base_url``,
    ``timeout``, ``max_retries``, ``max_requests_per_second``: each as its class takes them)."""
    provider: Provider = load(PROVIDERS, name, "provider")(**options)
    return provider
