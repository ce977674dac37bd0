"""How one provider's Batch API looks on the wire: its routes, objects, ids, errors and headers.

The simulator keeps one store and one scenario engine: a batch unfolds the same whichever API
shows it. A dialect renders what the store holds as its provider does, and reads requests the
way its provider does. ``voyage`` (the default), ``openai`` and ``anthropic`` are in
``DIALECTS``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from starlette.routing import Route

from ._scenarios import Snapshot
from ._store import Producer, SimBatch, SimFile, Store

__all__ = ["Dialect", "GlitchShape", "Producer", "rfc3339", "unix"]


@dataclass(frozen=True)
class GlitchShape:
    """Where a dialect keeps what the ``glitch`` fault spoils in a batch object."""

    #: The field that says an object is a batch, and its value there.
    kind_field: str
    kind: str
    status_field: str
    #: The counts that grow as requests are done, and the one that holds the total (if any).
    done_counts: tuple[str, ...]
    total_count: str | None
    #: Fields a glitch may drop or mistype besides the status and the counts.
    droppable: tuple[str, ...]


#: Where the glitches of an OpenAI-shaped batch object go (Voyage's batch object is OpenAI's).
BATCH_OBJECT_GLITCHES = GlitchShape(
    kind_field="object",
    kind="batch",
    status_field="status",
    done_counts=("completed", "failed"),
    total_count="total",
    droppable=("created_at", "metadata", "errors"),
)


class Dialect(abc.ABC):
    """One provider's Batch API (the store's ``Dialect`` and more). Subclasses set the names and
    write the methods."""

    name: ClassVar[str]
    title: ClassVar[str]
    #: What follows the server's address in the base URL a client is given, as the provider's
    #: official SDK takes it (``/v1``, or nothing for Anthropic).
    base_path: ClassVar[str] = "/v1"
    #: The variables the provider's key and base URL are read from.
    key_env: ClassVar[str]
    base_url_env: ClassVar[str]
    #: The completion window, in seconds.
    window: ClassVar[float]
    #: Batches that run out of the window end with this status (Voyage completes them).
    expiry_status: ClassVar[str | None] = None
    #: Statuses in which a cancel is accepted.
    cancellable: ClassVar[frozenset[str]] = frozenset({"validating", "in_progress"})
    batch_prefix: ClassVar[str]
    file_prefix: ClassVar[str] = "file-"
    #: Characters of an id after its prefix.
    id_length: ClassVar[int]
    output_purpose: ClassVar[str] = "batch-output"
    error_purpose: ClassVar[str] = "batch-error"
    glitch_shape: ClassVar[GlitchShape]

    @abc.abstractmethod
    def routes(self, store: Store, max_file_bytes: int) -> list[Route]:
        """The provider's endpoints over ``store``; an upload takes at most ``max_file_bytes``."""

    @abc.abstractmethod
    def render_batch(self, store: Store, batch: SimBatch, snap: Snapshot) -> dict[str, Any]:
        """The batch object as the provider sends it (``store.url`` is the server's own address,
        for URLs inside the object)."""

    @abc.abstractmethod
    def render_file(self, file: SimFile) -> dict[str, Any]:
        """The file object as the provider sends it."""

    @abc.abstractmethod
    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """The provider's error object for ``status``."""

    @abc.abstractmethod
    def auth_problem(self, headers: Mapping[bytes, bytes], api_key: str | None) -> tuple[int, str] | None:
        """Why a request is refused before it reaches the API (status and message), if it is."""

    def headers(self, request_number: int) -> list[tuple[bytes, bytes]]:
        """Headers every answer carries (a request id, as the provider sends one)."""
        return []

    def rate_limit_headers(self, retry_after: float) -> list[tuple[bytes, bytes]]:
        """The headers of a 429 that says when to come back."""
        return [(b"retry-after", f"{retry_after:g}".encode())]

    @abc.abstractmethod
    def quick_batch(self, store: Store, requests: int, metadata: dict[str, str]) -> SimBatch:
        """A batch of ``requests`` small requests, created without an upload."""

    def result_files(
        self, store: Store, batch: SimBatch, snap: Snapshot
    ) -> tuple[Producer | None, Producer | None]:
        """The output and error files of a batch that has ended (None for one it has not)."""
        return None, None

    def batches_in(self, body: object) -> list[dict[str, Any]]:
        """The batch objects of an answer: one batch, or a list page's."""
        items = body.get("data") if isinstance(body, dict) and isinstance(body.get("data"), list) else [body]
        shape = self.glitch_shape
        return [b for b in items or [] if isinstance(b, dict) and b.get(shape.kind_field) == shape.kind]


def unix(value: datetime | None) -> int | None:
    """A date as whole Unix seconds, as OpenAI sends them."""
    return None if value is None else int(value.timestamp())


def rfc3339(value: datetime | None) -> str | None:
    """A date as Anthropic sends it: ``2024-08-20T18:37:24.100435Z``."""
    return None if value is None else value.isoformat(timespec="microseconds").replace("+00:00", "Z")
