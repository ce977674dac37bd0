"""The namespace is the single source of truth: the documentation is generated from it, and it
only uses types every receiver can read."""

from __future__ import annotations

import json
import re
from pathlib import Path

from voyage_progress._models import PHASES
from voyage_progress.osc import CONTROL, NAMESPACE, PHASE_NAMES
from voyage_progress.osc._namespace import render_json, render_markdown

DOCS = Path(__file__).parent.parent / "docs" / "OSC.md"
ALL_ADDRESSES = [address for addresses in NAMESPACE.values() for address in addresses]


def test_docs_osc_md_is_the_generated_markdown() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/OSC.md is out of date: regenerate it with render_markdown()"
    )


def test_markdown_lists_every_address() -> None:
    markdown = render_markdown(prefix="/td")
    for address in ALL_ADDRESSES:
        assert f"`/td{address.path}`" in markdown


def test_json_is_valid_and_lists_every_address() -> None:
    document = json.loads(render_json())
    listed = [entry["address"] for entries in document["groups"].values() for entry in entries]
    assert listed == [f"/voyage{address.path}" for address in ALL_ADDRESSES]
    assert document["phases"] == list(PHASE_NAMES)
    assert set(document["groups"]) == set(NAMESPACE)


def test_addresses_are_unique_and_well_formed() -> None:
    paths = [address.path for address in ALL_ADDRESSES]
    assert len(paths) == len(set(paths))
    for path in paths:
        assert re.fullmatch(r"(/[a-z_]+|/\{slot\})+", path), path


def test_types_are_int_float_or_string_only() -> None:
    control = set(vars(CONTROL).values())
    for address in ALL_ADDRESSES:
        if address in control:  # alternatives ("s|ss") and "" for no arguments
            assert re.fullmatch(r"[ifs]*(\|[ifs]*)*", address.types), address
        else:
            assert re.fullmatch(r"[ifs]+", address.types), address


def test_phase_names_follow_the_models() -> None:
    assert list(PHASE_NAMES) == [status.value for status in PHASES]
