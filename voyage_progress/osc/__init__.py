"""OSC: the namespace (the single source of truth for addresses), the sender and the control
input. Nothing here knows about Voyage beyond the namespace's documentation."""

from ._codec import OscDecodeError, decode, encode_bundle, encode_message
from ._control import ControlCommand, ControlServer
from ._namespace import (
    ALL,
    BATCH,
    CONTROL,
    EVENT,
    EVENT_KINDS,
    NAMESPACE,
    PHASE_NAMES,
    SIDECAR,
    STATUS_ERROR,
    STATUS_PENDING,
    STATUSES,
    UNKNOWN,
    OscAddress,
)
from ._sender import Destination, OscSender

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
    "ControlCommand",
    "ControlServer",
    "Destination",
    "OscAddress",
    "OscDecodeError",
    "OscSender",
    "decode",
    "encode_bundle",
    "encode_message",
]
