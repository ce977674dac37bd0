"""Human-readable figures, shared by the terminal view, the logs and the CLI."""

from __future__ import annotations

import math


def format_duration(seconds: float | None) -> str:
    """``45s``, ``12m 30s``, ``3h 05m``; ``--`` when unknown (None, negative or infinite)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_rate(per_second: float) -> str:
    """Requests per second, or per minute when slow: ``12.5/s``, ``3.0/min``."""
    if not math.isfinite(per_second) or per_second <= 0:
        return "--"
    if per_second < 1:
        return f"{per_second * 60:.1f}/min"
    return f"{per_second:.1f}/s"
