"""OSC 1.0 encoding and decoding, for the three types the namespace uses: ``i``, ``f`` and ``s``.

Encoding is byte-identical to python-osc's ``OscMessageBuilder`` and ``OscBundleBuilder``
(timetag ``IMMEDIATELY``) for int, float and str, with these deliberate differences, each where
python-osc would send a type that TouchDesigner, Max or Pure Data reads badly, or would crash:

- ``bool`` is sent as ``i`` 0/1, not as ``T``/``F`` (which carry no value for a CHOP to show);
- ints are clamped to the int32 range instead of being sent as ``h`` (int64); so
  ``-2147483648``, which python-osc sends as ``h``, is sent as ``i``;
- floats too large for a float32 are sent as ``inf``/``-inf`` instead of raising;
- a string that cannot be UTF-8 (a lone surrogate, from a JSON ``"\\ud800"``) has its bad
  characters sent as ``?`` instead of raising.

The sidecar sends the same few addresses with the same few type signatures many times a second,
so the padded bytes of addresses and strings and the type tag of each signature are cached.

``decode`` reads the control input, which anyone on the network may write to: it accepts
``i``, ``f``, ``s``, and also ``h`` and ``d`` (as int and float) and ``T``/``F`` (as 1/0),
and raises ``OscDecodeError``, and nothing else, for anything it cannot read. Its work is
linear in the datagram's length, without recursion, and bundles nest at most ``max_depth`` deep.
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["Arg", "Message", "OscDecodeError", "decode", "encode_bundle", "encode_message"]

Arg = int | float | str
Message = tuple[str, Sequence[Arg]]

_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_FLOAT32 = struct.Struct(">f")
_FLOAT64 = struct.Struct(">d")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

_BUNDLE_TAG = b"#bundle\x00"
_BUNDLE_HEAD = _BUNDLE_TAG + b"\x00\x00\x00\x00\x00\x00\x00\x01"  # timetag 1: "immediately"

_CACHE_SIZE = 4096
_call = operator.call


class OscDecodeError(ValueError):
    """A datagram that is not valid OSC (or uses a type this decoder does not read)."""


# --- encoding -----------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
def _osc_string(text: str) -> bytes:
    """UTF-8, NUL-terminated, padded with NULs to a multiple of 4 bytes."""
    data = text.encode("utf-8", "replace")
    return data + b"\x00" * (4 - len(data) % 4)


def _type_tag(kind: type) -> str:
    if issubclass(kind, int):  # bool included: sent as 0/1
        return "i"
    if issubclass(kind, float):
        return "f"
    if issubclass(kind, str):
        return "s"
    raise TypeError(f"OSC arguments are int, float or str, not {kind.__name__}")


_ENCODERS: dict[str, Callable[[Arg], bytes]] = {"i": _INT32.pack, "f": _FLOAT32.pack, "s": _osc_string}

#: The padded address and type tags, then either one ``Struct`` that packs them with all the
#: arguments at once (numbers only), or one encoder per argument.
_Layout = tuple[bytes, struct.Struct | None, tuple[Callable[[Arg], bytes], ...]]

#: ``(address, *argument types)`` to its layout. A plain dict (emptied when full) rather than an
#: ``lru_cache``: this lookup is on every message, and a program uses a few dozen layouts.
_layouts: dict[tuple[Any, ...], _Layout] = {}


def _new_layout(key: tuple[Any, ...]) -> _Layout:
    address, kinds = key[0], key[1:]
    if not isinstance(address, str) or not address.startswith("/"):
        raise ValueError(f"an OSC address is a str starting with '/', not {address!r}")
    tags = "".join(_type_tag(kind) for kind in kinds)
    head = _osc_string(address) + _osc_string("," + tags)
    packer = None if "s" in tags else struct.Struct(f">{len(head)}s{tags}")
    if len(_layouts) >= _CACHE_SIZE:
        _layouts.clear()
    layout = _layouts[key] = (head, packer, tuple(_ENCODERS[tag] for tag in tags))
    return layout


def _fit(arg: Arg) -> Arg:
    """An argument brought into the range of its OSC type."""
    if isinstance(arg, int):
        return min(max(arg, _INT32_MIN), _INT32_MAX)
    if isinstance(arg, float):
        try:
            _FLOAT32.pack(arg)
        except OverflowError:
            return math.copysign(math.inf, arg)
    return arg


def encode_message(address: str, args: Sequence[Arg] = ()) -> bytes:
    """One OSC message: ``encode_message("/voyage/batch/0/percent", [42.5])``."""
    if isinstance(args, str):
        raise TypeError("OSC arguments are a sequence: write [text], not text")
    # Most messages have one argument; building their key without map() halves its cost.
    key = (address, type(args[0])) if len(args) == 1 else (address, *map(type, args))
    head, packer, encoders = _layouts.get(key) or _new_layout(key)
    try:
        if packer is not None:
            return packer.pack(head, *args)
        return head + b"".join(map(_call, encoders, args))
    except (struct.error, OverflowError):  # an int beyond int32 or a float beyond float32
        return encode_message(address, [_fit(arg) for arg in args])


def encode_bundle(messages: Sequence[Message]) -> bytes:
    """One OSC bundle, timetag "immediately", of the given messages in order."""
    parts = [_BUNDLE_HEAD]
    for address, args in messages:
        data = encode_message(address, args)
        parts += (_INT32.pack(len(data)), data)
    return b"".join(parts)


# --- decoding -----------------------------------------------------------------------------------

_FIXED = {"i": _INT32, "f": _FLOAT32, "h": _INT64, "d": _FLOAT64}
_CONSTANT = {"T": 1, "F": 0}


def decode(datagram: bytes, *, max_depth: int = 4) -> list[tuple[str, list[Arg]]]:
    """The messages of a datagram: one for a message, all of them, in order, for a bundle.

    Bundles may nest ``max_depth`` levels deep. Raises ``OscDecodeError`` for anything else.
    """
    messages: list[tuple[str, list[Arg]]] = []
    pending = [(0, len(datagram), max_depth)]  # packets still to read, the next one last
    while pending:
        start, end, depth = pending.pop()
        if end == start or (end - start) % 4:
            raise OscDecodeError("packet length is not a positive multiple of 4")
        if datagram.startswith(_BUNDLE_TAG, start, end):
            if depth <= 0:
                raise OscDecodeError("bundles nested too deeply")
            pending += reversed(_bundle_elements(datagram, start, end, depth - 1))
        else:
            messages.append(_decode_message(datagram, start, end))
    return messages


def _bundle_elements(data: bytes, start: int, end: int, depth: int) -> list[tuple[int, int, int]]:
    """Where each element of a bundle starts and ends, and how deep they may nest."""
    position = start + len(_BUNDLE_HEAD)
    if position > end:
        raise OscDecodeError("truncated bundle header")
    elements = []
    while position < end:  # both multiples of 4, so a size always fits
        (size,) = _INT32.unpack_from(data, position)
        position += 4
        if size <= 0 or size % 4 or size > end - position:
            raise OscDecodeError(f"bundle element size {size} out of range")
        elements.append((position, position + size, depth))
        position += size
    return elements


def _decode_message(data: bytes, start: int, end: int) -> tuple[str, list[Arg]]:
    address, position = _read_string(data, start, end)
    if not address.startswith("/"):
        raise OscDecodeError("address does not start with '/'")
    if position == end:  # no type tag string at all: an old-style message without arguments
        return address, []
    tags, position = _read_string(data, position, end)
    if not tags.startswith(","):
        raise OscDecodeError("type tags do not start with ','")
    args: list[Arg] = []
    for tag in tags[1:]:
        value, position = _read_arg(data, position, end, tag)
        args.append(value)
    if position != end:
        raise OscDecodeError("bytes left after the arguments")
    return address, args


def _read_arg(data: bytes, position: int, end: int, tag: str) -> tuple[Arg, int]:
    if tag == "s":
        return _read_string(data, position, end)
    fixed = _FIXED.get(tag)
    if fixed is not None:
        if position + fixed.size > end:
            raise OscDecodeError(f"truncated '{tag}' argument")
        value: Arg = fixed.unpack_from(data, position)[0]
        return value, position + fixed.size
    if tag in _CONSTANT:
        return _CONSTANT[tag], position
    raise OscDecodeError(f"unsupported type tag {tag!r}")


def _read_string(data: bytes, position: int, end: int) -> tuple[str, int]:
    """A padded string starting at ``position`` (a multiple of 4), and the position after it."""
    nul = data.find(b"\x00", position, end)
    if nul < 0:
        raise OscDecodeError("unterminated string")
    after = (nul | 3) + 1
    if after > end:
        raise OscDecodeError("truncated string padding")
    if data[nul:after] != bytes(after - nul):
        raise OscDecodeError("string padding is not NUL bytes")
    try:
        return data[position:nul].decode("utf-8"), after
    except UnicodeDecodeError:
        raise OscDecodeError("string is not valid UTF-8") from None
