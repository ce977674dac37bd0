"""Several providers at once: whose batch an id is, and the open providers of one sidecar.

An id says its provider by its shape where the shapes differ (``batch-…`` Voyage, ``batch_…``
OpenAI, ``msgbatch_…`` Anthropic: each provider class's ``id_prefix``), or outright as
``provider:ID`` (for a server whose ids have a shape of their own). An id whose shape names one
provider, asked of another, is a mistake said in one line, before any request is sent.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .._defaults import DEFAULT_PROVIDER
from ..core.registry import load
from . import PROVIDERS, BatchAPI

__all__ = ["BatchRef", "ProviderSet", "parse_batch_ref", "provider_of_id", "provider_title"]

#: Characters no batch id of any provider holds (they would break the URL or the command line).
_FORBIDDEN = "/ ?#"


@dataclass(frozen=True, slots=True)
class BatchRef:
    """A batch of one provider."""

    provider: str
    batch_id: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.batch_id}"


@functools.cache
def _prefixes() -> dict[str, str]:
    """Each registered provider's id prefix (those whose ids have a shape of their own)."""
    prefixes = {}
    for name in PROVIDERS:
        prefix = getattr(load(PROVIDERS, name, "provider"), "id_prefix", None)
        if prefix:
            prefixes[name] = prefix
    return prefixes


def provider_title(name: str) -> str:
    """The provider as people write it: ``OpenAI`` for ``openai``."""
    if name not in PROVIDERS:
        return name
    return str(getattr(load(PROVIDERS, name, "provider"), "title", name))


def provider_of_id(batch_id: str) -> str | None:
    """The provider whose ids look like ``batch_id``; None when no shape fits."""
    fitting = [(len(prefix), name) for name, prefix in _prefixes().items() if batch_id.startswith(prefix)]
    return max(fitting)[1] if fitting else None


def parse_batch_ref(text: str, provider: str | None = None) -> BatchRef:
    """The batch ``text`` names: ``provider:ID`` outright; else the provider the id's shape says;
    else ``provider``, else Voyage. ``provider`` is what the user asked for: an id shaped as
    another provider's is a ``ValueError`` that says so."""
    name, colon, rest = text.partition(":")
    if colon and name in PROVIDERS:
        return BatchRef(name, _checked_id(rest, text))
    if colon and name.isidentifier():
        raise ValueError(f"unknown provider {name!r} in {text!r}; one of: {', '.join(PROVIDERS)}")
    batch_id = _checked_id(text, text)
    shaped = provider_of_id(batch_id)
    if provider is not None and shaped is not None and shaped != provider:
        raise ValueError(
            f"{batch_id} is shaped as {provider_title(shaped)}'s batch ids are ({_prefixes()[shaped]}…), "
            f"not {provider_title(provider)}'s; write {provider}:{batch_id} if it really is one"
        )
    return BatchRef(shaped or provider or DEFAULT_PROVIDER, batch_id)


def _checked_id(batch_id: str, text: str) -> str:
    if not batch_id or any(c in batch_id for c in _FORBIDDEN):
        raise ValueError(f"invalid batch id {text!r}")
    return batch_id


class ProviderSet(Mapping[str, BatchAPI]):
    """The providers one sidecar polls, by name; each keeps its own key, budget and retries."""

    def __init__(self, providers: Mapping[str, BatchAPI]) -> None:
        if not providers:
            raise ValueError("a provider set needs at least one provider")
        self._providers = dict(providers)

    @classmethod
    def of(cls, client: BatchAPI | Mapping[str, BatchAPI]) -> ProviderSet:
        """``client`` as a set: a set as it is, a mapping by name, one provider under its name."""
        if isinstance(client, ProviderSet):
            return client
        if isinstance(client, Mapping):
            return cls(client)
        return cls({str(getattr(client, "name", DEFAULT_PROVIDER)): client})

    def __getitem__(self, name: str) -> BatchAPI:
        return self._providers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def __repr__(self) -> str:
        return f"ProviderSet({', '.join(self._providers)})"

    async def aclose(self) -> None:
        """Close every provider that holds connections."""
        for provider in self._providers.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
