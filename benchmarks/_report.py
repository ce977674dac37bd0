"""One row per figure, and the table they make."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Result:
    """A measured figure, the baseline measured in the same run, and the target."""

    benchmark: str
    metric: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "-"}[self.met]


def table(results: list[Result]) -> str:
    """A Markdown table (it reads in a terminal and pastes into docs/PERFORMANCE.md)."""
    header = ("benchmark", "metric", "ours", "baseline", "ratio", "target", "")
    rows = [header] + [
        (r.benchmark, r.metric, r.ours, r.baseline, r.ratio, r.target, r.verdict) for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
