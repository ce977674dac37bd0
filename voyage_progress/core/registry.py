"""Plug-ins named by ``module:attribute``, imported only when one is asked for."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["load"]


def load(registry: Mapping[str, str], name: str, what: str) -> Any:
    """The object registered as ``name``; ``what`` names the registry in the error."""
    try:
        reference = registry[name]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r}; one of: {', '.join(registry)}") from None
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)
