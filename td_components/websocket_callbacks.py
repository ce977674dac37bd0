"""WebSocket DAT callbacks: the sidecar's JSON stream as a table, one row per batch.

An example consumer of ``ws://127.0.0.1:7452/events`` (docs/STREAM.md), apart from the
voyage_progress component (which reads OSC): for a project that wants the stream without OSC,
or on a machine the sidecar's UDP cannot reach. Standard library and TouchDesigner's API only.

Set up, in one COMP: a WebSocket DAT (Network Address ``ws://127.0.0.1/events``, Network Port
``7452``; Derivative's WebSocket DAT page), this file in a Text DAT as its Callbacks DAT, and a
Table DAT named ``stream_batches``: it is rewritten as messages arrive, columns ``COLUMNS``.
The batches are kept in the WebSocket DAT's storage (they survive a reload of this DAT).
"""

import json

TABLE = "stream_batches"
STORAGE_KEY = "voyage_stream_batches"
COLUMNS = (
    "slot",
    "id",
    "label",
    "status",
    "percent",
    "completed",
    "failed",
    "total",
    "rate",
    "eta",
    "eta_low",
    "eta_high",
    "is_terminal",
    # last, as in the component's out_strings: tables read by column number keep working
    "provider",
)
#: The stream's schema this file reads; a newer one is refused, not misread.
SCHEMA = 1


def apply_message(batches, text):
    """The batches (slot → fields) after one message of the stream; unchanged for a message that
    does not change them (health) or that cannot be read."""
    try:
        message = json.loads(text)
    except ValueError:
        return batches
    if not isinstance(message, dict) or message.get("schema") != SCHEMA:
        return batches
    kind = message.get("type")
    if kind == "state":
        return {batch["slot"]: batch for batch in message.get("batches", [])}
    if kind == "batch":
        batch = message["batch"]
        return {**batches, batch["slot"]: batch}
    if kind == "event" and message.get("kind") == "unwatch":
        return {slot: batch for slot, batch in batches.items() if slot != message.get("slot")}
    if kind == "event" and message.get("batch") is not None:
        batch = message["batch"]
        return {**batches, batch["slot"]: batch}
    return batches


def rows(batches):
    """The table's rows: the header, then one row per batch by slot; unknown values empty."""
    table = [list(COLUMNS)]
    for slot in sorted(batches):
        table.append([_cell(batches[slot].get(column)) for column in COLUMNS])
    return table


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


# -- the WebSocket DAT's callbacks ----------------------------------------------------------------


def onConnect(dat):
    return


def onDisconnect(dat):
    return


def onReceiveText(dat, rowIndex, message):
    batches = apply_message(dat.fetch(STORAGE_KEY, {}, search=False), message)
    dat.store(STORAGE_KEY, batches)
    table = dat.parent().op(TABLE)
    if table is None:
        return
    table.clear()
    for row in rows(batches):
        table.appendRow(row)


def onReceiveBinary(dat, contents):
    return


def onReceivePing(dat, contents):
    dat.sendPong(contents)


def onReceivePong(dat, contents):
    return


def onMonitorMessage(dat, message):
    return
