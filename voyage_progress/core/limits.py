"""Voyage's documented limits on batch input, in one place: ``submit`` checks a file against
them before uploading it, and the simulator refuses what goes beyond them.

Sources, as Voyage documents them:

- https://docs.voyageai.com/docs/batch-inference and https://blog.voyageai.com/2025/12/04/batch-api/:
  input files of up to 1 GB, at most 100K inputs per batch; each line's ``body`` is a request
  to the batch's endpoint, under that endpoint's own limits.
- https://docs.voyageai.com/reference/embeddings-api: at most 1,000 texts per request, and at
  most 1M, 320K or 120K tokens in all, depending on the model (voyage-code-2's 120K is from an
  earlier version of the page).
- https://docs.voyageai.com/reference/contextualized-embeddings-api: at most 1,000 inputs,
  16K chunks and 120K tokens per request.
- https://docs.voyageai.com/reference/reranker-api: at most 1,000 documents per request, and at
  most 600K or 300K tokens (query tokens × documents + document tokens), depending on the model.
- https://docs.voyageai.com/docs/embeddings: 32,000 tokens of context for the current text models.
"""

from __future__ import annotations

#: "1 GB", read as the larger 2**30 bytes: a file is refused only when it is surely too big.
MAX_FILE_BYTES = 1 << 30
#: Inputs of one batch: texts (embeddings), chunks (contextualized), documents (rerank).
MAX_INPUTS_PER_BATCH = 100_000
#: Texts of one embeddings request, inner lists of a contextualized one, documents of a rerank one.
MAX_TEXTS_PER_REQUEST = 1_000
MAX_CHUNKS_PER_REQUEST = 16_000
#: A longer text may be truncated to the context window, so no text counts for more than this.
MAX_CONTEXT_TOKENS = 32_000

CONTEXTUALIZED_TOKENS_PER_REQUEST = 120_000
#: Tokens one request may hold in all, by model; a reranker counts its query once per document
#: (query tokens × documents + document tokens).
TOKENS_PER_REQUEST = {
    **dict.fromkeys(("voyage-4-lite", "voyage-3.5-lite"), 1_000_000),
    **dict.fromkeys(("voyage-4", "voyage-3.5", "voyage-2"), 320_000),
    **dict.fromkeys(
        (
            "voyage-4-large",
            "voyage-3-large",
            "voyage-code-3",
            "voyage-finance-2",
            "voyage-law-2",
            "voyage-code-2",
        ),
        120_000,
    ),
    "voyage-context-3": CONTEXTUALIZED_TOKENS_PER_REQUEST,
    **dict.fromkeys(("rerank-2.5", "rerank-2.5-lite", "rerank-2", "rerank-2-lite"), 600_000),
    **dict.fromkeys(("rerank-1", "rerank-lite-1"), 300_000),
}


def token_floor(text: str) -> int:
    """The fewest tokens ``text`` can be: one per word. Voyage's tokenizers (byte-level BPE, and
    Llama 2's SentencePiece for the older models) never put two words into one token, and real
    counts are higher (about 1.3 tokens per English word), so a request is refused only when
    it is surely over its limit."""
    return min(len(text.split()), MAX_CONTEXT_TOKENS)
