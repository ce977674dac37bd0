"""The providers a command talks to: ``--provider``, ids routed to theirs by shape or prefix, each
provider's key from its own variable, and a request budget for each."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .. import _defaults as defaults
from ._common import CommandError, open_api

if TYPE_CHECKING:
    from ..providers import BatchRef, Provider

__all__ = ["add_provider_option", "batch_refs", "keyed_providers", "open_providers", "provider_names"]


def provider_names() -> list[str]:
    from ..providers import PROVIDERS

    return list(PROVIDERS)


def add_provider_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--provider",
        choices=provider_names(),
        help=f"{what} (default: each id's provider by its shape, batch-… Voyage, batch_… OpenAI, "
        "msgbatch_… Anthropic, or PROVIDER:ID; else voyage)",
    )


def batch_refs(texts: Iterable[str], provider: str | None) -> list[BatchRef]:
    """Each id's batch, in order and once; an id that names no batch, or one shaped as another
    provider's than ``--provider``'s, is one line."""
    from ..providers import parse_batch_ref

    default = provider or defaults.DEFAULT_PROVIDER
    try:
        refs = [parse_batch_ref(text, default, asked=provider is not None) for text in texts]
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return list(dict.fromkeys(refs))


def keyed_providers() -> list[str]:
    """The providers whose API key is in the environment."""
    from ..core.registry import load
    from ..providers import PROVIDERS

    keyed = []
    for name in PROVIDERS:
        variable = getattr(load(PROVIDERS, name, "provider"), "api_key_env", None)
        if variable and os.environ.get(variable, "").strip():
            keyed.append(name)
    return keyed


def _base_url(args: argparse.Namespace, name: str, names: Sequence[str]) -> str | None:
    """``--base-url`` is for ``--provider``'s API, or for the one provider the command asks for."""
    if args.base_url is None or name not in names:
        return None
    if getattr(args, "provider", None) is not None:
        return str(args.base_url) if name == args.provider else None
    if len(names) > 1:
        raise CommandError(
            f"--base-url with batches of {', '.join(names)}: say whose it is with --provider "
            "(the others' come from their own variables)"
        )
    return str(args.base_url)


@contextlib.asynccontextmanager
async def open_providers(
    args: argparse.Namespace, names: Sequence[str], also: Iterable[str] = (), **options: Any
) -> AsyncIterator[dict[str, Provider]]:
    """Providers ``names`` (those the command asks for) and ``also`` (any others it may need),
    opened with the command's options (a missing key is one line that names its variable), and
    closed at the end."""
    opened: dict[str, Provider] = {}
    try:
        for name in dict.fromkeys([*names, *also]):
            opened[name] = open_api(args, name, base_url=_base_url(args, name, names), **options)
        yield opened
    finally:
        for provider in opened.values():
            await provider.aclose()
