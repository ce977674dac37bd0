"""The control port under fire: seeded hostile and valid OSC over real UDP, every packet
accounted for.

What runs. A ``ControlServer`` in this process listens on 127.0.0.1 (a port the system picks)
as the sidecar runs it with ``--allow-peer 192.0.2.10`` and without ``--allow-cancel``: this
machine as 127.0.0.1 is still accepted, any other address is not, and cancel is refused. Its
handler keeps every command it is given. Seeded packets are sent to it over real UDP sockets
bound to 127.0.0.1 and, for one class, to 127.0.0.5.

What is sent. Each packet is written by this module's own OSC writer, and the generator knows,
from the documented rules alone (it never asks the decoder or the checks), what the server must
do with it: hand over a list of commands, or reject it for exactly one reason known in advance.

- valid commands: watch (id; id and label), unwatch, refresh in all its forms (no type tag
  string, ``,``, ``i``, ``f``, ``h``, ``d``, ``T``, ``F``), ids of 1 to 128 characters of
  ``[A-Za-z0-9_-]``, labels of up to 200 characters of any script, emoji included: accepted;
- bundles of valid commands, 1 to 4 levels deep, some exactly 8,192 bytes long: accepted;
- random bytes (0–399, the first neither ``/`` nor ``#``): ``malformed``;
- valid commands and bundles cut inside their type tags, arguments or last element, with a
  padding byte that is not NUL, or with bytes left after the arguments: ``malformed``;
- 8,193 to 9,192 bytes (a bundle of valid commands, a watch with a long label, random bytes):
  ``oversized``;
- well-framed commands whose address is a near miss (a typo, the wrong case, an extra or a
  missing segment, another prefix, an OSC pattern, a look-alike letter): ``unknown_address``;
- the right addresses with wrong argument types or counts, bad ids (empty, over 128
  characters, a slash, a space, a letter outside ASCII, a control character) or bad labels
  (a control character, over 200 characters): ``bad_arguments``;
- cancel, with valid or bad arguments: ``cancel_disabled``;
- bundles nested 5 to 8 levels deep around valid commands: ``malformed``;
- bundles with one element size that lies (zero, negative, not a multiple of 4, beyond the
  end) or one unreadable element among valid commands: ``malformed``;
- bundles of valid commands holding one bad message: the valid ones accepted, one rejection;
- valid commands and bundles sent from 127.0.0.5: ``peer`` (skipped, and said so, where that
  address cannot be bound, as on macOS).

How it is counted. Packets go out in chunks (at most 200 packets and about 128 KB of socket
buffer, so that none is dropped for want of room). After each chunk the run waits until the
server has counted every packet (``accepted`` plus all ``rejected`` reaches the expected total;
5 s without getting there stops the run, as a failure), then compares the chunk's counts,
reason by reason, with the generator's; a chunk that disagrees is replayed packet by packet into
a fresh server to name the first packet counted otherwise.

Judged: the rejections of each reason equal the expected ones; the commands accepted equal the
valid ones sent, and the handler's commands are exactly those, in order (so nothing was acted on
from bad input); nothing logged as an "unexpected error" by the control input, no exception
reported by the event loop; and a valid command sent after the fuzz is still handled.
Reported: the packets of each class, packets per second (sent and counted; generating them is
not timed), the duration and the seed.

``python -m benchmarks.fuzz [--packets N] [--seed S] [--quick]`` prints the table (100,000
packets; 5,000 with ``--quick``) and exits 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import logging
import math
import random
import socket
import string
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks._report import Result, table
from voyage_progress.core.commands import Command as ControlCommand
from voyage_progress.outputs.osc import CONTROL, ControlServer
from voyage_progress.outputs.osc._control import MAX_DATAGRAM

NAME = "fuzz"
PREFIX = "/voyage"
FULL_PACKETS = 100_000
QUICK_PACKETS = 5_000
DEFAULT_SEED = 1
HOST = "127.0.0.1"
STRANGER = "127.0.0.5"
ALLOWED_PEER = "192.0.2.10"
REASONS = ("peer", "oversized", "malformed", "unknown_address", "cancel_disabled", "bad_arguments")

#: The documented limits: bundles nest 4 deep, ids have 1–128 characters, labels up to 200.
BUNDLE_DEPTH = 4
MAX_ID = 128
MAX_LABEL = 200
OVERSIZE_SPAN = 1000

CHUNK_PACKETS = 200
CHUNK_BUFFER = 128 * 1024
SETTLE_TIMEOUT = 5.0
SHOWN_DISAGREEMENTS = 3

WATCH, UNWATCH, REFRESH, CANCEL = (
    PREFIX + address.path for address in (CONTROL.WATCH, CONTROL.UNWATCH, CONTROL.REFRESH, CONTROL.CANCEL)
)
CONTROL_ADDRESSES = frozenset({WATCH, UNWATCH, REFRESH, CANCEL})

ID_CHARACTERS = string.ascii_letters + string.digits + "_-"
LABEL_CHARACTERS = (
    string.ascii_letters
    + string.digits
    + string.punctuation
    + " " * 8
    + "".join(map(chr, range(0xA0, 0x180)))
    + "—–…•€™漢字かなカナКиевΩλ中文한국어עבריתالعربية٣🎛🎚🎥🔊👩\u200d💻\u0301\ufe0f"
)
ID_BYTES = [ID_CHARACTERS[byte % len(ID_CHARACTERS)] for byte in range(256)]
LABEL_BYTES = [LABEL_CHARACTERS[byte % len(LABEL_CHARACTERS)] for byte in range(256)]
NOT_OSC_FIRST_BYTES = [byte for byte in range(256) if byte not in b"/#"]
CONTROL_CHARACTERS = [
    chr(c)
    for c in (
        *range(0x01, 0x20),
        *range(0x7F, 0xA0),
        0x200E,
        0x200F,
        *range(0x2028, 0x202F),
        *range(0x2066, 0x206A),
    )
]
FOREIGN_ID_CHARACTERS = "äößéçñøЖж中٣１ｂ\u00a0"
#: Each breaks any id; a colon is not among them: one may say the provider (``openai:ID``).
ID_BREAKERS = ["/", " ", ".", "::", *",;!?@#$%^&*()+=[]{}<>|\\'\"`~"]
LOOK_ALIKES = {"o": "о", "a": "а", "e": "е", "c": "с", "p": "р"}
PATTERNS = ("*", "?", "[a-z]*", "{watch,refresh}")
OTHER_PREFIXES = ("/td", "/voyage2", "/VOYAGE", "/Voyage", "/voyage/voyage", "", "/vp", "//voyage")

BUNDLE_HEAD = b"#bundle\x00" + (1).to_bytes(8, "big")
SIZE = struct.Struct(">i")
NUMBERS = {
    "i": struct.Struct(">i"),
    "f": struct.Struct(">f"),
    "h": struct.Struct(">q"),
    "d": struct.Struct(">d"),
}
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

Argument = tuple[str, Any]
Expected = tuple[str, str | None, str | None]
Peer = tuple[str, int]


# -- the OSC writer -----------------------------------------------------------------------------------


def osc_string(text: str) -> bytes:
    data = text.encode()
    return data + bytes(4 - len(data) % 4)


def osc_message(address: str, args: Sequence[Argument] = (), *, tagged: bool = True) -> bytes:
    """A message; ``tagged=False`` leaves out the type tag string (and so every argument)."""
    if not tagged:
        return osc_string(address)
    tags = "," + "".join(tag for tag, _ in args)
    return osc_string(address) + osc_string(tags) + b"".join(_argument(tag, value) for tag, value in args)


def _argument(tag: str, value: Any) -> bytes:
    if tag == "s":
        return osc_string(value)
    if tag in "TF":
        return b""
    return NUMBERS[tag].pack(value)


def padding_at(address: str, args: Sequence[Argument]) -> list[int]:
    """Where the NULs that pad a message's strings out to 4 bytes are, after each terminator."""
    pieces: list[str | int] = [address, "," + "".join(tag for tag, _ in args)]
    pieces += [value if tag == "s" else len(_argument(tag, value)) for tag, value in args]
    positions: list[int] = []
    offset = 0
    for piece in pieces:
        if isinstance(piece, int):
            offset += piece
            continue
        padded = len(osc_string(piece))
        positions += range(offset + len(piece.encode()) + 1, offset + padded)
        offset += padded
    return positions


def osc_bundle(elements: Sequence[bytes], sizes: Sequence[int] | None = None) -> bytes:
    """A bundle of ``elements``, each preceded by its size, or by the size given in ``sizes``."""
    sizes = [len(element) for element in elements] if sizes is None else sizes
    return BUNDLE_HEAD + b"".join(SIZE.pack(size) + e for size, e in zip(sizes, elements, strict=True))


# -- the packets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One well-framed message, what it is made of, and the command it must become."""

    address: str
    args: tuple[Argument, ...]
    tagged: bool
    expected: Expected

    @functools.cached_property
    def data(self) -> bytes:
        return osc_message(self.address, self.args, tagged=self.tagged)

    @property
    def fully_read(self) -> bool:
        """Whether it has a type tag string and every argument has bytes (no ``T`` or ``F``)."""
        return self.tagged and bool(self.args) and all(tag not in "TF" for tag, _ in self.args)


@dataclass(frozen=True)
class Rejected:
    """One well-framed message, and why it must be rejected."""

    data: bytes
    reason: str


@dataclass(frozen=True)
class Packet:
    """A datagram, the commands it must be accepted as (in order) and the one reason it must be
    rejected for, if any."""

    family: str
    data: bytes
    commands: tuple[Expected, ...] = ()
    reason: str | None = None
    stranger: bool = False

    @property
    def outcomes(self) -> int:
        return len(self.commands) + (self.reason is not None)


class PacketMaker:
    """Every kind of packet, from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # values

    def batch_id(self) -> str:
        if self.rng.random() < 0.6:
            return "batch_" + self.text(24, ID_BYTES)
        length = self.rng.choice((1, MAX_ID, self.rng.randint(1, MAX_ID)))
        return self.text(length, ID_BYTES)

    def label(self) -> str:
        length = self.rng.choice((0, MAX_LABEL, self.rng.randint(1, 40), self.rng.randint(1, MAX_LABEL)))
        return self.text(length, LABEL_BYTES)

    def text(self, length: int, characters: Sequence[str]) -> str:
        """``length`` characters, each picked by a random byte from a table of 256."""
        return "".join(map(characters.__getitem__, self.rng.randbytes(length)))

    def number(self, tag: str) -> Argument:
        if tag in "TF":
            return tag, None
        if tag in "ih":
            low, high = INT32 if tag == "i" else INT64
            return tag, self.rng.choice((0, 1, -1, low, high, self.rng.randint(low, high)))
        special = (0.0, 1.0, -1.0, math.inf, -math.inf, math.nan)
        return tag, self.rng.choice((*special, self.rng.uniform(-1e6, 1e6)))

    def arguments(self, tags: str) -> list[Argument]:
        """Well-formed values for ``tags``, strings as valid ids: only the types are wrong."""
        return [("s", self.batch_id()) if tag == "s" else self.number(tag) for tag in tags]

    # messages

    def valid_command(self) -> Command:
        kind = self.rng.choices(("watch", "watch+label", "unwatch", "refresh"), (3, 3, 2, 2))[0]
        if kind == "refresh":
            form = self.rng.choice(("untagged", "", "i", "f", "h", "d", "T", "F"))
            args = tuple(self.arguments(form.removeprefix("untagged")))
            return Command(REFRESH, args, form != "untagged", ("refresh", None, None))
        batch_id = self.batch_id()
        if kind == "watch+label":
            label = self.label()
            return Command(WATCH, (("s", batch_id), ("s", label)), True, ("watch", batch_id, label))
        address = WATCH if kind == "watch" else UNWATCH
        return Command(address, (("s", batch_id),), True, (kind, batch_id, None))

    def near_miss(self) -> Rejected:
        command = self.valid_command()
        wrong = osc_message(self.misspelt(command.address), command.args, tagged=command.tagged)
        return Rejected(wrong, "unknown_address")

    def misspelt(self, address: str) -> str:
        mistakes = (
            _typo,
            _wrong_case,
            _extra_segment,
            _missing_segment,
            _other_prefix,
            _pattern,
            _look_alike,
        )
        while True:
            wrong = self.rng.choice(mistakes)(self.rng, address)
            if wrong.startswith("/") and wrong not in CONTROL_ADDRESSES:
                return wrong

    def bad_arguments(self) -> Rejected:
        way = self.rng.randrange(4)
        if way == 0:
            return Rejected(self.wrong_types(), "bad_arguments")
        if way == 1:
            return Rejected(osc_message(WATCH, [("s", self.bad_id())]), "bad_arguments")
        if way == 2:
            address, label = self.rng.choice(((WATCH, [("s", self.label())]), (UNWATCH, [])))
            return Rejected(osc_message(address, [("s", self.bad_id()), *label]), "bad_arguments")
        return Rejected(
            osc_message(WATCH, [("s", self.batch_id()), ("s", self.bad_label())]), "bad_arguments"
        )

    def wrong_types(self) -> bytes:
        """A control address with types it does not take (``h``, ``T`` and ``F`` read as ``i``,
        ``d`` as ``f``)."""
        address, shapes = self.rng.choice(
            (
                (WATCH, ("", "i", "f", "h", "d", "T", "F", "is", "si", "sf", "sT", "fs", "sss", "ssi")),
                (UNWATCH, ("", "i", "f", "d", "T", "ss", "si", "is")),
                (REFRESH, ("s", "ii", "if", "fi", "ff", "TF", "hd", "si", "is", "ss", "iii")),
            )
        )
        tags = self.rng.choice(shapes)
        return osc_message(address, self.arguments(tags), tagged=bool(tags) or self.rng.random() < 0.5)

    def bad_id(self) -> str:
        way = self.rng.randrange(5)
        if way == 0:
            return ""
        if way == 1:
            length = self.rng.choice((MAX_ID + 1, self.rng.randint(MAX_ID + 1, 3 * MAX_ID)))
            return self.text(length, ID_BYTES)
        wrong = self.rng.choice((ID_BREAKERS, FOREIGN_ID_CHARACTERS, CONTROL_CHARACTERS)[way - 2])
        return _insert(self.rng, self.batch_id(), [wrong])

    def bad_label(self) -> str:
        if self.rng.random() < 0.3:
            length = self.rng.choice((MAX_LABEL + 1, self.rng.randint(MAX_LABEL + 1, 2 * MAX_LABEL)))
            return self.text(length, LABEL_BYTES)
        return _insert(self.rng, self.label()[: MAX_LABEL - 1], self.rng.choice(CONTROL_CHARACTERS))

    def cancel(self) -> Rejected:
        args = (
            [("s", self.batch_id())]
            if self.rng.random() < 0.7
            else self.arguments(self.rng.choice(("", "i", "ss")))
        )
        return Rejected(osc_message(CANCEL, args), "cancel_disabled")

    def bad_message(self) -> Rejected:
        return self.rng.choice((self.near_miss, self.bad_arguments, self.cancel))()

    def unreadable(self) -> bytes:
        """Random bytes framed as a message (a multiple of 4 long) that is not one."""
        body = self.rng.randbytes(4 * self.rng.randint(1, 16) - 1)
        return bytes([self.rng.choice(NOT_OSC_FIRST_BYTES)]) + body

    # bundles

    def siblings(self) -> list[Command]:
        return [self.valid_command() for _ in range(self.rng.choice((0, 0, 1)))]

    def nest(
        self, inner: bytes, expected: Sequence[Expected], depth: int, lie_at: int | None = None
    ) -> tuple[bytes, list[Expected]]:
        """``inner`` wrapped in ``depth`` bundles, each with a valid command or none before and
        after it; the bundle ``lie_at`` levels out from ``inner`` lies about one element's size."""
        data, commands = inner, list(expected)
        for level in range(depth):
            before, after = self.siblings(), self.siblings()
            elements = [c.data for c in before] + [data] + [c.data for c in after]
            sizes = [len(element) for element in elements]
            if level == lie_at:
                self.lie(sizes)
            data = osc_bundle(elements, sizes)
            commands = [c.expected for c in before] + commands + [c.expected for c in after]
        return data, commands

    def lie(self, sizes: list[int]) -> None:
        """One size that no reader can follow: zero, negative, not a multiple of 4, or past the
        end of its bundle."""
        index = self.rng.randrange(len(sizes))
        way = self.rng.randrange(5)
        if way == 0:
            sizes[index] = 0
        elif way == 1:
            sizes[index] = self.rng.choice((-4, INT32[0], -4 * self.rng.randint(1, 2**29)))
        elif way == 2:
            sizes[index] += self.rng.choice((-3, -2, -1, 1, 2, 3))
        elif way == 3:
            sizes[index] = MAX_DATAGRAM + 4 * self.rng.randint(1, 2**28)
        else:
            sizes[-1] += 4

    def bundle_of_commands(self, count: int) -> tuple[bytes, list[Expected]]:
        commands = [self.valid_command() for _ in range(count)]
        return osc_bundle([c.data for c in commands]), [c.expected for c in commands]

    def full_bundle(self) -> tuple[bytes, list[Expected]]:
        """Valid commands in a bundle exactly ``MAX_DATAGRAM`` bytes long, the largest accepted:
        random ones, then address-only refreshes (28 bytes each), then a watch whose label makes up
        the rest (``room`` ASCII characters, a multiple of 4, take ``room + 4`` bytes)."""
        commands: list[Command] = []
        filler = Command(REFRESH, (), False, ("refresh", None, None))
        last_without_label = 4 + len(osc_message(WATCH, [("s", "full"), ("s", "")])) - 4
        room = MAX_DATAGRAM - len(BUNDLE_HEAD) - last_without_label - 4
        while True:
            command = self.valid_command()
            if 4 + len(command.data) > room:
                break
            commands.append(command)
            room -= 4 + len(command.data)
        while 4 + len(filler.data) <= room:
            commands.append(filler)
            room -= 4 + len(filler.data)
        label = "." * room
        commands.append(Command(WATCH, (("s", "full"), ("s", label)), True, ("watch", "full", label)))
        data = osc_bundle([c.data for c in commands])
        assert len(data) == MAX_DATAGRAM
        return data, [c.expected for c in commands]

    # the families

    def valid(self) -> Packet:
        command = self.valid_command()
        return Packet("valid", command.data, (command.expected,))

    def valid_bundle(self) -> Packet:
        if self.rng.random() < 0.1:
            data, expected = self.full_bundle()
        else:
            inner, commands = self.bundle_of_commands(self.rng.randint(1, 4))
            data, expected = self.nest(inner, commands, self.rng.randint(0, BUNDLE_DEPTH - 1))
        return Packet("valid bundle", data, tuple(expected))

    def random_bytes(self) -> Packet:
        length = self.rng.randrange(400)
        data = (
            bytes([self.rng.choice(NOT_OSC_FIRST_BYTES)]) + self.rng.randbytes(length - 1) if length else b""
        )
        return Packet("random bytes", data, (), "malformed")

    def damaged(self) -> Packet:
        way = self.rng.randrange(8)
        if way < 2:
            data = self.cut_bundle()
        elif way < 6:
            data = self.cut_command()
        elif way == 6:
            data = self.badly_padded()
        else:
            data = self.command_with_arguments().data + self.rng.randbytes(4 * self.rng.randint(1, 4))
        return Packet("damaged", data, (), "malformed")

    def cut_bundle(self) -> bytes:
        """A bundle of valid commands cut inside its last element, or inside that element's size."""
        elements = [self.valid_command().data for _ in range(self.rng.randint(1, 3))]
        data = osc_bundle(elements)
        return data[: self.rng.randint(len(data) - len(elements[-1]) - 3, len(data) - 1)]

    def cut_command(self) -> bytes:
        """A valid command cut inside its type tags or arguments, more often where a 4-byte word
        ends (a datagram that is not a multiple of 4 long is refused before anything is read)."""
        command = self.command_with_arguments()
        data, head = command.data, len(osc_string(command.address))
        if self.rng.random() < 0.5:
            return data[: self.rng.choice(range(head + 4, len(data), 4))]
        return data[: self.rng.randint(head + 1, len(data) - 1)]

    def badly_padded(self) -> bytes:
        """A valid command with one byte of the NULs that pad its strings out to 4 bytes set."""
        while True:
            command = self.valid_command()
            padding = padding_at(command.address, command.args) if command.tagged else []
            if padding:
                data = bytearray(command.data)
                data[self.rng.choice(padding)] = self.rng.randint(1, 255)
                return bytes(data)

    def command_with_arguments(self) -> Command:
        while True:
            command = self.valid_command()
            if command.fully_read:
                return command

    def oversized(self) -> Packet:
        way = self.rng.randrange(3)
        if way == 0:
            commands: list[bytes] = []
            length = len(BUNDLE_HEAD)
            while length <= MAX_DATAGRAM:
                commands.append(self.valid_command().data)
                length += 4 + len(commands[-1])
            data = osc_bundle(commands)
        elif way == 1:
            label = "x" * self.rng.randint(MAX_DATAGRAM - 30, MAX_DATAGRAM + OVERSIZE_SPAN - 64)
            data = osc_message(WATCH, [("s", "b"), ("s", label)])
        else:
            length = self.rng.choice(
                (MAX_DATAGRAM + 1, self.rng.randint(MAX_DATAGRAM + 1, MAX_DATAGRAM + OVERSIZE_SPAN))
            )
            data = self.rng.randbytes(length)
        return Packet("oversized", data, (), "oversized")

    def near_miss_address(self) -> Packet:
        return Packet("near-miss address", self.near_miss().data, (), "unknown_address")

    def bad_argument_values(self) -> Packet:
        return Packet("bad arguments", self.bad_arguments().data, (), "bad_arguments")

    def cancel_command(self) -> Packet:
        return Packet("cancel", self.cancel().data, (), "cancel_disabled")

    def too_deep(self) -> Packet:
        command = self.valid_command()
        depth = self.rng.randint(BUNDLE_DEPTH + 1, BUNDLE_DEPTH + 4)
        data, _ = self.nest(command.data, [command.expected], depth)
        return Packet("too deep", data, (), "malformed")

    def lying_bundle(self) -> Packet:
        """Valid commands in a bundle inside 0–3 more, one of which has an element that is not a
        message or whose size lies."""
        outside = self.rng.randint(0, BUNDLE_DEPTH - 1)
        elements = [self.valid_command().data for _ in range(self.rng.randint(1, 3))]
        if self.rng.random() < 0.3:
            elements.insert(self.rng.randint(0, len(elements)), self.unreadable())
            data, _ = self.nest(osc_bundle(elements), [], outside)
            return Packet("lying bundle", data, (), "malformed")
        sizes = [len(element) for element in elements]
        liar = self.rng.randint(0, outside)
        if liar == 0:
            self.lie(sizes)
        data, _ = self.nest(osc_bundle(elements, sizes), [], outside, lie_at=liar - 1 if liar else None)
        return Packet("lying bundle", data, (), "malformed")

    def one_bad_in_bundle(self) -> Packet:
        before = [self.valid_command() for _ in range(self.rng.randint(0, 2))]
        after = [self.valid_command() for _ in range(self.rng.randint(0, 2))]
        bad = self.bad_message()
        inner = osc_bundle([c.data for c in before] + [bad.data] + [c.data for c in after])
        commands = [c.expected for c in before + after]
        data, expected = self.nest(inner, commands, self.rng.randint(0, BUNDLE_DEPTH - 1))
        return Packet("one bad in a bundle", data, tuple(expected), bad.reason)

    def stranger(self) -> Packet:
        data = self.valid_command().data if self.rng.random() < 0.7 else self.valid_bundle().data
        return Packet("stranger", data, (), "peer", stranger=True)


def _insert(rng: random.Random, text: str, characters: Sequence[str]) -> str:
    at = rng.randint(0, len(text))
    return text[:at] + rng.choice(characters) + text[at:]


# address mistakes, each keeping the leading "/"


def _typo(rng: random.Random, address: str) -> str:
    at = rng.randint(1, len(address) - 2)
    letter = rng.choice(string.ascii_lowercase + "/_-.")
    way = rng.randrange(4)
    if way == 0:
        return address[:at] + letter + address[at + 1 :]
    if way == 1:
        return address[:at] + address[at + 1 :]
    if way == 2:
        return address[:at] + letter + address[at:]
    return address[:at] + address[at + 1] + address[at] + address[at + 2 :]


def _wrong_case(rng: random.Random, address: str) -> str:
    if rng.random() < 0.3:
        return address.upper()
    at = rng.choice([i for i, c in enumerate(address) if c.isalpha()])
    return address[:at] + address[at].upper() + address[at + 1 :]


def _extra_segment(rng: random.Random, address: str) -> str:
    word = rng.choice(("now", "1", "x", "", "control", "watch"))
    if rng.random() < 0.5:
        return f"{address}/{word}"
    return address.replace("/control/", f"/control/{word}/", 1) if word else address + "/"


def _missing_segment(rng: random.Random, address: str) -> str:
    return rng.choice((address.replace("/control", "", 1), address.removeprefix(PREFIX), PREFIX + "/control"))


def _other_prefix(rng: random.Random, address: str) -> str:
    return rng.choice(OTHER_PREFIXES) + address.removeprefix(PREFIX)


def _pattern(rng: random.Random, address: str) -> str:
    head, _, last = address.rpartition("/")
    return f"{head}/{rng.choice(PATTERNS)}" if rng.random() < 0.5 else f"{head}/{last[:-1]}?"


def _look_alike(rng: random.Random, address: str) -> str:
    at = rng.choice([i for i, c in enumerate(address) if c in LOOK_ALIKES])
    return address[:at] + LOOK_ALIKES[address[at]] + address[at + 1 :]


@dataclass(frozen=True)
class Family:
    """A class of packets: how many of each hundred, what the server must do, and how to make one."""

    name: str
    weight: int
    outcome: str
    description: str
    make: Callable[[PacketMaker], Packet]


FAMILIES = {
    family.name: family
    for family in (
        Family("valid", 22, "accepted", "valid commands", PacketMaker.valid),
        Family("valid bundle", 6, "accepted", "bundles of valid commands", PacketMaker.valid_bundle),
        Family("random bytes", 10, "malformed", "random bytes", PacketMaker.random_bytes),
        Family("damaged", 10, "malformed", "cut short, badly padded, bytes left over", PacketMaker.damaged),
        Family("oversized", 3, "oversized", f"over {MAX_DATAGRAM:,} bytes", PacketMaker.oversized),
        Family(
            "near-miss address", 12, "unknown_address", "near-miss addresses", PacketMaker.near_miss_address
        ),
        Family(
            "bad arguments",
            15,
            "bad_arguments",
            "bad types, counts, ids, labels",
            PacketMaker.bad_argument_values,
        ),
        Family("cancel", 4, "cancel_disabled", "cancel", PacketMaker.cancel_command),
        Family("too deep", 4, "malformed", "bundles nested 5–8 deep", PacketMaker.too_deep),
        Family(
            "lying bundle",
            6,
            "malformed",
            "bundles with a lying size or bad element",
            PacketMaker.lying_bundle,
        ),
        Family(
            "one bad in a bundle",
            4,
            "accepted + 1 rejection",
            "valid bundles with one bad message",
            PacketMaker.one_bad_in_bundle,
        ),
        Family("stranger", 4, "peer", f"valid commands and bundles from {STRANGER}", PacketMaker.stranger),
    )
}


def make_packets(count: int, seed: int, families: Sequence[Family]) -> list[Packet]:
    """``count`` packets of the given families, in a mix by their weights, the same for a seed.
    Only ``oversized`` packets are longer than ``MAX_DATAGRAM``: the others are made again."""
    rng = random.Random(seed)
    maker = PacketMaker(rng)
    cumulative = list(itertools.accumulate(family.weight for family in families))
    packets = []
    for family in rng.choices(families, cum_weights=cumulative, k=count):
        packet = family.make(maker)
        while packet.reason != "oversized" and len(packet.data) > MAX_DATAGRAM:
            packet = family.make(maker)
        packets.append(packet)
    return packets


# -- the run --------------------------------------------------------------------------------------------


@dataclass
class FuzzResult:
    """What was sent, what the server counted and did, and the verdict."""

    packets: int
    seed: int
    sent: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)
    counted: Counter[str] = field(default_factory=Counter)
    valid_sent: list[ControlCommand] = field(default_factory=list)
    accepted: int = 0
    handled: list[ControlCommand] = field(default_factory=list)
    unexpected_errors: list[str] = field(default_factory=list)
    loop_errors: list[str] = field(default_factory=list)
    still_answers: bool = False
    generating: float = 0.0
    sending: float = 0.0
    chunks: int = 0
    chunks_counted: int = 0
    stall: str | None = None
    disagreements: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def acted_on_bad_input(self) -> int:
        """Commands the handler was given that were not among the valid ones sent."""
        return sum((Counter(self.handled) - Counter(self.valid_sent)).values())

    def first_difference(self) -> int | None:
        pairs = itertools.zip_longest(self.handled, self.valid_sent)
        return next((i for i, (got, sent) in enumerate(pairs) if got != sent), None)

    def rows(self) -> list[Result]:
        return _family_rows(self) + _count_rows(self) + _health_rows(self) + _context_rows(self)

    def failures(self) -> list[str]:
        return [f"{r.metric}: {r.ours} (expected {r.target})" for r in self.rows() if r.met is False]


def _row(metric: str, ours: str, target: str = "-", met: bool | None = None) -> Result:
    return Result(NAME, metric, ours, "-", "-", target, met)


def _family_rows(result: FuzzResult) -> list[Result]:
    rows = []
    for family in FAMILIES.values():
        sent = result.skipped.get(family.name) or f"{result.sent[family.name]:,}"
        rows.append(_row(f"packets: {family.description} → {family.outcome}", sent))
    total = sum(result.sent.values())
    rows.append(
        _row(
            "packets sent in all, in chunks each counted in full before the next",
            f"{total:,} ({result.chunks_counted:,}/{result.chunks:,} chunks)",
            "every chunk counted",
            result.chunks_counted == result.chunks and result.stall is None,
        )
    )
    if result.stall:
        rows.append(_row("chunk never counted in full", result.stall, "none", False))
    return rows


def _count_rows(result: FuzzResult) -> list[Result]:
    reasons = list(REASONS) + sorted(set(result.counted) - set(REASONS))
    rows = [
        _row(
            f"rejected as {reason}: counted (target: as generated)",
            f"{result.counted[reason]:,}",
            f"= {result.expected[reason]:,}",
            result.counted[reason] == result.expected[reason],
        )
        for reason in reasons
    ]
    difference = result.first_difference()
    rows += [
        _row(
            "commands accepted (target: the valid commands sent)",
            f"{result.accepted:,}",
            f"= {len(result.valid_sent):,}",
            result.accepted == len(result.valid_sent),
        ),
        _row(
            "the handler's commands are the valid ones sent, in order",
            "yes" if difference is None else f"no: first difference at command {difference:,}",
            "yes",
            difference is None,
        ),
        _row(
            "commands acted on from bad input",
            f"{result.acted_on_bad_input():,}",
            "0",
            result.acted_on_bad_input() == 0,
        ),
    ]
    rows += [
        _row("packet counted otherwise than generated", shown, "none", False)
        for shown in result.disagreements
    ]
    return rows


def _health_rows(result: FuzzResult) -> list[Result]:
    def first(errors: list[str]) -> str:
        return f"{len(errors)}" + (f" ({errors[0][:80]})" if errors else "")

    return [
        _row(
            '"unexpected error" logged by the control input',
            first(result.unexpected_errors),
            "0",
            not result.unexpected_errors,
        ),
        _row("exceptions reported by the event loop", first(result.loop_errors), "0", not result.loop_errors),
        _row(
            "a valid command after the fuzz is still handled",
            "yes" if result.still_answers else "no",
            "yes",
            result.still_answers,
        ),
    ]


def _context_rows(result: FuzzResult) -> list[Result]:
    total = sum(result.sent.values())
    rate = total / result.sending if result.sending else 0.0
    return [
        _row("packets per second, sent over UDP and counted (generating them not timed)", f"{rate:,.0f}/s"),
        _row(
            "duration: generating + sending and counting",
            f"{result.generating:.1f} s + {result.sending:.1f} s",
        ),
        _row("seed (--seed S sends the same packets again)", str(result.seed)),
    ]


class UnexpectedErrors(logging.Handler):
    """Keeps what the control input logs as an unexpected error."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "unexpected error" in message:
            self.messages.append(message)


class _Handler:
    """The control handler: keeps every command."""

    def __init__(self) -> None:
        self.commands: list[ControlCommand] = []

    def __call__(self, command: ControlCommand) -> None:
        self.commands.append(command)


def _seen(server: ControlServer) -> int:
    return server.accepted + sum(server.rejected.values())


async def _settle(server: ControlServer, count: int) -> bool:
    """Whether the server has counted ``count`` messages in all before the timeout."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while _seen(server) < count:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0)
    return True


def _chunks(packets: Sequence[Packet]) -> Iterator[list[Packet]]:
    """Runs of packets that fit the receiving socket's buffer together (a datagram takes about
    twice its length there, and a kilobyte more)."""
    chunk: list[Packet] = []
    room = CHUNK_BUFFER
    for packet in packets:
        cost = 2 * len(packet.data) + 1280
        if chunk and (len(chunk) == CHUNK_PACKETS or cost > room):
            yield chunk
            chunk, room = [], CHUNK_BUFFER
        chunk.append(packet)
        room -= cost
    if chunk:
        yield chunk


@dataclass
class _Senders:
    """The sockets packets leave from: this machine as 127.0.0.1, and a stranger if it can be
    bound here."""

    local: socket.socket
    stranger: socket.socket | None

    @classmethod
    def bind(cls, skipped: dict[str, str]) -> _Senders:
        local = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        local.bind((HOST, 0))
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            stranger.bind((STRANGER, 0))
        except OSError as exc:
            stranger.close()
            skipped["stranger"] = f"skipped: cannot send from {STRANGER} here ({exc.strerror or exc})"
            return cls(local, None)
        return cls(local, stranger)

    def of(self, packet: Packet) -> socket.socket:
        if packet.stranger:
            assert self.stranger is not None
            return self.stranger
        return self.local

    def peer(self, packet: Packet) -> Peer:
        host, port = self.of(packet).getsockname()[:2]
        return host, port

    def close(self) -> None:
        self.local.close()
        if self.stranger is not None:
            self.stranger.close()


def _first_disagreement(chunk: Sequence[Packet], senders: _Senders) -> str:
    """The first packet of a chunk that a fresh server, given it alone, counts otherwise."""
    for packet in chunk:
        server = ControlServer(_Handler(), allowed_peers=[ALLOWED_PEER])
        server.datagram_received(packet.data, senders.peer(packet))
        expected = Counter([packet.reason] if packet.reason else [])
        if server.rejected != expected or server.accepted != len(packet.commands):
            return (
                f"{packet.family} {packet.data[:48]!r}: expected {len(packet.commands)} accepted "
                f"+ {dict(expected)}, counted {server.accepted} + {dict(server.rejected)}"
            )
    return "a chunk was counted otherwise, though each of its packets alone is counted as expected"


class _Run:
    """One server, its handler, the senders, and what was found."""

    def __init__(
        self, result: FuzzResult, server: ControlServer, handler: _Handler, senders: _Senders
    ) -> None:
        self.result = result
        self.server = server
        self.handler = handler
        self.senders = senders

    async def send(self, chunk: Sequence[Packet]) -> bool:
        """Send a chunk, wait until it is counted, and compare; False if it never was."""
        accepted, rejected, before = self.server.accepted, self.server.rejected.copy(), _seen(self.server)
        outcomes = sum(packet.outcomes for packet in chunk)
        for packet in chunk:
            self.senders.of(packet).sendto(packet.data, (HOST, self.server.port))
        if not await _settle(self.server, before + outcomes):
            counted = _seen(self.server) - before
            self.result.stall = f"{counted:,} of {outcomes:,} counted after {SETTLE_TIMEOUT:g} s"
            return False
        expected = Counter(packet.reason for packet in chunk if packet.reason)
        agrees = self.server.rejected - rejected == expected
        agrees &= self.server.accepted - accepted == sum(len(packet.commands) for packet in chunk)
        if not agrees and len(self.result.disagreements) < SHOWN_DISAGREEMENTS:
            self.result.disagreements.append(_first_disagreement(chunk, self.senders))
        return True

    async def probe(self) -> bool:
        """Whether a valid command sent now still reaches the handler."""
        probe = Packet("probe", osc_message(WATCH, [("s", "fuzz_probe"), ("s", "after the fuzz")]))
        command = ControlCommand("watch", "fuzz_probe", "after the fuzz", self.senders.peer(probe))
        before = _seen(self.server)
        self.senders.local.sendto(probe.data, (HOST, self.server.port))
        return await _settle(self.server, before + 1) and self.handler.commands[-1:] == [command]


async def _fuzz(count: int, seed: int) -> FuzzResult:
    result = FuzzResult(count, seed)
    senders = _Senders.bind(result.skipped)
    try:
        families = [family for family in FAMILIES.values() if family.name not in result.skipped]
        started = time.perf_counter()
        packets = make_packets(count, seed, families)
        result.generating = time.perf_counter() - started
        await _bombard(result, packets, senders)
    finally:
        senders.close()
    return result


async def _bombard(result: FuzzResult, packets: list[Packet], senders: _Senders) -> None:
    handler = _Handler()
    errors = UnexpectedErrors()
    logger = logging.getLogger("voyage_progress.osc")
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: result.loop_errors.append(str(context.get("message"))))
    logger.addHandler(errors)
    try:
        async with ControlServer(handler, host=HOST, port=0, allowed_peers=[ALLOWED_PEER]) as server:
            run = _Run(result, server, handler, senders)
            chunks = list(_chunks(packets))
            result.chunks = len(chunks)
            started = time.perf_counter()
            for chunk in chunks:
                if not await run.send(chunk):
                    break
                result.chunks_counted += 1
                result.sent.update(packet.family for packet in chunk)
            result.sending = time.perf_counter() - started
            _account(result, packets[: sum(result.sent.values())], server, handler, senders)
            result.still_answers = await run.probe()
    finally:
        logger.removeHandler(errors)
        loop.set_exception_handler(None)
    result.unexpected_errors = errors.messages


def _account(
    result: FuzzResult, sent: Sequence[Packet], server: ControlServer, handler: _Handler, senders: _Senders
) -> None:
    """What the generator expected of the packets sent, and what the server counted and did."""
    result.expected = Counter(packet.reason for packet in sent if packet.reason)
    result.counted = server.rejected.copy()
    result.accepted = server.accepted
    result.valid_sent = [
        ControlCommand(*expected, senders.peer(packet)) for packet in sent for expected in packet.commands
    ]
    result.handled = list(handler.commands)


def fuzz_control_port(packets: int = FULL_PACKETS, seed: int = DEFAULT_SEED) -> FuzzResult:
    """Send ``packets`` seeded packets to a control server over UDP and account for each."""
    return asyncio.run(_fuzz(packets, seed))


def run(quick: bool) -> list[Result]:
    return fuzz_control_port(QUICK_PACKETS if quick else FULL_PACKETS).rows()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--packets", type=int, help=f"how many ({FULL_PACKETS:,}; {QUICK_PACKETS:,} with --quick)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PACKETS:,} packets")
    args = parser.parse_args(argv)
    count = args.packets or (QUICK_PACKETS if args.quick else FULL_PACKETS)
    result = fuzz_control_port(count, args.seed)
    print(table(result.rows()))
    for failure in result.failures():
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if result.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
