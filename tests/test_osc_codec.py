"""The OSC codec: byte-identical to python-osc where it should be, and a decoder that only ever
raises OscDecodeError, whatever it is given."""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from voyage_progress.outputs.osc import NAMESPACE, OscDecodeError, decode, encode_bundle, encode_message
from voyage_progress.outputs.osc._codec import Arg, Message

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
SAMPLES: dict[str, Arg] = {"i": 7, "f": 0.25, "s": "in_progress"}


def python_osc_message(address: str, args: Sequence[Arg]) -> OscMessage:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()


def python_osc_bundle(messages: Sequence[Message]) -> bytes:
    builder = OscBundleBuilder(IMMEDIATELY)
    for address, args in messages:
        builder.add_content(python_osc_message(address, args))
    return builder.build().dgram


def namespace_messages() -> list[Message]:
    """Every address of the namespace, for slots 0 and 12, with sample arguments of its types
    (each alternative of the control input's ``s|ss``)."""
    messages: list[Message] = []
    for addresses in NAMESPACE.values():
        for address in addresses:
            for types in address.types.split("|"):
                for slot in (0, 12):
                    messages.append((address.full("/voyage", slot), [SAMPLES[t] for t in types]))
    return messages


def as_float32(value: float) -> float:
    """What a float32 keeps of ``value``: infinity for what it cannot hold."""
    try:
        return float(struct.unpack(">f", struct.pack(">f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def nest(datagram: bytes) -> bytes:
    """A bundle holding ``datagram`` as its only element."""
    return encode_bundle([])[:16] + struct.pack(">i", len(datagram)) + datagram


FLOATS = [0.0, -0.0, 0.1, -1.0, 1.5, 1e30, -1e30, 3.4e38, 1e-45, math.inf, -math.inf, math.nan, math.pi]
INTS = [0, 1, -1, 42, -42, 255, 65536, INT32_MAX, INT32_MIN + 1]
STRINGS = ["", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"]
TEXT = st.characters(exclude_characters="\0", exclude_categories=("Cs",))
UNICODE = ["é", "日本語", "🎛️ fader", "Ω≈ç√", "gestures — v2", "\u00a0"]


# --- byte identity with python-osc --------------------------------------------------------------


@pytest.mark.parametrize(("address", "args"), namespace_messages())
def test_every_namespace_address_matches_python_osc(address: str, args: list[Arg]) -> None:
    assert encode_message(address, args) == python_osc_message(address, args).dgram


@pytest.mark.parametrize(
    "args",
    [
        [],
        *([value] for value in FLOATS),
        *([value] for value in INTS),
        *([value] for value in STRINGS + UNICODE),
        ["complete", "batch_abc", 3],
        [1, 2.5, "x", -7, "", 0.1, "yz"],
        [INT32_MAX, INT32_MIN + 1, math.nan, "日本語"],
    ],
    ids=repr,
)
def test_arguments_match_python_osc(args: list[Arg]) -> None:
    assert encode_message("/voyage/test", args) == python_osc_message("/voyage/test", args).dgram


@pytest.mark.parametrize("length", range(1, 10))
def test_address_padding_matches_python_osc(length: int) -> None:
    address = "/" + "x" * (length - 1)
    assert encode_message(address, []) == python_osc_message(address, []).dgram
    assert len(encode_message(address, [])) % 4 == 0


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [("/a", [])],
        [("/voyage/all/percent", [42.5]), ("/voyage/all/active", [2])],
        namespace_messages(),
    ],
    ids=["empty", "one", "two", "namespace"],
)
def test_bundles_match_python_osc(messages: list[Message]) -> None:
    assert encode_bundle(messages) == python_osc_bundle(messages)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(INT32_MIN + 1, INT32_MAX),
            st.floats(width=32),
            st.floats(min_value=-3.4e38, max_value=3.4e38),
            st.text(TEXT, max_size=20),  # python-osc cannot read back a NUL in its own strings
        ),
        max_size=6,
    )
)
def test_generated_messages_match_python_osc(args: list[Arg]) -> None:
    assert encode_message("/voyage/gen", args) == python_osc_message("/voyage/gen", args).dgram


# --- the deliberate differences ------------------------------------------------------------------


def test_bool_is_sent_as_int() -> None:
    assert encode_message("/a", [True, False]) == encode_message("/a", [1, 0])
    assert b",ii\x00" in encode_message("/a", [True, False])


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (2**31, INT32_MAX),
        (2**63, INT32_MAX),
        (10**30, INT32_MAX),
        (-(2**31) - 1, INT32_MIN),
        (-(10**30), INT32_MIN),
    ],
)
def test_ints_beyond_int32_are_clamped(value: int, sent: int) -> None:
    assert encode_message("/a", [value, "x"]) == encode_message("/a", [sent, "x"])
    assert encode_message("/a", [value]) == struct.pack(">4s4si", b"/a\0\0", b",i\0\0", sent)


def test_int32_min_is_an_int_not_an_int64() -> None:
    assert encode_message("/a", [INT32_MIN]) == b"/a\0\0,i\0\0\x80\0\0\0"


@pytest.mark.parametrize(("value", "sent"), [(1e39, math.inf), (-1e300, -math.inf)])
def test_floats_beyond_float32_are_infinite(value: float, sent: float) -> None:
    assert encode_message("/a", [value]) == python_osc_message("/a", [sent]).dgram


def test_a_lone_surrogate_is_replaced() -> None:
    assert encode_message("/a", ["x\ud800y"]) == encode_message("/a", ["x?y"])


@pytest.mark.parametrize("bad", [None, b"bytes", [1], (1, 2), {"a": 1}, object(), 1j])
def test_other_types_raise_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="int, float or str"):
        encode_message("/a", [1, bad])  # type: ignore[list-item]


def test_a_string_for_args_raises_type_error() -> None:
    with pytest.raises(TypeError, match="sequence"):
        encode_message("/a", "text")


@pytest.mark.parametrize("address", ["", "voyage", " /a"])
def test_an_address_without_a_slash_raises(address: str) -> None:
    with pytest.raises(ValueError, match="starting with '/'"):
        encode_message(address, [1])


# --- decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "args"), namespace_messages())
def test_decode_reads_what_encode_writes(address: str, args: list[Arg]) -> None:
    assert decode(encode_message(address, args)) == [(address, args)]


def test_decode_reads_a_bundle_in_order() -> None:
    messages = namespace_messages()
    assert decode(encode_bundle(messages)) == [(address, list(args)) for address, args in messages]


def test_decode_reads_nested_bundles_up_to_max_depth() -> None:
    inner = encode_bundle([("/a", [1]), ("/b", ["x"])])
    datagram = nest(nest(nest(inner)))  # four levels of bundles
    assert decode(datagram) == [("/a", [1]), ("/b", ["x"])]
    with pytest.raises(OscDecodeError, match="nested too deeply"):
        decode(datagram, max_depth=3)
    with pytest.raises(OscDecodeError, match="nested too deeply"):
        decode(nest(datagram))


def test_decode_reads_python_osc_extra_types() -> None:
    builder = OscMessageBuilder("/x")
    for value, kind in [(2**40, "h"), (2.5, "d"), (True, "T"), (False, "F")]:
        builder.add_arg(value, kind)
    assert decode(builder.build().dgram) == [("/x", [2**40, 2.5, 1, 0])]


def test_decode_reads_a_message_without_type_tags() -> None:
    assert decode(b"/old\0\0\0\0") == [("/old", [])]


def test_decode_keeps_special_floats() -> None:
    [(_, args)] = decode(encode_message("/f", [math.inf, -math.inf, math.nan, -0.0]))
    assert args[:2] == [math.inf, -math.inf]
    assert math.isnan(args[2])
    assert math.copysign(1.0, args[3]) == -1.0


MALFORMED = {
    "empty": b"",
    "not a multiple of 4": b"/ab",
    "no slash": b"ab\0\0,\0\0\0",
    "unterminated address": b"/abc",
    "bad address padding": b"/a\0x,\0\0\0",
    "tags without comma": b"/a\0\0i\0\0\0\0\0\0\1",
    "unterminated tags": b"/a\0\0,iii",
    "truncated int": b"/a\0\0,i\0\0",
    "truncated double": b"/a\0\0,d\0\0\0\0\0\0",
    "truncated string": b"/a\0\0,s\0\0abcd",
    "bad string padding": b"/a\0\0,s\0\0ab\0x",
    "not utf-8": b"/a\0\0,s\0\0\xff\xfe\0\0",
    "address not utf-8": b"/\xff\0\0,\0\0\0",
    "unknown tag": b"/a\0\0,x\0\0",
    "nil": b"/a\0\0,N\0\0",
    "blob": b"/a\0\0,b\0\0\0\0\0\1x\0\0\0",
    "array": b"/a\0\0,[i]\0\0\0\0\0\0\0\1",
    "trailing bytes": b"/a\0\0,i\0\0\0\0\0\1\0\0\0\0",
    "truncated bundle": b"#bundle\0\0\0\0\0",
    "element size too large": encode_bundle([])[:16] + struct.pack(">i", 64) + encode_message("/a"),
    "element size zero": encode_bundle([])[:16] + struct.pack(">i", 0),
    "element size negative": encode_bundle([])[:16] + struct.pack(">i", -8) + encode_message("/a"),
    "element size unaligned": encode_bundle([])[:16] + struct.pack(">i", 5) + b"/a\0\0\0\0\0\0",
    "bad element": encode_bundle([])[:16] + struct.pack(">i", 4) + b"abcd",
}


@pytest.mark.parametrize("datagram", MALFORMED.values(), ids=MALFORMED.keys())
def test_decode_rejects_malformed_datagrams(datagram: bytes) -> None:
    with pytest.raises(OscDecodeError) as raised:
        decode(datagram)
    assert "\n" not in str(raised.value) and str(raised.value)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(OscDecodeError, ValueError)


# --- properties ----------------------------------------------------------------------------------

addresses = st.text(TEXT, max_size=30).map(lambda text: "/" + text)
arguments = st.lists(
    st.one_of(
        st.integers(INT32_MIN, INT32_MAX),
        st.floats(allow_nan=False),
        st.text(TEXT, max_size=40),
    ),
    max_size=8,
)


def as_sent(args: list[Arg]) -> list[Arg]:
    return [as_float32(arg) if isinstance(arg, float) else arg for arg in args]


@settings(max_examples=300, deadline=None)
@given(addresses, arguments)
def test_decode_of_encode_is_identity(address: str, args: list[Arg]) -> None:
    [(decoded_address, decoded)] = decode(encode_message(address, args))
    assert decoded_address == address
    assert decoded == as_sent(args)
    assert [type(arg) for arg in decoded] == [type(arg) for arg in args]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(addresses, arguments), max_size=5))
def test_decode_of_encoded_bundle_is_identity(messages: list[tuple[str, list[Arg]]]) -> None:
    assert decode(encode_bundle(messages)) == [(address, as_sent(args)) for address, args in messages]


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=300))
def test_decode_of_random_bytes_raises_only_decode_errors(data: bytes) -> None:
    with contextlib.suppress(OscDecodeError):
        decode(data)


@st.composite
def damaged_datagrams(draw: st.DrawFn) -> bytes:
    """A valid message or bundle, then truncated, extended, or with some bytes overwritten."""
    messages = draw(st.lists(st.tuples(addresses, arguments), min_size=1, max_size=3))
    data = bytearray(encode_bundle(messages) if draw(st.booleans()) else encode_message(*messages[0]))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["cut", "set", "insert"]))
        if action == "cut":
            del data[position:]
        elif action == "set" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@settings(max_examples=1000, deadline=None)
@given(damaged_datagrams())
def test_decode_of_damaged_datagrams_raises_only_decode_errors(data: bytes) -> None:
    try:
        messages = decode(data)
    except OscDecodeError:
        return
    assert all(address.startswith("/") for address, _ in messages)
