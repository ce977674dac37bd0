"""Batch input files from plain texts."""

from __future__ import annotations

import json
from collections.abc import Iterable


def jsonl_from_texts(texts: Iterable[str], per_request: int = 1, id_prefix: str = "request") -> bytes:
    """A Voyage batch input file: ``per_request`` texts per line, ids ``request-0``, ``request-1``...

    One text per request makes counts move per text (smooth progress); up to 1,000 per request
    is what Voyage allows, and fewer requests finish sooner.
    """
    if not 1 <= per_request <= 1000:
        raise ValueError(f"per_request must be between 1 and 1000, not {per_request}")
    items = [t for t in texts]
    if not items:
        raise ValueError("no texts to embed")
    lines = []
    for number, start in enumerate(range(0, len(items), per_request)):
        chunk = items[start : start + per_request]
        lines.append(json.dumps({"custom_id": f"{id_prefix}-{number}", "body": {"input": chunk}}))
    return ("\n".join(lines) + "\n").encode()
