"""Live progress of Voyage AI batch jobs: a Python library, an OSC sidecar and a simulator.

>>> from voyage_progress import VoyageBatchClient
>>> async with VoyageBatchClient() as client:                     # doctest: +SKIP
...     async for event in client.stream_batch_progress(batch_id):
...         print(f"{event.completed}/{event.total} ({event.percent:.1f}%)")

Names are loaded on first use, so ``import voyage_progress`` stays cheap for a sidecar that
starts with a show and for tools that only need the models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .core.errors import (
        APIConnectionError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BatchWaitTimeout,
        InvalidAPIKeyError,
        MalformedObjectError,
        MalformedResponseError,
        MissingAPIKeyError,
        NotFoundError,
        PermissionDeniedError,
        PollingError,
        RateLimitError,
        ResponseTooLargeError,
        ServerError,
        VoyageProgressError,
    )
    from .core.events import BatchProgressEvent, Milestones
    from .core.metrics import BatchProgressMetrics
    from .core.models import BatchError, BatchJob, BatchStatus, FileObject, Page, RequestCounts
    from .providers import BatchAPI, open_provider
    from .providers.anthropic import AnthropicBatchClient
    from .providers.openai import OpenAIBatchClient
    from .providers.progress import stream_batch_progress, wait_for_batch_completion_with_progress
    from .providers.retry import RetryPolicy
    from .providers.voyage import VoyageBatchClient

_EXPORTS = {
    "VoyageBatchClient": ".providers.voyage",
    "OpenAIBatchClient": ".providers.openai",
    "AnthropicBatchClient": ".providers.anthropic",
    "BatchAPI": ".providers",
    "open_provider": ".providers",
    "stream_batch_progress": ".providers.progress",
    "wait_for_batch_completion_with_progress": ".providers.progress",
    "BatchProgressEvent": ".core.events",
    "Milestones": ".core.events",
    "BatchProgressMetrics": ".core.metrics",
    "BatchError": ".core.models",
    "BatchJob": ".core.models",
    "BatchStatus": ".core.models",
    "FileObject": ".core.models",
    "Page": ".core.models",
    "RequestCounts": ".core.models",
    "RetryPolicy": ".providers.retry",
    **dict.fromkeys(
        (
            "APIConnectionError",
            "APIError",
            "APITimeoutError",
            "AuthenticationError",
            "BadRequestError",
            "BatchWaitTimeout",
            "InvalidAPIKeyError",
            "MalformedObjectError",
            "MalformedResponseError",
            "MissingAPIKeyError",
            "NotFoundError",
            "PermissionDeniedError",
            "PollingError",
            "RateLimitError",
            "ResponseTooLargeError",
            "ServerError",
            "VoyageProgressError",
        ),
        ".core.errors",
    ),
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AnthropicBatchClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchAPI",
    "BatchError",
    "BatchJob",
    "BatchProgressEvent",
    "BatchProgressMetrics",
    "BatchStatus",
    "BatchWaitTimeout",
    "FileObject",
    "InvalidAPIKeyError",
    "MalformedObjectError",
    "MalformedResponseError",
    "Milestones",
    "MissingAPIKeyError",
    "NotFoundError",
    "OpenAIBatchClient",
    "Page",
    "PermissionDeniedError",
    "PollingError",
    "RateLimitError",
    "RequestCounts",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ServerError",
    "VoyageBatchClient",
    "VoyageProgressError",
    "__version__",
    "open_provider",
    "stream_batch_progress",
    "wait_for_batch_completion_with_progress",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'voyage_progress' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
