"""The OSC namespace: every address the sidecar sends or listens to, with its types, range,
unit and meaning. This table is the single source of truth: the sender, the control input,
``docs/OSC.md``, ``voyage-progress namespace``, the TouchDesigner component's SPEC and the Pure
Data patch all follow it, and tests hold them to it.

Only ``i`` (int32), ``f`` (float32) and ``s`` (string) are used: Max mangles doubles,
TouchDesigner's OSC In CHOP takes numbers only. Times are seconds remaining or elapsed, never
epoch times, which a float32 cannot hold.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from dataclasses import asdict, dataclass

from ...core.frame import STATUS_ERROR, STATUS_PENDING, EventKind
from ...core.models import PHASES, BatchStatus

__all__ = [
    "ALL",
    "BATCH",
    "CONTROL",
    "EVENT",
    "EVENT_KINDS",
    "NAMESPACE",
    "PHASE_NAMES",
    "SIDECAR",
    "STATUSES",
    "STATUS_ERROR",
    "STATUS_PENDING",
    "UNKNOWN",
    "Access",
    "Bounds",
    "OscAddress",
    "render_json",
    "render_markdown",
]

#: The value of a number that is not known (rate, ETA, elapsed, poll age).
UNKNOWN = -1.0

#: ``phase`` values, in order (the integer is the index): the batch statuses' own order.
PHASE_NAMES = tuple(status.value for status in PHASES)

#: Every string ``/batch/{slot}/status`` carries, with its meaning; the phase is the status's
#: own for the API's statuses, and ``unknown``'s for the sidecar's own two and any other string.
STATUSES = {
    BatchStatus.VALIDATING.value: "the input file is being checked; counts are 0",
    BatchStatus.IN_PROGRESS.value: "requests are being processed",
    BatchStatus.FINALIZING.value: "every request is done; the result files are being written",
    BatchStatus.COMPLETED.value: "done; failed requests, if any, are in the error file",
    BatchStatus.FAILED.value: "the input failed validation; nothing was processed",
    BatchStatus.CANCELLING.value: "a cancel was asked for; requests under way finish",
    BatchStatus.CANCELLED.value: "cancelled; what was done is in the result files",
    BatchStatus.EXPIRED.value: "the window ran out with requests left (OpenAI; Anthropic's ended batch "
    "with expired requests; Voyage completes instead)",
    BatchStatus.UNKNOWN.value: "any status this version does not know is sent as the API sent it",
    STATUS_PENDING: "watched, not read yet",
    STATUS_ERROR: "cannot be read (unknown id, no access): `error` says why",
}

#: ``/event`` kinds, with their meaning: every ``EventKind``.
EVENT_KINDS: dict[EventKind, str] = {
    EventKind.START: "the sidecar started (id empty, slot -1)",
    EventKind.SHUTDOWN: "the sidecar is stopping cleanly (id empty, slot -1)",
    EventKind.WATCH: "a batch was added to the watch list",
    EventKind.UNWATCH: "a batch was removed from the watch list; forget its slot",
    EventKind.COMPLETE: "a batch completed",
    EventKind.FAILED: "a batch failed validation",
    EventKind.CANCELLED: "a batch was cancelled",
    EventKind.EXPIRED: "a batch expired (OpenAI, Anthropic)",
    EventKind.ERROR: "a batch cannot be read (unknown id, no access)",
    EventKind.AT_RISK: "a batch's ETA band first reached past its completion window (`at_risk` turned 1)",
}


@dataclass(frozen=True)
class OscAddress:
    """One address: ``path`` is relative to the prefix (``/voyage`` by default)."""

    path: str
    types: str
    meaning: str
    range: str = ""
    unit: str = ""

    def full(self, prefix: str, slot: int | None = None) -> str:
        path = self.path.replace("{slot}", str(slot)) if slot is not None else self.path
        return prefix + path

    @property
    def name(self) -> str:
        """The last part of the path: the key of this value in the JSON stream."""
        return self.path.rsplit("/", 1)[1]

    @property
    def access(self) -> Access:
        """Whether the sidecar sends it (read) or listens to it (write)."""
        return Access.WRITE if self.path.startswith("/control/") else Access.READ

    @property
    def bounds(self) -> Bounds:
        """The range as numbers, read from ``range`` (see ``Bounds.parse``)."""
        return _bounds(self.range)

    @property
    def standard_unit(self) -> str | None:
        """The unit in OSCQuery's vocabulary (its ``units.md``), where it has one."""
        return OSCQUERY_UNITS.get(self.unit)

    @property
    def is_flag(self) -> bool:
        """An int that is only ever 0 or 1: a boolean in JSON."""
        return self.types == "i" and self.range == "0/1"


class Access(enum.IntEnum):
    """OSCQuery's ACCESS: 0 no value (a container), 1 read, 2 write."""

    NONE = 0
    READ = 1
    WRITE = 2


#: Units of the table that OSCQuery's unit vocabulary has a name for; the others (%, requests/s)
#: have none there and are only described.
OSCQUERY_UNITS = {"s": "time.second"}

_NUMBER = r"-?\d+(?:\.\d+)?"
_BOUNDS_FORMS = [
    re.compile(rf"(?P<low>{_NUMBER})[–/](?P<high>{_NUMBER})"),  # 0–1, 0/1
    re.compile(rf"≥ (?P<low>{_NUMBER})"),  # ≥ 0
    re.compile(rf"(?P<low>{_NUMBER}), {_NUMBER}, "),  # 1, 2, 3...
]
_SENTINEL = re.compile(rf", (?P<sentinel>{_NUMBER}) \w")  # ", -1 unknown"


@dataclass(frozen=True)
class Bounds:
    """A number's range as OSCQuery and the JSON stream need it.

    Read from the ``range`` text of the table, so that it is written once: ``0–1`` and ``0/1``
    (low and high), ``≥ 0`` (low only), ``1, 2, 3...`` (low only), each optionally followed by
    ``, -1 <meaning>``: a value sent when the number is not known, which ``low`` then includes.
    """

    low: float | None = None
    high: float | None = None
    #: The value that stands for "not known" (``UNKNOWN``), or None.
    sentinel: float | None = None

    @classmethod
    def parse(cls, text: str) -> Bounds:
        """The bounds in ``text``; no bounds for a text in none of the forms (strings)."""
        for form in _BOUNDS_FORMS:
            match = form.match(text)
            if match is not None:
                found = match.groupdict()
                low = float(found["low"])
                high = float(found["high"]) if found.get("high") is not None else None
                sentinel_match = _SENTINEL.search(text, match.end())
                sentinel = float(sentinel_match["sentinel"]) if sentinel_match else None
                if sentinel is not None:
                    low = min(low, sentinel)
                return cls(low, high, sentinel)
        return cls()


@functools.cache
def _bounds(text: str) -> Bounds:
    """``Bounds.parse``, once per range text: the JSON stream reads every field's bounds for
    every batch it sends."""
    return Bounds.parse(text)


def _a(path: str, types: str, meaning: str, range: str = "", unit: str = "") -> OscAddress:
    return OscAddress(path, types, meaning, range, unit)


class SIDECAR:
    """Sent together in one bundle every second: the health of the sidecar."""

    HEARTBEAT = _a("/sidecar/heartbeat", "i", "counter, one more each second", "1, 2, 3...")
    EPOCH = _a("/sidecar/epoch", "i", "random per sidecar start: a change means a restart", "1–2147483647")
    RUNNING = _a("/sidecar/running", "i", "1 while running; 0 in the last message of a clean shutdown", "0/1")
    API_OK = _a("/sidecar/api_ok", "i", "1 when the latest poll of the API succeeded", "0/1")
    POLL_AGE = _a(
        "/sidecar/poll_age", "f", "seconds since the latest successful poll", "≥ 0, -1 before the first", "s"
    )
    WATCHING = _a("/sidecar/watching", "i", "number of batches watched", "≥ 0")
    MESSAGE = _a("/sidecar/message", "s", "health in words: ok, API unreachable..., invalid API key...")
    VERSION = _a("/sidecar/version", "s", "the sidecar's version")


class BATCH:
    """Sent as one bundle per batch whenever it changes, and every couple of seconds."""

    ID = _a("/batch/{slot}/id", "s", "the batch id")
    LABEL = _a("/batch/{slot}/label", "s", "the label given when watching, or metadata 'label', or ''")
    PROVIDER = _a(
        "/batch/{slot}/provider",
        "s",
        "whose batch it is: the provider's name (voyage, openai, anthropic); one sidecar follows "
        "batches of every provider",
    )
    STATUS = _a(
        "/batch/{slot}/status",
        "s",
        "the batch's status: one of the statuses below (unknown ones as the API sent them)",
    )
    ERROR = _a("/batch/{slot}/error", "s", "why it failed or cannot be read, or ''")
    PHASE = _a(
        "/batch/{slot}/phase",
        "i",
        "the status as a number: " + ", ".join(f"{i} {name}" for i, name in enumerate(PHASE_NAMES)),
        f"0–{len(PHASE_NAMES) - 1}",
    )
    PROGRESS = _a("/batch/{slot}/progress", "f", "requests done (completed + failed) / total", "0–1")
    PERCENT = _a("/batch/{slot}/percent", "f", "progress × 100", "0–100", "%")
    TOTAL = _a("/batch/{slot}/total", "i", "requests in the batch (0 while validating)", "≥ 0")
    COMPLETED = _a("/batch/{slot}/completed", "i", "requests that succeeded", "≥ 0")
    FAILED = _a("/batch/{slot}/failed", "i", "requests that failed", "≥ 0")
    RATE = _a("/batch/{slot}/rate", "f", "requests done per second", "≥ 0, -1 unknown", "requests/s")
    ETA = _a(
        "/batch/{slot}/eta",
        "f",
        "seconds until the batch completes, finalizing included (never 0 while it is active): 0 once "
        "completed, -1 once failed, cancelled or expired",
        "≥ 0, -1 unknown",
        "s",
    )
    ETA_LOW = _a("/batch/{slot}/eta_low", "f", "optimistic end of the ETA band", "≥ 0, -1 unknown", "s")
    ETA_HIGH = _a("/batch/{slot}/eta_high", "f", "pessimistic end of the ETA band", "≥ 0, -1 unknown", "s")
    ETA_FROM_HISTORY = _a(
        "/batch/{slot}/eta_from_history",
        "i",
        "1 while the ETA comes from past batches of the model (before the first progress; a wide "
        "band), 0 when from this batch's own rate",
        "0/1",
    )
    STALLED = _a(
        "/batch/{slot}/stalled",
        "i",
        "1 while no progress has come for several times the usual wait between count changes",
        "0/1",
    )
    DEADLINE = _a(
        "/batch/{slot}/deadline",
        "f",
        "seconds until the completion window ends (expected_completion_at, or created_at + window); "
        "0 once passed; -1 when unknown or the batch has ended",
        "≥ 0, -1 unknown",
        "s",
    )
    AT_RISK = _a(
        "/batch/{slot}/at_risk",
        "i",
        "1 while the ETA band's high end passes the deadline (or the deadline has passed)",
        "0/1",
    )
    ELAPSED = _a("/batch/{slot}/elapsed", "f", "seconds since the batch was created", "≥ 0, -1 unknown", "s")
    POLL_AGE = _a(
        "/batch/{slot}/poll_age", "f", "seconds since this batch was last read", "≥ 0, -1 never", "s"
    )
    IS_COMPLETE = _a("/batch/{slot}/is_complete", "i", "1 when completed", "0/1")
    IS_FAILED = _a("/batch/{slot}/is_failed", "i", "1 when failed or expired", "0/1")
    IS_TERMINAL = _a("/batch/{slot}/is_terminal", "i", "1 when it will not change any more", "0/1")
    ANOMALIES = _a(
        "/batch/{slot}/anomalies",
        "i",
        "answers about this batch that were wrong (counts going back, more done than the total, an "
        "unknown status, missing or mistyped fields): ignored or corrected, and counted here",
        "≥ 0",
    )


class ALL:
    """Sent with every batch bundle: the sum over all watched batches."""

    PROGRESS = _a("/all/progress", "f", "requests done / requests in all watched batches", "0–1")
    PERCENT = _a("/all/percent", "f", "progress × 100", "0–100", "%")
    ETA = _a(
        "/all/eta",
        "f",
        "seconds until the last active batch is done; with none active, 0 if every batch completed, else -1",
        "≥ 0, -1 unknown",
        "s",
    )
    ACTIVE = _a("/all/active", "i", "batches not yet ended", "≥ 0")
    TOTAL = _a("/all/total", "i", "requests in all watched batches", "≥ 0")
    COMPLETED = _a("/all/completed", "i", "requests that succeeded, all batches", "≥ 0")
    FAILED = _a("/all/failed", "i", "requests that failed, all batches", "≥ 0")


class EVENT:
    """One-shot messages, each sent once per sidecar life."""

    EVENT = _a("/event", "ssi", "kind, batch id, slot; kinds: " + ", ".join(EVENT_KINDS))


class CONTROL:
    """What the sidecar listens to on its control port (127.0.0.1:7451 by default)."""

    WATCH = _a("/control/watch", "s|ss", "watch a batch id, with an optional label")
    UNWATCH = _a("/control/unwatch", "s", "stop watching a batch id")
    REFRESH = _a(
        "/control/refresh",
        "|i|f",
        "poll every batch now and re-send the full state (a number, such as "
        "the 1 of a TouchDesigner pulse, is ignored)",
    )
    CANCEL = _a("/control/cancel", "s", "cancel a batch; only with --allow-cancel")
    SHUTDOWN = _a(
        "/control/shutdown",
        "|i|f",
        "stop the sidecar cleanly, as Ctrl+C does: it sends running 0 and /event shutdown, then exits "
        "(a number, such as the 1 of a TouchDesigner pulse, is ignored)",
    )


def _members(group: type) -> list[OscAddress]:
    return [value for value in vars(group).values() if isinstance(value, OscAddress)]


#: Every address, by group, in the order of the documentation.
NAMESPACE: dict[str, list[OscAddress]] = {
    "sidecar": _members(SIDECAR),
    "batch": _members(BATCH),
    "all": _members(ALL),
    "event": _members(EVENT),
    "control": _members(CONTROL),
}

GROUP_TITLES = {
    "sidecar": "Sidecar health — one bundle every second",
    "batch": "Batches — one bundle per batch on every change, and the full state every 2 s",
    "all": "All batches — in every batch bundle",
    "event": "Events — once each",
    "control": "Control input — what the sidecar listens to",
}


def _phase_of(status: str) -> int:
    """The phase sent with ``status``: its own, or unknown's for the sidecar's own statuses."""
    return BatchStatus(status).phase


def render_json(prefix: str = "/voyage") -> str:
    """The namespace as JSON, for tools that generate receivers."""
    document = {
        "prefix": prefix,
        "unknown": UNKNOWN,
        "phases": list(PHASE_NAMES),
        "statuses": STATUSES,
        "event_kinds": EVENT_KINDS,
        "groups": {
            group: [_address_json(prefix, address) for address in addresses]
            for group, addresses in NAMESPACE.items()
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _address_json(prefix: str, address: OscAddress) -> dict[str, object]:
    bounds = address.bounds
    return {
        **asdict(address),
        "address": prefix + address.path,
        "access": address.access.name.lower(),
        "min": bounds.low,
        "max": bounds.high,
    }


def render_markdown(prefix: str = "/voyage") -> str:
    """The namespace as the Markdown of ``docs/OSC.md``."""
    lines = [
        "# OSC namespace",
        "",
        "<!-- Generated by `voyage-progress namespace`; edit voyage_progress/outputs/osc/_namespace.py. -->",
        "",
        f"Prefix `{prefix}` (change it with `--prefix`). Types: `i` int32, `f` float32, `s` string. "
        f"Unknown numbers are `{UNKNOWN:g}`. `{{slot}}` is a small integer that stays with a batch "
        "while it is watched (and across sidecar restarts with a state file), so receivers can use "
        "fixed names such as `b0_percent`.",
        "",
    ]
    for group, addresses in NAMESPACE.items():
        lines += [
            f"## {GROUP_TITLES[group]}",
            "",
            "| address | type | range | unit | meaning |",
            "|---|---|---|---|---|",
        ]
        for a in addresses:
            types = a.types or "(none)"
            lines.append(f"| `{prefix}{a.path}` | `{types}` | {a.range} | {a.unit} | {a.meaning} |")
        lines.append("")
    lines += ["## Phases", "", "| phase | status |", "|---|---|"]
    lines += [f"| {i} | `{name}` |" for i, name in enumerate(PHASE_NAMES)]
    lines += ["", "## Statuses", "", "| status | phase | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {_phase_of(name)} | {meaning} |" for name, meaning in STATUSES.items()]
    lines += ["", "## Event kinds", "", "| kind | meaning |", "|---|---|"]
    lines += [f"| `{kind}` | {meaning} |" for kind, meaning in EVENT_KINDS.items()]
    return "\n".join(lines) + "\n"
