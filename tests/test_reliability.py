"""The reliability runs' short versions, as CI runs them on every change: a fault soak of 30
batches over twelve simulated hours, five SIGKILLs with restarts, the hostile API, the control
floods and the WebSocket fuzz. Unlike the benchmarks' short versions, every target here is
asserted: each is a correctness property (nothing lost, nothing duplicated, no crash, never
over the request budget, a heartbeat every second and polling that goes on through hostile
answers and whatever the control port is sent, in bounded memory), not a speed."""

from __future__ import annotations

from benchmarks import flood, hostile, restarts, soak, wsfuzz
from benchmarks._report import Result, table


def assert_all_met(rows: list[Result]) -> None:
    print("\n" + table(rows))
    judged = [row for row in rows if row.met is not None]
    assert len(judged) >= 5
    missed = [f"{row.metric}: {row.ours} (target {row.target})" for row in judged if not row.met]
    assert not missed, "\n".join(missed)


def test_short_fault_soak() -> None:
    assert_all_met(soak.run(quick=True))


def test_short_kill_and_restart_run() -> None:
    assert_all_met(restarts.run(quick=True))


def test_short_hostile_api_run() -> None:
    assert_all_met(hostile.run(quick=True))


def test_short_control_flood() -> None:
    assert_all_met(flood.run(quick=True))


def test_short_websocket_fuzz() -> None:
    assert_all_met(wsfuzz.run(quick=True))
