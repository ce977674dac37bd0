"""Text from outside, made safe: the one rule for batch ids, and the one for labels and shown text.

Batch ids come from the command line, the control port, the state file and the API's list
pages, and each of them ends up in a URL path and in OSC. The command line and the control port
also take ``provider:ID``, which says whose batch it is. An id is 1 to 128 ASCII letters,
digits, ``_`` or ``-`` (every id Voyage and OpenAI hand out is), so it cannot carry a control
character, a space, a ``/``, ``?``, ``#`` or ``%`` that would change what the URL asks for.

Labels and every other string shown in a terminal or sent as OSC (statuses and error texts of
the API, messages) keep any script and emoji but lose the characters that act on a terminal or
a text TOP instead of being shown (C0 and C1 controls, among them the escape that starts
clipboard writes, title changes and screen clears; line and paragraph separators; bidirectional
controls), and are cut to a length that keeps every datagram small.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_BATCH_ID",
    "MAX_LABEL",
    "MAX_TEXT",
    "check_batch_id",
    "check_batch_ref",
    "clean_label",
    "clean_text",
    "is_batch_id",
    "is_batch_ref",
    "is_clean_label",
    "one_line",
]

MAX_BATCH_ID = 128
#: Labels: a slot's name on a show's screen, not a paragraph.
MAX_LABEL = 200
#: Any other text sent or shown (a status, an error, a message): a line, not a page.
MAX_TEXT = 300

_BATCH_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_BATCH_ID}}}")
#: A batch id, or one that says its provider outright: ``openai:batch_abc``.
_BATCH_REF = re.compile(rf"(?:[a-z][a-z0-9_]{{0,31}}:)?[A-Za-z0-9_-]{{1,{MAX_BATCH_ID}}}")
#: C0 and C1 controls, and the characters that break a line or turn text around in a terminal or
#: a TouchDesigner text TOP (line and paragraph separators, bidirectional controls).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]+")
_ELLIPSIS = "…"


def is_batch_id(text: object) -> bool:
    return isinstance(text, str) and _BATCH_ID.fullmatch(text) is not None


def check_batch_id(text: str) -> str:
    """``text`` if it is a batch id; else ``ValueError`` saying why, in one line."""
    if not is_batch_id(text):
        raise ValueError(
            f"invalid batch id {_quoted(text)}: ids are 1-{MAX_BATCH_ID} letters, digits, '_' or '-'"
        )
    return text


def is_batch_ref(text: object) -> bool:
    """A batch id, or ``provider:ID`` (the provider's name: lower-case letters, digits, ``_``)."""
    return isinstance(text, str) and _BATCH_REF.fullmatch(text) is not None


def check_batch_ref(text: str) -> str:
    """``text`` if it is a batch id or ``provider:ID``; else ``ValueError`` saying why, in one line."""
    if not is_batch_ref(text):
        raise ValueError(
            f"invalid batch id {_quoted(text)}: ids are 1-{MAX_BATCH_ID} letters, digits, '_' or '-', "
            "after PROVIDER: if any"
        )
    return text


def is_clean_label(text: str) -> bool:
    """A label as the control port accepts it: short, and nothing in it acts on a screen."""
    return len(text) <= MAX_LABEL and not _CONTROL_CHARACTERS.search(text)


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` with each run of control characters turned into one space, cut to ``limit``
    characters (the last one an ellipsis when it was cut)."""
    if len(text) <= limit and not _CONTROL_CHARACTERS.search(text):
        return text
    cleaned = _CONTROL_CHARACTERS.sub(" ", text[: limit * 4]).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + _ELLIPSIS


def clean_label(text: str) -> str:
    """A label from anywhere (the API's metadata, the command line, a state file) made into one
    the control port would have accepted."""
    return clean_text(text, MAX_LABEL)


def one_line(exc: BaseException) -> str:
    """An exception as its type and the first line of its message: ``ValueError: bad``."""
    lines = str(exc).strip().splitlines()
    return clean_text(f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__)


def _quoted(text: str, keep: int = 40) -> str:
    """``repr`` of a short start of ``text``: an error message stays one readable line."""
    return repr(text[:keep]) + (_ELLIPSIS if len(text) > keep else "")
