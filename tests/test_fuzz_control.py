"""The control port fuzz, short: a few thousand seeded packets over real UDP, every check of
``benchmarks.fuzz`` asserted; then Hypothesis feeding any bytes, and OSC-shaped packets, straight
into ``ControlServer.datagram_received``; and the regressions the fuzz found."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import fuzz
from benchmarks._report import table
from benchmarks.fuzz import (
    CANCEL,
    CONTROL_ADDRESSES,
    FAMILIES,
    REFRESH,
    UNWATCH,
    WATCH,
    Argument,
    FuzzResult,
    UnexpectedErrors,
    make_packets,
    osc_bundle,
    osc_message,
    osc_string,
)
from voyage_progress.core.commands import Command
from voyage_progress.outputs.osc import ControlServer, encode_message
from voyage_progress.outputs.osc._control import MAX_DATAGRAM

PEER = ("127.0.0.1", 9000)
KINDS = {WATCH: "watch", UNWATCH: "unwatch", REFRESH: "refresh", CANCEL: "cancel"}
ADDRESS_OF = {kind: address for address, kind in KINDS.items()}
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module")
def short_run() -> FuzzResult:
    return fuzz.fuzz_control_port(3000, seed=11)


def test_a_short_fuzz_meets_every_check(short_run: FuzzResult) -> None:
    print("\n" + table(short_run.rows()))
    assert short_run.failures() == []
    assert sum(short_run.sent.values()) == 3000
    assert set(short_run.sent) == set(FAMILIES) - set(short_run.skipped)
    assert short_run.valid_sent and short_run.handled == short_run.valid_sent
    expected_reasons = set(fuzz.REASONS) - ({"peer"} if short_run.skipped else set())
    assert {reason for reason, count in short_run.counted.items() if count} == expected_reasons


STRANGER_CANCEL = Command("cancel", "batch_x", None, PEER)
ALTERATIONS: dict[str, tuple[Callable[[FuzzResult], FuzzResult], str]] = {
    "one malformed too many": (
        lambda r: dataclasses.replace(r, counted=r.counted + Counter(malformed=1)),
        "rejected as malformed",
    ),
    "one command lost": (lambda r: dataclasses.replace(r, accepted=r.accepted - 1), "commands accepted"),
    "a command from bad input": (
        lambda r: dataclasses.replace(r, handled=[*r.handled, STRANGER_CANCEL]),
        "acted on from bad input",
    ),
    "deaf at the end": (lambda r: dataclasses.replace(r, still_answers=False), "still handled"),
    "an unexpected error": (
        lambda r: dataclasses.replace(r, unexpected_errors=["control input: unexpected error"]),
        "unexpected error",
    ),
    "a chunk never counted": (lambda r: dataclasses.replace(r, stall="3 of 200 counted"), "never counted"),
}


@pytest.mark.parametrize(("alter", "failed"), ALTERATIONS.values(), ids=ALTERATIONS.keys())
def test_the_verdict_fails_when_anything_is_off(
    short_run: FuzzResult, alter: Callable[[FuzzResult], FuzzResult], failed: str
) -> None:
    failures = alter(short_run).failures()
    assert any(failed in failure for failure in failures), failures


def test_main_exits_non_zero_when_a_check_failed(
    short_run: FuzzResult, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = dataclasses.replace(short_run, still_answers=False)
    monkeypatch.setattr(fuzz, "fuzz_control_port", lambda packets, seed: failing)
    assert fuzz.main(["--packets", "10"]) == 1
    assert "MISSED" in capsys.readouterr().out
    monkeypatch.setattr(fuzz, "fuzz_control_port", lambda packets, seed: short_run)
    assert fuzz.main(["--quick"]) == 0


def test_a_seed_makes_the_same_packets() -> None:
    families = list(FAMILIES.values())
    assert make_packets(400, 5, families) == make_packets(400, 5, families)
    assert make_packets(400, 5, families) != make_packets(400, 6, families)


def test_only_oversized_packets_are_over_the_limit() -> None:
    for packet in make_packets(2000, 3, list(FAMILIES.values())):
        assert (len(packet.data) > MAX_DATAGRAM) == (packet.reason == "oversized")
        assert packet.outcomes >= 1


# -- the regressions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "datagram",
    [
        encode_message(REFRESH, [1.0]),
        encode_message(REFRESH, [0.0]),
        encode_message(REFRESH, [-2.5]),
        osc_message(REFRESH, [("d", 1.0)]),
        osc_message(REFRESH, [("f", math.nan)]),
    ],
    ids=["1.0", "0.0", "-2.5", "double", "nan"],
)
def test_a_refresh_with_a_float_is_accepted(datagram: bytes) -> None:
    """A pulse sent as a float (TouchDesigner's OSC Out CHOP sends floats) was rejected as
    bad_arguments unless it was inf or nan: the number was checked as if it were a batch id."""
    commands: list[Command] = []
    server = ControlServer(commands.append)
    server.datagram_received(datagram, PEER)
    assert commands == [Command("refresh", None, None, PEER)]
    assert server.rejected == {}


# -- Hypothesis ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def unexpected_errors() -> Iterator[list[str]]:
    handler = UnexpectedErrors()
    logger = logging.getLogger("voyage_progress.osc")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def feed(datagram: bytes) -> tuple[ControlServer, list[Command], list[str]]:
    commands: list[Command] = []
    server = ControlServer(commands.append)
    with unexpected_errors() as errors:
        server.datagram_received(datagram, PEER)
    return server, commands, errors


def assert_only_control_addresses_acted_on(datagram: bytes, commands: list[Command]) -> None:
    """Each command comes from its control address, present in the datagram, and obeys the
    documented rules: no cancel (not allowed), ids of [A-Za-z0-9_-]{1,128}, labels of at most
    200 characters and no control character."""
    for command in commands:
        assert command.kind != "cancel"
        assert osc_string(ADDRESS_OF[command.kind]) in datagram
        if command.kind in ("watch", "unwatch"):
            assert command.batch_id is not None and BATCH_ID.fullmatch(command.batch_id)
        else:
            assert command.batch_id is None
        if command.label is not None:
            assert len(command.label) <= 200 and not CONTROL_CHARACTERS.search(command.label)


@settings(max_examples=600, deadline=None, derandomize=True)
@given(st.binary(max_size=600))
def test_any_bytes_never_raise_nor_act_outside_control_addresses(datagram: bytes) -> None:
    server, commands, errors = feed(datagram)
    assert errors == []
    assert server.accepted == len(commands)
    assert_only_control_addresses_acted_on(datagram, commands)


NO_NUL = st.characters(codec="utf-8", exclude_characters="\x00")
addresses = st.one_of(
    st.sampled_from(sorted(CONTROL_ADDRESSES)),
    st.sampled_from(["/voyage/control/Watch", "/voyage/control/watch/", "/td/control/refresh", "/"]),
    st.text(NO_NUL, max_size=24).map(lambda text: "/" + text),
)
arguments = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda value: ("i", value)),
    st.floats(width=32).map(lambda value: ("f", value)),
    st.integers(-(2**63), 2**63 - 1).map(lambda value: ("h", value)),
    st.floats().map(lambda value: ("d", value)),
    st.sampled_from([("T", None), ("F", None)]),
    st.text(NO_NUL, max_size=40).map(lambda value: ("s", value)),
    st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True).map(lambda value: ("s", value)),
)
batch_ids = st.from_regex(r"[A-Za-z0-9_-]{1,128}", fullmatch=True)
valid_commands = st.one_of(
    st.builds(lambda batch_id: (WATCH, [("s", batch_id)], True), batch_ids),
    st.builds(
        lambda batch_id, label: (WATCH, [("s", batch_id), ("s", label)], True), batch_ids, st.text(NO_NUL)
    ),
    st.builds(lambda batch_id: (UNWATCH, [("s", batch_id)], True), batch_ids),
    st.sampled_from([(REFRESH, [], False), (REFRESH, [("i", 1)], True), (REFRESH, [("f", 1.0)], True)]),
)
messages = st.one_of(valid_commands, st.tuples(addresses, st.lists(arguments, max_size=3), st.booleans()))
Tree = Any  # a message (address, arguments, tagged) or a bundle: a list of trees


def nested(tree_and_depth: tuple[Tree, int]) -> Tree:
    tree, levels = tree_and_depth
    for _ in range(levels):
        tree = [tree]
    return tree


trees = st.tuples(
    st.recursive(messages, lambda children: st.lists(children, max_size=4), max_leaves=10),
    st.integers(0, 4),
).map(nested)


def encoded(tree: Tree) -> bytes:
    if isinstance(tree, list):
        return osc_bundle([encoded(element) for element in tree])
    address, args, tagged = tree
    return osc_message(address, args, tagged=tagged or bool(args))


def leaves(tree: Tree) -> list[tuple[str, list[Argument], bool]]:
    return [leaf for element in tree for leaf in leaves(element)] if isinstance(tree, list) else [tree]


def depth(tree: Tree) -> int:
    return 1 + max(map(depth, tree), default=0) if isinstance(tree, list) else 0


@st.composite
def damaged(draw: st.DrawFn, tree: Tree) -> bytes:
    """The tree encoded, then cut, or with one byte changed."""
    data = bytearray(encoded(tree))
    position = draw(st.integers(0, max(len(data) - 1, 0)))
    if draw(st.booleans()):
        del data[position:]
    elif data:
        data[position] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(trees)
def test_osc_shaped_packets_are_counted_once_each_and_acted_on_only_at_control_addresses(
    tree: Tree,
) -> None:
    datagram = encoded(tree)
    server, commands, errors = feed(datagram)
    assert errors == []
    assert_only_control_addresses_acted_on(datagram, commands)
    at_control = [leaf for leaf in leaves(tree) if leaf[0] in KINDS and KINDS[leaf[0]] != "cancel"]
    assert Counter(c.kind for c in commands) <= Counter(KINDS[leaf[0]] for leaf in at_control)
    counted = server.accepted + sum(server.rejected.values())
    if len(datagram) > MAX_DATAGRAM or depth(tree) > fuzz.BUNDLE_DEPTH:
        assert (counted, commands) == (1, [])
    else:
        assert counted == len(leaves(tree))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(trees.flatmap(damaged))
def test_damaged_osc_never_raises_nor_acts_outside_control_addresses(datagram: bytes) -> None:
    server, commands, errors = feed(datagram)
    assert errors == []
    assert server.accepted == len(commands)
    assert_only_control_addresses_acted_on(datagram, commands)
