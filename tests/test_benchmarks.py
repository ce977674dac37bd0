"""The benchmarks' short versions (``run(quick=True)``), as CI runs them to keep them working.

These are not timed tests: the performance targets are for the benchmark report
(``python -m benchmarks.emit`` and the others), not assertions here. Each run must produce rows
with figures in them; the one correctness property, that our datagrams are byte-identical to
python-osc's, is asserted.
"""

from __future__ import annotations

import re

import pytest

from benchmarks import api, emit, footprint, scale
from benchmarks._report import Result, table

DIGIT = re.compile(r"\d")
NOT_MEASURED = "not measured on this platform"


def check_rows(name: str, rows: list[Result]) -> None:
    print("\n" + table(rows))
    assert rows, f"{name} produced no rows"
    for row in rows:
        assert row.benchmark == name
        assert row.metric and row.target, row
        assert DIGIT.search(row.ours) or row.ours == NOT_MEASURED, f"{row.metric}: no figure in {row.ours!r}"
        if row.ratio != "-":  # a ratio needs a measured baseline
            assert DIGIT.search(row.baseline) and DIGIT.search(row.ratio), row
        assert row.met in (True, False, None)


def test_emit() -> None:
    rows = emit.run(quick=True)
    check_rows("emit", rows)
    identity = [row for row in rows if row.metric.startswith("byte-identical")]
    assert len(identity) == 1
    assert identity[0].met is True and "byte-identical: yes" in identity[0].metric, identity[0]


def test_footprint() -> None:
    check_rows("footprint", footprint.run(quick=True))


def test_api() -> None:
    check_rows("api", api.run(quick=True))


def test_scale() -> None:
    check_rows("scale", scale.run(quick=True))


def test_eta() -> None:
    from benchmarks import eta

    rows = eta.run(quick=True)
    print("\n" + table(rows))
    headline = [row for row in rows if row.target]
    assert len(headline) >= 5 and all(DIGIT.search(row.ours) for row in headline)
    assert {row.met for row in headline if row.target.startswith(("<=", ">=", "80"))} <= {True, False}


def test_e2e() -> None:
    """The simulator's scenarios through the real sidecar: every scored figure is measured."""
    from benchmarks import endtoend

    rows = endtoend.run(quick=True)
    check_rows("e2e", rows)
    headline = rows[0]
    assert headline.metric.startswith("median |error| of the OSC ETA") and headline.met in (True, False)
    finalizing = next(row for row in rows if row.metric.strip().startswith("finalizing polls"))
    assert finalizing.met is True, finalizing  # a batch in finalizing never shows an ETA of 0


def test_the_runner_prints_one_table(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import run

    assert run.main(["--quick", "--only", "eta"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| benchmark") and "median |error|" in out
