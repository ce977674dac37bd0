"""What the simulator accepts at its door: Voyage's documented input limits, and bounds of its own.

Voyage's: "up to 1 GB file sizes, 100K inputs per batch, and 1B tokens per organization"
(https://blog.voyageai.com/2025/12/04/batch-api/, the Batch API's launch post; the limits of
https://docs.voyageai.com/docs/batch-inference) live in ``voyage_progress/_limits.py``, which the
command line's checks of what it submits read too; the bounds of the simulator's own are here.
"""

from __future__ import annotations

from ..core.limits import MAX_INPUTS_PER_BATCH

#: Voyage: 100K inputs per batch, and each request carries at least one.
MAX_REQUESTS_PER_BATCH = MAX_INPUTS_PER_BATCH

#: Ours: what an upload may carry besides its file (the multipart boundaries, part headers and
#: the ``purpose`` field), so that a file of exactly the limit still fits.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
#: Ours: every other body is a small JSON object (metadata is at most 16 short pairs).
MAX_JSON_BODY_BYTES = 1024 * 1024
#: Ours: the most one ``POST /_sim/advance`` moves the clock, a month: past any batch's 12 h
#: window and a file's 30-day lifetime at once, far from a date the clock cannot hold.
MAX_ADVANCE_SECONDS = 31 * 24 * 3600
