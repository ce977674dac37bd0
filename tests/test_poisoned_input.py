"""Hostile and broken input: batch objects no parser foresaw, ids that break URLs, labels that
act on a terminal or outgrow a datagram. Each stays the problem of the one batch it came with:
the others go on, health tells the truth, and nothing reaches a screen or the wire unfiltered."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from rich.console import Console

from tests.osc_receiver import OscReceiver, open_receiver
from tests.test_cli import api, cli
from tests.test_sidecar import fast_config, osc_output, running_sidecar
from tests.test_watcher import Clock, make_watcher
from voyage_progress import BatchJob, VoyageBatchClient
from voyage_progress._defaults import MAX_DATAGRAM
from voyage_progress.core.frame import Event, EventKind, Frame, Health, Summary
from voyage_progress.outputs.osc._codec import Message, decode, encode_bundle
from voyage_progress.outputs.osc._messages import batch_messages, summary_messages
from voyage_progress.outputs.terminal import SidecarView, _table
from voyage_progress.sidecar._sidecar import Sidecar, _supervised
from voyage_progress.simulator import Simulator
from voyage_progress.watcher import WatchedBatch

PREFIX = "/voyage"
HEALTH = Health(api_ok=True, message="ok", poll_age=1.0, requests=1, endpoints=("OSC → 127.0.0.1:7000",))


def bundle_of(batch: WatchedBatch, prefix: str = PREFIX) -> list[Message]:
    """What the OSC output sends for ``batch``: its addresses and the summary."""
    snapshot = batch.snapshot()
    return batch_messages(prefix, snapshot, 0.0) + summary_messages(prefix, Summary.of([snapshot]))


@pytest.fixture
async def receiver() -> AsyncIterator[OscReceiver]:
    r = await open_receiver()
    yield r
    r.close()


#: What reaches a terminal and acts on it instead of being shown: an escape (OSC 52 clipboard
#: writes, titles, screen clears all start with one), a bell, C1 controls, bidirectional overrides.
ACTS_ON_A_SCREEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u202e]")
HOSTILE_LABEL = (
    "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b]0;pwned\x07 [/] [link=https://evil.example]click[/link] \u202eevil"
)
UNREADABLE: list[tuple[str, dict[str, Any]]] = [
    ("a total of inf", {"request_counts": {"total": "inf", "completed": 1, "failed": 0}}),
    ("a 400-digit total", {"request_counts": {"total": int("9" * 400), "completed": 1, "failed": 0}}),
    ("a date before year 1 in UTC", {"created_at": "0001-01-01T00:00:00+01:00"}),
    ("a date after year 9999 in UTC", {"created_at": "9999-12-31T23:59:59-01:00"}),
    ("an error line of inf", {"errors": {"object": "list", "data": [{"line": "inf"}]}}),
]


def poison(sim: Simulator, monkeypatch: pytest.MonkeyPatch, batch_id: str, changes: dict[str, Any]) -> None:
    """Serve ``batch_id`` with ``changes`` over its fields, in list pages and single answers."""
    original = sim.store.batch_json

    def poisoned(batch: Any) -> dict[str, Any]:
        body = original(batch)
        return {**body, **changes} if batch.id == batch_id else body

    monkeypatch.setattr(sim.store, "batch_json", poisoned)


def add_to_every_page(sim: Simulator, monkeypatch: pytest.MonkeyPatch, *objects: object) -> None:
    original = sim.store.list_batches

    def with_objects(limit: int, after: str | None) -> dict[str, Any]:
        page = original(limit, after)
        return {**page, "data": [*objects, *page["data"]]}

    monkeypatch.setattr(sim.store, "list_batches", with_objects)


# -- one unreadable batch object is that batch's problem ---------------------------------------


@pytest.mark.parametrize(("what", "changes"), UNREADABLE, ids=[what for what, _ in UNREADABLE])
async def test_an_unreadable_batch_never_stops_the_others(
    what: str,
    changes: dict[str, Any],
    client: VoyageBatchClient,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad, good = sim.add_batch(20), sim.add_batch(20)
    poison(sim, monkeypatch, bad, changes)
    clock = Clock()
    watcher, _ = make_watcher(client, clock)
    for batch_id in (bad, good):
        watcher.watch(batch_id)
    seen = []
    for _ in range(12):  # both due: list pages; then the good one ends and the bad one is a GET
        sim.advance(120)
        clock.now = max(clock.now, watcher.next_cycle_at())
        await watcher.poll_once()
        seen.append(watcher.batches[good].job.request_counts.processed)  # type: ignore[union-attr]
        assert watcher.health.api_ok, watcher.health.message
    assert seen[-1] == 20 and seen[0] < 20  # the good batch moved on to its end
    shown, flagged = watcher.batches[bad].job is not None, watcher.batches[bad].anomalies > 0
    assert shown or flagged  # the bad one is shown as well as it can be, or flagged


async def test_a_list_page_keeps_its_readable_batches(
    client: VoyageBatchClient, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = sim.add_batch(20)
    add_to_every_page(
        sim,
        monkeypatch,
        {"id": "batch-\r\n\x1b[2J", "object": "batch", "status": "in_progress"},
        {"id": None, "status": "in_progress"},
        "not an object",
        {"id": "x" * 70_000, "status": "in_progress"},
    )
    clock = Clock()
    watcher, _ = make_watcher(client, clock, all_active=True)
    await watcher.poll_once()
    assert list(watcher.batches) == [good] and watcher.health.api_ok
    page = await client.list_batches(limit=10)
    assert [job.id for job in page.data] == [good]


async def test_a_list_page_with_a_cursor_that_is_no_id_ends_the_list(
    client: VoyageBatchClient, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [sim.add_batch(5) for _ in range(3)]
    original = sim.store.list_batches
    monkeypatch.setattr(
        sim.store, "list_batches", lambda limit, after: {**original(limit, after), "last_id": {"id": 1}}
    )
    page = await client.list_batches(limit=2)
    assert page.last_id is None and page.has_more
    assert [job.id async for job in client.iter_batches(limit=2)] == ids[::-1]  # went on from its last batch


def test_an_answer_nested_too_deep_is_malformed_not_a_crash() -> None:
    from voyage_progress.providers._http import parse_object

    with pytest.raises(ValueError, match="nests too deep"):  # every answer is read through it
        parse_object(b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")


async def test_a_failing_polling_loop_says_why_and_health_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = []

    async def fails_once(stop: asyncio.Event) -> None:
        if not failures:
            raise OverflowError("cannot convert float infinity to integer\nsecond line")

    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, "voyage_progress.sidecar"):
        await _supervised("polling", fails_once, stop, failures.append)
    [record] = caplog.records
    assert "(OverflowError: cannot convert float infinity to integer)" in record.getMessage()
    assert "second line" not in record.getMessage()
    assert len(failures) == 1


async def test_the_sidecar_health_tells_of_a_failing_polling_loop(
    receiver: OscReceiver, client: VoyageBatchClient, sim: Simulator
) -> None:
    async def broken(stop: asyncio.Event) -> None:
        raise RuntimeError("a bug")

    sidecar = Sidecar(fast_config(receiver, batch_ids=[sim.add_batch(5)]), client)
    sidecar.watcher.health.api_ok = True  # as after a good cycle
    sidecar.watcher.run = broken  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    try:
        await receiver.wait_for(
            lambda r: r.last(f"{PREFIX}/sidecar/message") == "polling failed: RuntimeError: a bug", 10
        )
        assert receiver.last(f"{PREFIX}/sidecar/api_ok") == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


# -- batch ids: one rule, at the command line and the control port -----------------------------

BAD_IDS = [
    "batch-a\rb",
    "batch\tx",
    "batch x",
    "a/b",
    "../etc",
    "a?b",
    "a#b",
    "a%2Fb",
    "x" * 129,
    "",
    "bätch",
]


@pytest.mark.parametrize(
    ("command", "bad"),
    [
        ("watch", "batch-a\rb"),
        ("watch", "batch\tx"),
        ("status", "../etc"),
        ("cancel", "x" * 129),
        ("results", "a?b"),
    ],
)
async def test_the_command_line_refuses_an_id_that_is_not_one(command: str, bad: str, sim: Simulator) -> None:
    run = await cli(command, bad, "--no-control" if command == "watch" else "--timeout=5", env=api(sim))
    lines = run.err.strip().splitlines()
    assert run.code == 2 and len(lines) == 1 and "Traceback" not in run.err, run.err
    assert "BATCH_ID" in lines[0] and "invalid batch id" in lines[0]
    assert "\r" not in lines[0] and "\t" not in lines[0]  # shown escaped, on one line
    assert sim.stats.requests == 0


def test_the_command_line_and_the_control_port_agree_on_every_id() -> None:
    import argparse

    from voyage_progress.cli._common import batch_id as _batch_id
    from voyage_progress.outputs.osc._control import _valid_arguments

    for text in [*BAD_IDS, "batch-7vT5tYo5G6", "batch_abc123", "B", "x" * 128]:
        try:
            _batch_id(text)
            accepted_by_cli = True
        except argparse.ArgumentTypeError:
            accepted_by_cli = False
        assert accepted_by_cli == _valid_arguments([text], "s|ss"), text
        assert accepted_by_cli == (text not in BAD_IDS), text


def test_a_watcher_refuses_an_id_that_is_not_one() -> None:
    watcher, _ = make_watcher(None, Clock())  # type: ignore[arg-type]  # nothing here polls
    for bad in BAD_IDS:
        with pytest.raises(ValueError, match="invalid batch id"):
            watcher.watch(bad)
    assert not watcher.batches


async def test_list_shows_the_readable_batches_of_a_poisoned_page(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, good = sim.add_batch(5), sim.add_batch(5, label=HOSTILE_LABEL)
    poison(
        sim, monkeypatch, bad, {"request_counts": {"total": "inf"}, "created_at": "0001-01-01T00:00:00+01:00"}
    )
    add_to_every_page(sim, monkeypatch, {"id": "batch-\x1b]0;title\x07", "status": "in_progress"})
    run = await cli("list", env=api(sim))
    assert run.code == 0, run.err
    assert bad in run.out and good in run.out
    assert not ACTS_ON_A_SCREEN.search(run.out.replace("\n", ""))
    assert "[/]" in run.out  # the label is shown, cleaned, as text


# -- labels and other text from the API --------------------------------------------------------


def applied(changes: dict[str, Any]) -> WatchedBatch:
    """A watched batch after one answer with ``changes``, through the watcher as in a show."""
    watcher, _ = make_watcher(None, Clock())  # type: ignore[arg-type]  # nothing here polls
    batch = watcher.watch("batch-1")
    answer = {
        "id": "batch-1",
        "status": "in_progress",
        "request_counts": {"total": 10, "completed": 4, "failed": 0},
        **changes,
    }
    watcher._apply(batch, BatchJob.from_dict(answer))
    return batch


def test_a_label_from_the_api_is_cleaned_and_cut() -> None:
    batch = applied({"metadata": {"label": HOSTILE_LABEL + "x" * 70_000}})
    assert not ACTS_ON_A_SCREEN.search(batch.label) and len(batch.label) <= 200
    assert batch.label.startswith("]52;c;cm0gLXJmIH4= [2J ]0;pwned  [/] [link=https://evil.example]")
    assert batch.label.endswith("xxx…")


def test_the_live_view_shows_markup_in_a_label_as_text() -> None:
    batch = applied({"metadata": {"label": "[/]"}})
    assert batch.label == "[/]"
    out = io.StringIO()
    Console(file=out, width=120).print(_table([batch.snapshot()], HEALTH))
    assert "[/]" in out.getvalue()
    linked = applied({"metadata": {"label": "[link=http://e]c[/link]"}})
    out = io.StringIO()
    Console(file=out, width=160, force_terminal=True).print(_table([linked.snapshot()], HEALTH))
    assert "[link=http://e]c[/link]" in out.getvalue() and "\x1b]8;" not in out.getvalue()


@pytest.mark.parametrize("mode", ["text", "live"])
async def test_log_lines_and_messages_are_plain_text(mode: str) -> None:
    out = io.StringIO()
    view = SidecarView(mode, out)
    batch = applied({"status": "paused\x1b[2J", "metadata": {"label": HOSTILE_LABEL}}).snapshot()
    news = (batch, Event(EventKind.COMPLETE, batch))
    await view.start(lambda command: asyncio.sleep(0))
    view.publish(Frame(at=0.0, health=Health(message="ok"), news=news, watched=lambda: (batch,)))
    view.log_handler().emit(logging.makeLogRecord({"msg": "bad %s", "args": ("\x1b]0;title\x07[/]",)}))
    await view.aclose()
    shown = out.getvalue()
    if mode == "live":  # the live view's own colours are fine; nothing from the data may add any
        shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert "]0;title" in shown and not ACTS_ON_A_SCREEN.search(shown.replace("\n", "").replace("\r", ""))


def test_no_string_makes_a_batch_bundle_too_big() -> None:
    huge = "é\x1b" * 40_000
    batch = applied(
        {
            "status": huge,
            "metadata": {"label": huge},
            "errors": {"object": "list", "data": [{"code": huge, "message": huge, "line": 1}]},
        }
    )
    batch.error = huge
    bundle = encode_bundle(bundle_of(batch))
    assert len(bundle) <= MAX_DATAGRAM
    for _, args in decode(bundle):
        for arg in args:
            assert not (isinstance(arg, str) and ACTS_ON_A_SCREEN.search(arg))


async def test_hostile_labels_reach_the_receiver_clean_and_whole(
    receiver: OscReceiver, client: VoyageBatchClient, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile, huge = sim.add_batch(5, label=HOSTILE_LABEL), sim.add_batch(5)
    poison(sim, monkeypatch, huge, {"metadata": {"label": "L" * 70_000}})  # beyond the API's 512
    async with running_sidecar(fast_config(receiver, batch_ids=[hostile, huge]), client) as sidecar:

        def labelled(slot: int) -> Callable[[OscReceiver], bool]:
            return lambda r: bool(r.last(f"{PREFIX}/batch/{slot}/label"))

        await receiver.wait_for(labelled(0), 10)
        await receiver.wait_for(labelled(1), 10)
        assert all(link.errors == 0 for link in osc_output(sidecar).sender.links)
    assert all(len(data) <= MAX_DATAGRAM for _, data in receiver.datagrams)
    labels = {receiver.last(f"{PREFIX}/batch/{slot}/label") for slot in (0, 1)}
    for label in labels:
        assert isinstance(label, str) and len(label) <= 200 and not ACTS_ON_A_SCREEN.search(label)
    assert "L" * 199 + "…" in labels


def test_a_bundle_too_big_for_one_datagram_goes_as_several() -> None:
    from voyage_progress.outputs.osc._outbox import datagrams

    batch = applied({"metadata": {"label": "corpus"}})
    prefix = "/" + "p" * 600  # every address 600 bytes longer
    messages = bundle_of(batch, prefix)
    parts = datagrams(messages)
    assert len(parts) > 1 and all(len(part) <= MAX_DATAGRAM for part in parts)
    assert [message for part in parts for message in decode(part)] == decode(encode_bundle(messages))
    assert datagrams(batch_messages(PREFIX, batch.snapshot(), 0.0)) == [
        encode_bundle(batch_messages(PREFIX, batch.snapshot(), 0.0))
    ]


def test_a_state_file_entry_follows_the_same_rules() -> None:
    from voyage_progress.sidecar._state import _from_dict

    assert _from_dict({"id": "batch-a\rb", "slot": 0}) is None
    entry = _from_dict({"id": "batch-1", "slot": 0, "label": HOSTILE_LABEL})
    assert entry is not None and not ACTS_ON_A_SCREEN.search(entry.label)
