"""voyage_progress model: what the sidecar has said, as plain data, and what it means.

Why a pure module: everything that can be wrong about OSC parsing, restarts, staleness and
channel values lives here, with no TouchDesigner import, so it runs under plain pytest. The
extension and the callbacks DATs are thin glue around it.

Why plain dicts: the state is kept in the component's storage (``op.store``). Plain dicts and
lists survive a reload of this DAT (a class would be redefined and old instances would keep the
old code), survive saving the project, and are easy to inspect in the textport.

The addresses follow the sidecar's namespace (docs/OSC.md in the voyage-progress repository);
a test there holds this module to it.
"""

import math

VERSION = "0.1.0"
DEFAULT_PREFIX = "/voyage"
UNKNOWN = -1.0

PHASES = (
    "validating",
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "cancelling",
    "cancelled",
    "expired",
    "unknown",
)
UNKNOWN_PHASE = PHASES.index("unknown")

#: The panel's colour for every status the sidecar sends (its namespace's ``STATUSES``); a
#: status it does not know is coloured by the batch's flags.
STATUS_COLORS = {
    "validating": "running",
    "in_progress": "running",
    "finalizing": "running",
    "completed": "complete",
    "failed": "failed",
    "cancelling": "running",
    "cancelled": "idle",
    "expired": "failed",
    "unknown": "running",
    "pending": "idle",
    "error": "failed",
}

#: What the sidecar sends per batch: field -> default. Strings first, then numbers.
SLOT_DEFAULTS = {
    "id": "",
    "label": "",
    "provider": "",
    "status": "",
    "error": "",
    "phase": UNKNOWN_PHASE,
    "progress": 0.0,
    "percent": 0.0,
    "total": 0,
    "completed": 0,
    "failed": 0,
    "rate": UNKNOWN,
    "eta": UNKNOWN,
    "eta_low": UNKNOWN,
    "eta_high": UNKNOWN,
    "eta_from_history": 0,
    "stalled": 0,
    "deadline": UNKNOWN,
    "at_risk": 0,
    "elapsed": UNKNOWN,
    "poll_age": UNKNOWN,
    "is_complete": 0,
    "is_failed": 0,
    "is_terminal": 0,
    "anomalies": 0,
}
SUMMARY_DEFAULTS = {
    "progress": 0.0,
    "percent": 0.0,
    "eta": UNKNOWN,
    "active": 0,
    "total": 0,
    "completed": 0,
    "failed": 0,
}
SIDECAR_DEFAULTS = {
    "heartbeat": 0,
    "epoch": 0,
    "running": 0,
    "api_ok": 0,
    "poll_age": UNKNOWN,
    "watching": 0,
    "message": "",
    "version": "",
}

#: The selected batch's channels, in this order, always all of them.
SELECTED_CHANNELS = (
    "progress",
    "percent",
    "completed",
    "total",
    "failed",
    "rate",
    "eta",
    "eta_low",
    "eta_high",
    "phase",
    "is_complete",
    "is_failed",
    "active",
    "stale",
    "heartbeat_age",
    "completed_pulse",
    "stalled",
    "at_risk",
    "deadline",
    "eta_from_history",
)
#: Per-slot channels of the second output, named ``b{slot}_{name}``.
SLOT_CHANNELS = (
    "progress",
    "percent",
    "completed",
    "total",
    "failed",
    "rate",
    "eta",
    "phase",
    "is_complete",
    "is_failed",
    "is_terminal",
    "stalled",
    "at_risk",
)
#: ``provider`` came last, after the others: tables read by column number keep working.
TABLE_HEADER = ("slot", "id", "label", "status", "error", "provider")
SIDECAR_TABLE_HEADER = ("name", "value")

#: One-shot events the user's callbacks hear about, by the sidecar's event kind.
END_CALLBACKS = {
    "complete": "onBatchComplete",
    "failed": "onBatchFailed",
    "expired": "onBatchFailed",
    "cancelled": "onBatchCancelled",
}
#: How many announced batch ends are remembered to recognise repeats after a restart.
ANNOUNCED_LIMIT = 1000
#: Slots 0 to MAX_SLOTS - 1 are kept, any other is ignored. The sidecar numbers its batches from
#: 0 up, so this is the number of batches watched at once; the cap keeps whatever else reaches the
#: port from making every frame cook thousands of channels (11 per slot in the second output).
MAX_SLOTS = 256
#: The sidecar's epoch is a random int32 above 0.
MAX_EPOCH = 2**31 - 1
#: Seconds within which the epoch that was just replaced, heard again, means two sidecars sending
#: to this port at once rather than a restart; each sends its epoch every second. Also how long
#: the warning stays after the other one falls silent.
CONFLICT_WINDOW = 5.0


def new_state(prefix=DEFAULT_PREFIX):
    return {
        "prefix": prefix,
        "sidecar": dict(SIDECAR_DEFAULTS),
        "heartbeat_at": None,
        "slots": {},
        "all": dict(SUMMARY_DEFAULTS),
        "latest_slot": None,
        "announced": [],
        "pulses": [],
        "offline": True,
        "restarts": 0,
        "messages": 0,
        # who is talking: the sender of the followed epoch, when it was last heard, the epoch it
        # replaced, and another sidecar heard at the same time (see _epoch)
        "source": None,
        "epoch_at": None,
        "replaced": None,
        "rival": None,
        "slot_sources": {},
    }


def reset(state):
    """Forget everything but the prefix and which ends were already announced."""
    announced = state.get("announced", [])
    prefix = state.get("prefix", DEFAULT_PREFIX)
    state.clear()
    state.update(new_state(prefix))
    state["announced"] = announced


# -- receiving ------------------------------------------------------------------------------------


def apply(state, address, args, now, source=None):
    """Take one OSC message in; returns the callbacks to fire as ``[(name, info), ...]``.

    ``source`` names the sender (``"address:port"``), or None when unknown: while two sidecars
    send to this port, it is how the other one's messages are told apart and left out."""
    prefix = state["prefix"]
    if not address.startswith(prefix + "/"):
        return []
    parts = address[len(prefix) + 1 :].split("/")
    state["messages"] += 1
    group = parts[0]
    if group == "sidecar" and parts[1:] == ["epoch"] and args:
        return _epoch(state, _natural(args[0], MAX_EPOCH + 1), source, now)
    if _from_rival(state, source, now):
        return []
    if group == "sidecar" and len(parts) == 2 and args:
        _sidecar(state, parts[1], args[0], now)
    elif group == "batch" and len(parts) == 3 and args:
        _batch_field(state, _natural(parts[1], MAX_SLOTS), parts[2], args[0], source)
    elif group == "all" and len(parts) == 2 and args and parts[1] in SUMMARY_DEFAULTS:
        state["all"][parts[1]] = _as(args[0], SUMMARY_DEFAULTS[parts[1]])
    elif group == "event" and len(parts) == 1 and len(args) >= 3:
        return _event(state, str(args[0]), str(args[1]), _natural(args[2], MAX_SLOTS), source)
    return []


def _sidecar(state, field, value, now):
    if field not in SIDECAR_DEFAULTS or field == "epoch":
        return
    state["sidecar"][field] = _as(value, SIDECAR_DEFAULTS[field])
    if field == "heartbeat":
        state["heartbeat_at"] = now
        state["sidecar"]["running"] = 1


# -- which sidecar ------------------------------------------------------------------------------------


def _epoch(state, epoch, source, now):
    """A new epoch is a restart, unless it is the one just replaced coming back while the new one
    still talks: then two sidecars send here. The newer one is followed, the other is named on
    the display and its messages are left out, for as long as both talk: one reset, not one a
    second."""
    if not epoch:
        return []
    followed = state["sidecar"]["epoch"]
    if not followed or epoch == followed:
        state["sidecar"]["epoch"] = epoch
        state["epoch_at"], state["source"] = now, source
        return []
    if _followed_alive(state, now) and (_in_conflict(state, now) or _just_replaced(state, epoch, now)):
        if not _in_conflict(state, now):
            _forget_slots_from(state, source)
        state["rival"] = {"epoch": epoch, "source": source, "at": now}
        return []
    restarts = state["restarts"] + 1
    replaced = {"epoch": followed, "at": now}
    reset(state)
    state["sidecar"]["epoch"] = epoch
    state.update(restarts=restarts, replaced=replaced, epoch_at=now, source=source)
    return [("onSidecarRestart", {"epoch": epoch, "restarts": restarts})]


def _followed_alive(state, now):
    at = state["epoch_at"]
    return at is not None and now - at <= CONFLICT_WINDOW and bool(state["sidecar"]["running"])


def _just_replaced(state, epoch, now):
    replaced = state["replaced"]
    return replaced is not None and replaced["epoch"] == epoch and now - replaced["at"] <= CONFLICT_WINDOW


def _in_conflict(state, now):
    rival = state["rival"]
    return rival is not None and now - rival["at"] <= CONFLICT_WINDOW


def _from_rival(state, source, now):
    """While another sidecar talks, a message that is not from the one followed (when senders
    can be told apart by their address: with the same ``peer`` for both, nothing is left out)."""
    if source is None or source == state["source"] or not _in_conflict(state, now):
        return False
    return state["rival"]["source"] != state["source"]


def _forget_slots_from(state, source):
    """What the other sidecar wrote before it was recognised as such."""
    if source is None or source == state["source"]:
        return
    for slot, writer in list(state["slot_sources"].items()):
        if writer == source:
            _forget_slot(state, slot)


def _forget_slot(state, slot):
    state["slots"].pop(slot, None)
    state["slot_sources"].pop(slot, None)
    if slot in state["pulses"]:
        state["pulses"].remove(slot)
    if state["latest_slot"] == slot:
        state["latest_slot"] = max(state["slots"], default=None)


# -- batches --------------------------------------------------------------------------------------------


def _batch_field(state, slot, field, value, source):
    if slot is None or field not in SLOT_DEFAULTS:
        return
    batch = state["slots"].get(slot)
    if batch is None or (field == "id" and batch["id"] and batch["id"] != value):
        batch = state["slots"][slot] = dict(SLOT_DEFAULTS)  # a new batch in this slot
        if state["latest_slot"] is None:
            state["latest_slot"] = slot
    state["slot_sources"][slot] = source
    batch[field] = _as(value, SLOT_DEFAULTS[field])


def _event(state, kind, batch_id, slot, source):
    if kind == "watch" and slot is not None:
        batch = state["slots"].setdefault(slot, dict(SLOT_DEFAULTS))
        if batch["id"] and batch["id"] != batch_id:
            batch.update(SLOT_DEFAULTS)
        batch["id"] = batch_id
        state["slot_sources"][slot] = source
        state["latest_slot"] = slot
    elif kind == "unwatch" and slot is not None:
        _forget_slot(state, slot)
    elif kind == "shutdown":
        state["sidecar"]["running"] = 0
    elif kind in END_CALLBACKS:
        key = [batch_id, kind]
        if key in state["announced"]:
            return []  # said before this sidecar restarted: not news
        state["announced"].append(key)
        del state["announced"][:-ANNOUNCED_LIMIT]
        if kind == "complete" and slot is not None and slot not in state["pulses"]:
            state["pulses"].append(slot)  # at most MAX_SLOTS: one per slot
        found = state["slots"].get(slot, SLOT_DEFAULTS)
        info = dict(found, slot=-1 if slot is None else slot, id=batch_id, event=kind)
        return [(END_CALLBACKS[kind], info)]
    return []


def check_online(state, now, timeout):
    """Whether heartbeats are coming; returns the callbacks of a change (offline / back online)."""
    offline = is_stale(state, now, timeout)
    if offline == state["offline"]:
        return []
    state["offline"] = offline
    info = {"heartbeat_age": heartbeat_age(state, now), "running": state["sidecar"]["running"]}
    return [("onSidecarOffline" if offline else "onSidecarOnline", info)]


# -- reading ----------------------------------------------------------------------------------------


def heartbeat_age(state, now):
    at = state["heartbeat_at"]
    return UNKNOWN if at is None else max(0.0, now - at)


def is_stale(state, now, timeout):
    """No heartbeat within ``timeout`` seconds (or none yet, or a clean shutdown)."""
    at = state["heartbeat_at"]
    return at is None or now - at > timeout or not state["sidecar"]["running"]


def selected_slot(state, choice):
    """The slot to show: a number, or ``latest`` (the batch watched most recently)."""
    text = str(choice).strip().lower()
    if text in ("", "latest"):
        return state["latest_slot"]
    return _natural(text, MAX_SLOTS)


def batch(state, slot):
    """The batch in ``slot`` as a dict (a copy), or None."""
    found = state["slots"].get(slot)
    return dict(found, slot=slot) if found is not None else None


def selected_channels(state, slot, now, timeout, consume_pulse=True):
    """The first output: fixed names for one batch, whatever the sidecar is doing."""
    found = state["slots"].get(slot) if slot is not None else None
    values = found if found is not None else SLOT_DEFAULTS
    pulse = 0
    if found is not None and slot in state["pulses"]:
        pulse = 1
        if consume_pulse:
            state["pulses"].remove(slot)
    return {
        "progress": float(values["progress"]),
        "percent": float(values["percent"]),
        "completed": float(values["completed"]),
        "total": float(values["total"]),
        "failed": float(values["failed"]),
        "rate": float(values["rate"]),
        "eta": float(values["eta"]),
        "eta_low": float(values["eta_low"]),
        "eta_high": float(values["eta_high"]),
        "phase": float(values["phase"]),
        "is_complete": float(values["is_complete"]),
        "is_failed": float(values["is_failed"]),
        "active": float(found is not None and not values["is_terminal"]),
        "stale": float(is_stale(state, now, timeout)),
        "heartbeat_age": float(heartbeat_age(state, now)),
        "completed_pulse": float(pulse),
        "stalled": float(values["stalled"]),
        "at_risk": float(values["at_risk"]),
        "deadline": float(values["deadline"]),
        "eta_from_history": float(values["eta_from_history"]),
    }


def slot_channels(state):
    """The second output: every slot (``b0_progress``...) and the sum (``all_*``)."""
    channels = {}
    for slot in sorted(state["slots"]):
        values = state["slots"][slot]
        for name in SLOT_CHANNELS:
            channels[f"b{slot}_{name}"] = float(values[name])
    summary = state["all"]
    channels["all_progress"] = float(summary["progress"])
    channels["all_eta"] = float(summary["eta"])
    channels["all_active"] = float(summary["active"])
    return channels


def table_rows(state):
    """The strings: one row per slot under ``TABLE_HEADER``."""
    rows = [list(TABLE_HEADER)]
    for slot in sorted(state["slots"]):
        values = state["slots"][slot]
        rows.append([str(slot), *(values[name] for name in TABLE_HEADER[1:])])
    return rows


def sidecar_rows(state, now, port=None):
    """The sidecar's strings: a ``name, value`` row each under ``SIDECAR_TABLE_HEADER``."""
    sidecar = state["sidecar"]
    return [
        list(SIDECAR_TABLE_HEADER),
        ["epoch", str(sidecar["epoch"])],
        ["version", sidecar["version"]],
        ["message", sidecar["message"]],
        ["warning", warning(state, now, port)],
    ]


def warning(state, now, port=None):
    """Two sidecars sending to this port, in words; '' when not."""
    if not _in_conflict(state, now):
        return ""
    where = f"port {port}" if port is not None else "this port"
    followed, other = state["sidecar"]["epoch"], state["rival"]["epoch"]
    return f"two sidecars send to {where}: stop one (showing epoch {followed}, ignoring {other})"


def display(state, slot, now, timeout, port=None):
    """What the panel shows: ``{"text", "detail", "progress", "color"}``; a warning, when there
    is one, takes the place of the detail."""
    shown = _display(state, slot, now, timeout, port)
    conflict = warning(state, now, port)
    if conflict:
        shown["detail"] = conflict
    return shown


def _display(state, slot, now, timeout, port):
    where = f" on port {port}" if port is not None else ""
    sidecar = state["sidecar"]
    if state["heartbeat_at"] is None:
        return _shown("waiting for the sidecar" + where, "", 0.0, "idle")
    if not sidecar["running"]:
        return _shown("sidecar stopped", "it said goodbye: start it again", 0.0, "offline")
    if is_stale(state, now, timeout):
        age = format_duration(heartbeat_age(state, now))
        return _shown("sidecar offline", f"no heartbeat for {age}", _progress(state, slot), "offline")
    found = state["slots"].get(slot) if slot is not None else None
    if found is None:
        return _shown(
            "no batch", sidecar["message"] if not sidecar["api_ok"] else "watching nothing yet", 0.0, "idle"
        )
    name = found["label"] or _short(found["id"])
    text = f"{name}  {found['percent']:.1f}%  ETA {format_duration(found['eta'])}"
    detail = found["status"] + (f": {found['error']}" if found["error"] else "")
    for flag, words in (("stalled", "stalled"), ("at_risk", "at risk of missing its window")):
        if found[flag]:
            detail += f", {words}"
    if not sidecar["api_ok"] and sidecar["message"]:
        detail += f" ({sidecar['message']})"
    flagged = "complete" if found["is_complete"] else "failed" if found["is_failed"] else "running"
    return _shown(text, detail, float(found["progress"]), STATUS_COLORS.get(found["status"], flagged))


def _shown(text, detail, progress, color):
    return {"text": text, "detail": detail, "progress": max(0.0, min(1.0, progress)), "color": color}


def _progress(state, slot):
    found = state["slots"].get(slot) if slot is not None else None
    return float(found["progress"]) if found else 0.0


def _short(batch_id, keep=16):
    return batch_id if len(batch_id) <= keep + 1 else batch_id[:keep] + "…"


def format_duration(seconds):
    """``45s``, ``12m 30s``, ``3h 05m``; ``--`` when unknown. Same as the sidecar's terminal."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        return "--"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


# -- values -----------------------------------------------------------------------------------------


def _natural(value, limit):
    """``value`` as a whole number below ``limit``, as the sidecar sends one (an int, or its
    digits as text), else None: no sign, space, decimal point, exponent or leading zero, so that
    no other spelling can stand for a real slot."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > len(str(limit)):
            return None
        if value.startswith("0") and value != "0":
            return None
        value = int(value)
    elif isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < limit else None


def _int(value, default=0):
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default


def _as(value, like):
    """``value`` as the type of ``like`` (what the namespace says the address carries)."""
    if isinstance(like, str):
        return str(value)
    if isinstance(like, int):
        return _int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return like
    return number if math.isfinite(number) else like
