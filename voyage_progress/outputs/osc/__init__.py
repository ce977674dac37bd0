"""The OSC output: the namespace (the single source of truth for addresses), the frame as
messages, and the pieces that know nothing of batches: the codec, the sender, the paced outbox
and the control input."""

from ._codec import OscDecodeError, decode, encode_bundle, encode_message
from ._control import ControlPortInUse, ControlServer
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
from ._output import OscOutput, OscSettings
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
    "ControlPortInUse",
    "ControlServer",
    "Destination",
    "OscAddress",
    "OscDecodeError",
    "OscOutput",
    "OscSender",
    "OscSettings",
    "decode",
    "encode_bundle",
    "encode_message",
]
