"""Voyage's models as the simulator enforces them: one table, each fact with where Voyage writes it.

Sources, as read in 2026 (the pages change with each model release; check them before trusting
a number here):

- dimensions: https://docs.voyageai.com/docs/embeddings ("Embedding Dimension": ``1024
  (default), 256, 512, 2048`` for the voyage-4 and voyage-3.5 families, voyage-3-large and
  voyage-code-3; a single value for voyage-finance-2, voyage-law-2 and voyage-code-2) and
  https://docs.voyageai.com/docs/contextualized-chunk-embeddings (voyage-context-3: the same
  four);
- tokens in one request: ``voyage_progress/_limits.py``, with the command line's checks of an
  input file and their sources (the embeddings, contextualized embeddings and reranker API
  references).

Each line of a batch's input file is one request to the model's endpoint, so the per-request
limits apply line by line.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core import limits

__all__ = ["MODELS", "ModelSpec", "dimension_problem"]

EMBEDDINGS = "/v1/embeddings"
CONTEXTUALIZED = "/v1/contextualizedembeddings"
RERANK = "/v1/rerank"

#: The Matryoshka dimensions of Voyage's current models; 1024 is their default.
FLEXIBLE = (256, 512, 1024, 2048)


@dataclass(frozen=True)
class ModelSpec:
    """One model: the endpoint that serves it and what one request to it may ask for."""

    name: str
    endpoint: str
    #: The length of its embeddings without ``output_dimension`` (0: a reranker, no embeddings).
    default_dimension: int
    #: What ``output_dimension`` may be; empty when the model does not take the parameter.
    dimensions: tuple[int, ...]

    @property
    def max_request_tokens(self) -> int:
        """Tokens one request may hold in all (a reranker counts query tokens once per document)."""
        return limits.TOKENS_PER_REQUEST[self.name]


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("voyage-4-large", EMBEDDINGS, 1024, FLEXIBLE),
        ModelSpec("voyage-4", EMBEDDINGS, 1024, FLEXIBLE),
        ModelSpec("voyage-4-lite", EMBEDDINGS, 1024, FLEXIBLE),
        ModelSpec("voyage-3-large", EMBEDDINGS, 1024, FLEXIBLE),
        ModelSpec("voyage-3.5", EMBEDDINGS, 1024, FLEXIBLE),
        ModelSpec("voyage-3.5-lite", EMBEDDINGS, 1024, FLEXIBLE),
        ModelSpec("voyage-code-3", EMBEDDINGS, 1024, FLEXIBLE),
        ModelSpec("voyage-finance-2", EMBEDDINGS, 1024, ()),
        ModelSpec("voyage-law-2", EMBEDDINGS, 1024, ()),
        ModelSpec("voyage-code-2", EMBEDDINGS, 1536, ()),
        ModelSpec("voyage-context-3", CONTEXTUALIZED, 1024, FLEXIBLE),
        ModelSpec("rerank-2.5", RERANK, 0, ()),
        ModelSpec("rerank-2.5-lite", RERANK, 0, ()),
    )
}


def dimension_problem(model: ModelSpec, dimension: object) -> str | None:
    """Why ``output_dimension`` cannot be ``dimension`` for ``model``, or None when it can
    (``None``, the parameter's default, always can)."""
    if dimension is None:
        return None
    if not model.default_dimension:
        return f"{model.name} is a reranker: it takes no output_dimension."
    if not model.dimensions:
        return (
            f"{model.name} does not support output_dimension; "
            f"leave it out (its embeddings have {model.default_dimension} dimensions)."
        )
    if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension not in model.dimensions:
        allowed = ", ".join(str(d) for d in model.dimensions)
        return f"output_dimension {dimension!r} is not supported by {model.name}; use one of {allowed}."
    return None
