"""OSC for the OSC In/Out DATs, with python-osc: the OSC Out DAT's type rules (oscoutDAT Class page) and
real UDP datagrams."""

from __future__ import annotations

import math
import socket
from collections.abc import Sequence
from typing import Any

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from .errors import NotModeled, TDError

_INT32 = range(-(2**31), 2**31)


def pairs(arguments: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """``('/a', [1, 2], '/b', [])`` -> messages; each value list must be a list (or tuple). A bytes
    object is a list of byte values, as the oscoutDAT Class page says."""
    if not arguments or len(arguments) % 2:
        raise TDError(
            "sendOSC takes addresses each followed by a list of values: sendOSC('/a', [1, 2.5], '/b', []) "
            f"(got {len(arguments)} arguments)"
        )
    messages = []
    for address, values in zip(arguments[::2], arguments[1::2], strict=True):
        if not isinstance(address, str) or not address.startswith("/"):
            raise TDError(f"sendOSC: {address!r} is not an OSC address (it starts with '/')")
        if isinstance(values, bytes | bytearray | list | tuple):
            messages.append((address, list(values)))
        else:
            raise TDError(
                f"sendOSC: the values of {address} must be a list, got {values!r} (use [{values!r}])"
            )
    return messages


def _add(builder: OscMessageBuilder, value: Any, non_standard: bool, use_64: bool, address: str) -> None:
    if isinstance(value, bool):
        if non_standard:
            builder.add_arg(
                value, OscMessageBuilder.ARG_TYPE_TRUE if value else OscMessageBuilder.ARG_TYPE_FALSE
            )
        else:
            builder.add_arg(int(value), OscMessageBuilder.ARG_TYPE_INT)
    elif value is None:
        if non_standard:
            builder.add_arg(None, OscMessageBuilder.ARG_TYPE_NIL)
        else:
            builder.add_arg(0, OscMessageBuilder.ARG_TYPE_INT)
    elif isinstance(value, int):
        if use_64 or (value not in _INT32 and non_standard):
            builder.add_arg(value, OscMessageBuilder.ARG_TYPE_INT64)
        elif value in _INT32:
            builder.add_arg(value, OscMessageBuilder.ARG_TYPE_INT)
        else:
            raise TDError(f"sendOSC {address}: {value} does not fit 32 bits (useNonStandardTypes=False)")
    elif isinstance(value, float):
        if math.isinf(value) and non_standard:
            raise NotModeled(
                "sendOSC: the OSC Infinitum type is not modeled by the fake (python-osc lacks it)"
            )
        builder.add_arg(
            value, OscMessageBuilder.ARG_TYPE_DOUBLE if use_64 else OscMessageBuilder.ARG_TYPE_FLOAT
        )
    elif isinstance(value, str):
        builder.add_arg(value, OscMessageBuilder.ARG_TYPE_STRING)
    elif isinstance(value, bytes | bytearray):
        builder.add_arg(bytes(value), OscMessageBuilder.ARG_TYPE_BLOB)
    elif isinstance(value, list | tuple):
        builder.add_arg(list(value))
    else:
        raise TDError(f"sendOSC {address}: cannot send {value!r} ({type(value).__name__})")


def encode_message(
    address: str, values: list[Any], non_standard: bool = True, use_64: bool = False
) -> OscMessage:
    """Ints as i (h when too large, or always with use64BitPrecision), floats as f (d), strings as s,
    bools as T/F and None as N (int 1/0 and 0 without useNonStandardTypes), bytes as blobs."""
    if use_64 and not non_standard:
        raise TDError("sendOSC: use64BitPrecision=True requires useNonStandardTypes=True")
    builder = OscMessageBuilder(address=address)
    for value in values:
        _add(builder, value, non_standard, use_64, address)
    return builder.build()


def bundle(messages: list[OscMessage]) -> bytes:
    builder = OscBundleBuilder(IMMEDIATELY)
    for message in messages:
        builder.add_content(message)  # type: ignore[arg-type]
    return builder.build().dgram


def raw_bytes(messages: Sequence[Any]) -> bytes:
    data = bytearray()
    for item in messages:
        if isinstance(item, str):
            data += item.encode("utf-8")
        elif isinstance(item, bytes | bytearray):
            data += item
        elif isinstance(item, int) and 0 <= item < 256:
            data.append(item)
        else:
            raise TDError(f"sendBytes: {item!r} is not a string, bytes or a byte value")
    return bytes(data)


def send_udp(data: bytes, host: str, port: int) -> int:
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, proto) as sock:
        return sock.sendto(data, address)


def decode(datagram: bytes) -> list[tuple[str, list[Any], bytes]]:
    """The messages of a datagram (a bundle's in order): address, arguments, the message's bytes."""
    packet = OscPacket(datagram)
    return [(m.message.address, list(m.message.params), m.message.dgram) for m in packet.messages]


def text(value: Any) -> str:
    """A value as a DAT cell shows it."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return str(value)
