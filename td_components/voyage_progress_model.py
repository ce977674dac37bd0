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
)
#: ``provider`` came last, after the others: tables read by column number keep working.
TABLE_HEADER = ("slot", "id", "label", "status", "error", "provider")

#: One-shot events the user's callbacks hear about, by the sidecar's event kind.
END_CALLBACKS = {
    "complete": "onBatchComplete",
    "failed": "onBatchFailed",
    "expired": "onBatchFailed",
    "cancelled": "onBatchCancelled",
}
#: How many announced batch ends are remembered to recognise repeats after a restart.
ANNOUNCED_LIMIT = 1000


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
    }


def reset(state):
    """Forget everything but the prefix and which ends were already announced."""
    announced = state.get("announced", [])
    prefix = state.get("prefix", DEFAULT_PREFIX)
    state.clear()
    state.update(new_state(prefix))
    state["announced"] = announced


# -- receiving ------------------------------------------------------------------------------------


def apply(state, address, args, now):
    """Take one OSC message in; returns the callbacks to fire as ``[(name, info), ...]``."""
    prefix = state["prefix"]
    if not address.startswith(prefix + "/"):
        return []
    parts = address[len(prefix) + 1 :].split("/")
    state["messages"] += 1
    group = parts[0]
    if group == "sidecar" and len(parts) == 2 and args:
        return _sidecar(state, parts[1], args[0], now)
    if group == "batch" and len(parts) == 3 and args:
        _batch_field(state, parts[1], parts[2], args[0])
    elif group == "all" and len(parts) == 2 and args and parts[1] in SUMMARY_DEFAULTS:
        state["all"][parts[1]] = _as(args[0], SUMMARY_DEFAULTS[parts[1]])
    elif group == "event" and len(parts) == 1 and len(args) >= 3:
        return _event(state, str(args[0]), str(args[1]), _int(args[2]))
    return []


def _sidecar(state, field, value, now):
    if field not in SIDECAR_DEFAULTS:
        return []
    fired = []
    value = _as(value, SIDECAR_DEFAULTS[field])
    previous_epoch = state["sidecar"]["epoch"]
    if field == "epoch" and previous_epoch and value != previous_epoch:  # a new sidecar life
        restarts = state["restarts"] + 1
        reset(state)
        state["restarts"] = restarts
        fired.append(("onSidecarRestart", {"epoch": value, "restarts": restarts}))
    state["sidecar"][field] = value
    if field == "heartbeat":
        state["heartbeat_at"] = now
        state["sidecar"]["running"] = 1
    return fired


def _batch_field(state, slot_text, field, value):
    slot = _int(slot_text, None)
    if slot is None or slot < 0 or field not in SLOT_DEFAULTS:
        return
    batch = state["slots"].get(slot)
    if batch is None or (field == "id" and batch["id"] and batch["id"] != value):
        batch = state["slots"][slot] = dict(SLOT_DEFAULTS)  # a new batch in this slot
        if state["latest_slot"] is None:
            state["latest_slot"] = slot
    batch[field] = _as(value, SLOT_DEFAULTS[field])


def _event(state, kind, batch_id, slot):
    if kind == "watch" and slot >= 0:
        batch = state["slots"].setdefault(slot, dict(SLOT_DEFAULTS))
        if batch["id"] and batch["id"] != batch_id:
            batch.update(SLOT_DEFAULTS)
        batch["id"] = batch_id
        state["latest_slot"] = slot
    elif kind == "unwatch":
        state["slots"].pop(slot, None)
        if state["latest_slot"] == slot:
            state["latest_slot"] = max(state["slots"], default=None)
    elif kind == "shutdown":
        state["sidecar"]["running"] = 0
    elif kind in END_CALLBACKS:
        key = [batch_id, kind]
        if key in state["announced"]:
            return []  # said before this sidecar restarted: not news
        state["announced"].append(key)
        del state["announced"][:-ANNOUNCED_LIMIT]
        if kind == "complete" and slot not in state["pulses"]:
            state["pulses"].append(slot)
        info = dict(state["slots"].get(slot, SLOT_DEFAULTS), slot=slot, id=batch_id, event=kind)
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
    return _int(text, None)


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


def display(state, slot, now, timeout, port=None):
    """What the panel shows: ``{"text", "detail", "progress", "color"}``."""
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
