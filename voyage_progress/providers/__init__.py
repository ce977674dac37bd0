"""Batch APIs: what the watcher and the progress API need of one, which ones there are, and
whose batch an id is.

A provider is one module with a class that has the three calls of :class:`BatchAPI` (and
``Provider``'s ``base_url`` and ``aclose``), raising the errors of ``voyage_progress.core.errors``;
one line in ``PROVIDERS`` makes it known by name. The watcher, the progress API and the sidecar
know providers only through this protocol.

An id says its provider by its shape where the shapes differ (each provider class's
``id_prefix``: ``batch-…`` Voyage, ``batch_…`` OpenAI, ``msgbatch_…`` Anthropic), or outright as
``provider:ID``, for a server whose ids have a shape of their own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

from .._defaults import DEFAULT_PROVIDER
from ..core.models import BatchJob, Page
from ..core.registry import load
from ..core.text import check_batch_id, is_batch_id

__all__ = [
    "PROVIDERS",
    "BatchAPI",
    "BatchRef",
    "Provider",
    "open_provider",
    "parse_batch_ref",
    "provider_of_id",
    "provider_title",
]


class BatchAPI(Protocol):
    """Reading and cancelling batches: all that watching them takes.

    Errors are those of ``voyage_progress.core.errors``: ``NotFoundError`` for an unknown
    batch, ``AuthenticationError``/``PermissionDeniedError`` for a refused key, one of
    ``TRANSIENT_ERRORS`` for what may pass (already retried as the provider sees fit).
    ``timeout`` is how long one call may take before it fails: longer is silence.
    """

    @property
    def timeout(self) -> float: ...

    async def get_batch(self, batch_id: str) -> BatchJob: ...

    async def list_batches(self, *, limit: int = ..., after: str | None = None) -> Page[BatchJob]:
        """One page (``limit`` 1-100), the newest first; ``after`` is the last id of the page before."""
        ...

    async def cancel_batch(self, batch_id: str) -> BatchJob: ...


class Provider(BatchAPI, Protocol):
    """A batch API as opened by name: where it is reached (for messages), and connections that
    it holds until closed."""

    @property
    def base_url(self) -> str: ...

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


@dataclass(frozen=True, slots=True)
class BatchRef:
    """A batch of one provider; ``str()`` is its ``provider:ID`` form."""

    provider: str
    batch_id: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.batch_id}"


def _attribute(name: str, attribute: str) -> Any:
    return getattr(load(PROVIDERS, name, "provider"), attribute, None)


@functools.cache
def _prefixes(registered: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Each registered provider's id prefix (those whose ids have a shape of their own)."""
    return {name: prefix for name, _ in registered if (prefix := _attribute(name, "id_prefix"))}


def provider_title(name: str) -> str:
    """The provider as people write it: ``OpenAI`` for ``openai``."""
    return str(_attribute(name, "title") or name) if name in PROVIDERS else name


def provider_of_id(batch_id: str) -> str | None:
    """The provider whose ids look like ``batch_id``; None when no shape fits."""
    prefixes = _prefixes(tuple(PROVIDERS.items()))
    fitting = [(len(prefix), name) for name, prefix in prefixes.items() if batch_id.startswith(prefix)]
    return max(fitting)[1] if fitting else None


def parse_batch_ref(text: str, default: str = DEFAULT_PROVIDER, *, asked: bool = False) -> BatchRef:
    """The batch ``text`` names: ``provider:ID`` outright; else the provider the id's shape
    says; else ``default``. ``asked`` says the user asked for ``default`` by name: then an id
    shaped as another provider's is a ``ValueError`` that says so, as is an unknown provider."""
    name, colon, rest = text.partition(":")
    if colon and name in PROVIDERS:
        return BatchRef(name, _checked_id(rest, text))
    if colon and name.isidentifier():
        raise ValueError(f"unknown provider {name!r} in {text!r}; one of: {', '.join(PROVIDERS)}")
    batch_id = _checked_id(text, text)
    shaped = provider_of_id(batch_id)
    if asked and shaped is not None and shaped != default:
        prefix = _prefixes(tuple(PROVIDERS.items()))[shaped]
        raise ValueError(
            f"{batch_id} is shaped as {provider_title(shaped)}'s batch ids are ({prefix}…), not as "
            f"{provider_title(default)}'s; write {default}:{batch_id} if it really is one"
        )
    return BatchRef(shaped or default, batch_id)


def _checked_id(batch_id: str, text: str) -> str:
    """``batch_id`` if it is one (the one rule of ``core.text``), the error naming ``text``."""
    if not is_batch_id(batch_id):
        check_batch_id(text)  # says why in the words of the rule
        raise ValueError(f"invalid batch id {text!r}: no id after its provider")
    return batch_id
