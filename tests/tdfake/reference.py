"""What counts as documented TouchDesigner: the reference data in ``tests/tdfake/td_reference``.

Sources, all read from the JSON files (nothing here invents a name):

- ``operators.json``: the operator types and their operator-specific parameters;
- ``common_pages.json`` ``pages``: the parameter pages operators of a family share, applied through the
  one table :data:`FAMILY_PAGES`;
- ``python_api.json``: members of TouchDesigner's Python classes and their method parameters;
- ``common_pages.json`` ``python``: Script CHOP members, Channel members, the OSC In DAT methods and the
  callback signatures of the execute-type DATs;
- the reference README's list of documented names missing from the JSON (:data:`README_DOCUMENTED`);
- :data:`DOCUMENTED_ELSEWHERE`: the few names taken from Derivative's pages (each with its page).

Everything the fake assumes about TouchDesigner beyond those is in :data:`ASSUMED_DEFAULTS` and the
module docstring of :mod:`tests.tdfake`.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UnknownTDName

#: "current" (2023 builds), "legacy" (before the Extensions sequence), "2025" (the renames and the empty
#: Extensions sequence that builds after 2025.30000 may have: see common_pages.json's notes, unverified).
BUILDS = ("current", "legacy", "2025")
FAMILIES = ("COMP", "CHOP", "DAT", "TOP", "SOP", "MAT", "POP")


def reference_dir() -> Path:
    """``td_reference`` beside this module, or the folder in the environment variable TD_REFERENCE
    (to try a refreshed copy before it replaces this one: see ``td_reference/README.md``)."""
    override = os.environ.get("TD_REFERENCE")
    return Path(override) if override else Path(__file__).resolve().parent / "td_reference"


@functools.cache
def _load(name: str) -> dict[str, Any]:
    """Read once per process (TD_REFERENCE is looked at on first use)."""
    path = reference_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"TouchDesigner reference data missing: {path} (set TD_REFERENCE)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def operators() -> dict[str, dict[str, dict[str, Any]]]:
    ops: dict[str, dict[str, dict[str, Any]]] = _load("operators.json")["operators"]
    return ops


def pages() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = _load("common_pages.json")["pages"]
    return found


def python_section() -> dict[str, Any]:
    found: dict[str, Any] = _load("common_pages.json")["python"]
    return found


def api_classes() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = _load("python_api.json")["classes"]
    return found


def unknown(kind: str, name: str, known: Iterable[str], where: str) -> UnknownTDName:
    """The error for ``name`` missing from ``known``: close matches first, then the known names."""
    known_sorted = sorted(set(known))
    close = difflib.get_close_matches(name, known_sorted, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    listing = ", ".join(known_sorted[:25]) + (", ..." if len(known_sorted) > 25 else "")
    return UnknownTDName(f"{where} has no {kind} {name!r}{hint} (known: {listing})")


# -- operator types --------------------------------------------------------------------------------------


def operator_types() -> list[str]:
    return sorted(operators())


def family_of(optype: str) -> str:
    for family in FAMILIES:
        if optype.endswith(family):
            return family
    raise UnknownTDName(f"{optype!r} has no operator family suffix ({', '.join(FAMILIES)})")


def check_operator_type(optype: str) -> None:
    if optype not in operators():
        raise unknown("operator type", optype, operators(), "TouchDesigner")


def _api_bases(name: str) -> list[str]:
    """``name`` and its python_api.json base classes, nearest first (bases outside the file ignored)."""
    classes = api_classes()
    found: list[str] = []
    todo = [name]
    while todo:
        current = todo.pop(0)
        if current in classes and current not in found:
            found.append(current)
            todo.extend(classes[current].get("bases", []))
    return found


#: Panel COMPs named by the "Panel COMP ..." pages' notes ("Identical on every panel COMP doc page (Button,
#: Container, Field, GLSL, List, OP Viewer, Parameter, Select, Slider, Table, Text, Widget)").
_PANEL_COMPS_FROM_NOTES = (
    "buttonCOMP",
    "containerCOMP",
    "fieldCOMP",
    "glslCOMP",
    "listCOMP",
    "opviewerCOMP",
    "parameterCOMP",
    "selectCOMP",
    "sliderCOMP",
    "tableCOMP",
    "textCOMP",
    "widgetCOMP",
)


@functools.cache
def panel_comps() -> frozenset[str]:
    """COMP types whose python_api class derives from PanelCOMP, plus the panel pages' list."""
    from_api = {t for t in operators() if t.endswith("COMP") and "PanelCOMP" in _api_bases(t)[1:]}
    return frozenset(from_api | set(_PANEL_COMPS_FROM_NOTES))


#: DATs holding code edited as text: Text DAT and the execute-type DATs (the page title names "Text DAT,
#: Execute-type DATs"; its notes: "Execute/CHOP Execute/Parameter Execute DATs have the same File page").
TEXT_LIKE_DATS = frozenset(
    {
        "textDAT",
        "executeDAT",
        "parameterexecuteDAT",
        "chopexecuteDAT",
        "datexecuteDAT",
        "opexecuteDAT",
        "panelexecuteDAT",
        "pargroupexecuteDAT",
    }
)


# -- the shared pages: ONE table -------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRef:
    title: str
    url: str


def _page(title: str) -> PageRef:
    found = pages().get(title)
    if found is None:
        raise KeyError(f"common_pages.json has no page {title!r}")
    return PageRef(title, str(found["url"]))


def _selects(selector: str, optype: str) -> bool:
    family = family_of(optype)
    if selector in FAMILIES:
        return family == selector
    if selector == "COMP except baseCOMP":
        return family == "COMP" and optype != "baseCOMP"
    if selector == "panel COMPs":
        return optype in panel_comps()
    if selector == "text-like DATs":
        return optype in TEXT_LIKE_DATS
    return optype == selector


#: Which shared pages of common_pages.json apply to which operator types: selector -> pages (title and
#: Derivative URL, from the JSON). A selector is a family, an operator type, or one of the groups
#: "COMP except baseCOMP", "panel COMPs" (:func:`panel_comps`), "text-like DATs" (:data:`TEXT_LIKE_DATS`).
FAMILY_PAGES: dict[str, tuple[PageRef, ...]] = {
    selector: tuple(_page(title) for title in titles)
    for selector, titles in (
        ("COMP", ("COMP Extensions",)),
        ("baseCOMP", ("COMP Common (Base COMP variant)",)),
        ("COMP except baseCOMP", ("COMP Common",)),
        (
            "panel COMPs",
            (
                "Panel COMP Layout",
                "Panel COMP Panel",
                "Panel COMP Look",
                "Panel COMP Children",
                "Panel COMP Drag/Drop",
            ),
        ),
        ("CHOP", ("CHOP Common",)),
        ("DAT", ("DAT Common",)),
        ("text-like DATs", ("DAT File page (Text DAT, Execute-type DATs)",)),
        ("TOP", ("TOP Common",)),
        ("scriptCHOP", ("Script CHOP: Script",)),
        ("parameterexecuteDAT", ("Parameter Execute DAT: Parameter Execute",)),
        ("executeDAT", ("Execute DAT: Execute",)),
        ("chopexecuteDAT", ("CHOP Execute DAT: CHOP Execute",)),
        ("tableDAT", ("Table DAT: Table", "Table DAT: Fill")),
        ("oscinDAT", ("OSC In DAT: Connect", "OSC In DAT: Received Messages")),
        ("websocketDAT", ("WebSocket DAT: Connect", "WebSocket DAT: Received Messages")),
        (
            "webclientDAT",
            ("Web Client DAT: Web Client", "Web Client DAT: Authentication", "Web Client DAT: Output"),
        ),
        ("textTOP", ("Text TOP: Text", "Text TOP: Font", "Text TOP: Color", "Text TOP: Output")),
        ("rectangleTOP", ("Rectangle TOP: Rectangle", "Rectangle TOP: Output")),
    )
}

#: Menus whose token set the page notes call unsettled: accept any token (DAT Common notes: "Which token
#: set a given build accepts is not settled by the docs").
UNSETTLED_MENUS = frozenset({("DAT Common", "extension")})


def pages_for(optype: str) -> list[PageRef]:
    check_operator_type(optype)
    return [ref for selector, refs in FAMILY_PAGES.items() if _selects(selector, optype) for ref in refs]


def page_params(title: str, build: str) -> list[dict[str, Any]]:
    """A shared page's parameters; the Extensions page differs between builds (see its notes)."""
    page = pages()[title]
    params: list[dict[str, Any]] = list(page.get("params", []))
    if title == "COMP Extensions" and build == "legacy":
        kept = [p for p in params if p["name"] == "reinitextensions"]
        return kept + list(page["legacy_params_unverified"])
    return params


# -- parameters ------------------------------------------------------------------------------------------

_VECTOR_STYLES = frozenset({"RGB", "RGBA", "XY", "XYZ", "XYZW", "WH", "UV", "UVW"})


@dataclass(frozen=True)
class ParamSpec:
    """A built-in parameter: its style (None when the sources do not say), its menu tokens (None when
    no menu is known) and whether the token list is complete."""

    name: str
    style: str | None
    menu: tuple[str, ...] | None = None
    menu_complete: bool = False
    menu_labels: tuple[str, ...] | None = None
    label: str | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)

    @property
    def checks_tokens(self) -> bool:
        """Only a "Menu" (not StrMenu, not the lowercase styles) with a complete, non-empty list."""
        return self.style == "Menu" and self.menu_complete and bool(self.menu)


def _from_operators(name: str, entry: dict[str, Any]) -> ParamSpec:
    menu = entry.get("menu")
    return ParamSpec(
        name=name,
        style=entry.get("style"),
        menu=tuple(menu) if menu is not None else None,
        menu_complete=bool(entry.get("menu_complete", False)),
        sources=("operators.json",),
    )


def _from_page(title: str, entry: dict[str, Any]) -> list[ParamSpec]:
    style = entry.get("style")
    components = entry.get("components")
    if components:  # bgcolor -> bgcolorr/g/b: the components are the parameters
        component_style = "Float" if style in _VECTOR_STYLES else None
        return [
            ParamSpec(name=c, style=component_style, label=entry.get("label"), sources=(title,))
            for c in components
        ]
    menu = entry.get("menu")
    labels = entry.get("menu_labels")
    return [
        ParamSpec(
            name=entry["name"],
            style=style,
            menu=tuple(menu) if menu is not None else None,
            menu_complete=menu is not None and (title, entry["name"]) not in UNSETTLED_MENUS,
            menu_labels=tuple(labels) if labels is not None else None,
            label=entry.get("label"),
            sources=(title,),
        )
    ]


def _merge(old: ParamSpec, new: ParamSpec) -> ParamSpec:
    """One parameter documented twice: the tokens of both complete lists are valid; a list beats none."""
    if old.menu_complete and new.menu_complete:
        menu: tuple[str, ...] | None = tuple(dict.fromkeys((old.menu or ()) + (new.menu or ())))
        complete = True
    elif new.menu_complete:
        menu, complete = new.menu, True
    else:
        menu, complete = old.menu if old.menu is not None else new.menu, old.menu_complete
    style = old.style or new.style
    if complete and style in (None, "menu"):
        style = "Menu"
    return ParamSpec(
        name=old.name,
        style=style,
        menu=menu,
        menu_complete=complete,
        menu_labels=old.menu_labels or new.menu_labels,
        label=old.label or new.label,
        sources=old.sources + new.sources,
    )


@functools.cache
def params_for(optype: str, build: str = "current") -> dict[str, ParamSpec]:
    """Every built-in parameter of ``optype`` in ``build``: operators.json plus its family pages."""
    if build not in BUILDS:
        raise ValueError(f"build must be one of {BUILDS}, not {build!r}")
    check_operator_type(optype)
    specs = {name: _from_operators(name, entry) for name, entry in operators()[optype].items()}
    for ref in pages_for(optype):
        for entry in page_params(ref.title, build):
            for spec in _from_page(ref.title, entry):
                specs[spec.name] = _merge(specs[spec.name], spec) if spec.name in specs else spec
        if build == "2025":
            for renamed in pages()[ref.title].get("renamed_2025_unverified", []):
                old = specs.pop(renamed["replaces"])
                specs[renamed["name"]] = ParamSpec(
                    renamed["name"], old.style, label=renamed["label"], sources=(ref.title + " (2025)",)
                )
    return specs


# -- Python API members ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A documented member: an attribute, or a method with one or more documented parameter lists
    (``*name`` for varargs, ``**name`` for keyword varargs)."""

    name: str
    kind: str  # "attribute" | "method"
    signatures: tuple[tuple[str, ...], ...] = ()
    sources: tuple[str, ...] = ()


def _params(text: str) -> tuple[str, ...]:
    names = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        names.append(part.split("=")[0].strip())
    return tuple(names)


_SIGNATURE = re.compile(r"^\s*(?:(?P<item>\[\w+\])|(?P<name>\w+)\((?P<params>[^)]*)\))")


def _parse_signature(text: str) -> tuple[str, tuple[str, ...]]:
    """``"chan(*nameOrIndex, caseSensitive=True) -> Channel|None"`` or ``"[index] -> float"``."""
    found = _SIGNATURE.match(text)
    if found is None:
        raise ValueError(f"cannot parse documented signature {text!r}")
    if found.group("item"):
        return "__getitem__", (found.group("item")[1:-1],)
    return found.group("name"), _params(found.group("params"))


def _api_member(name: str, description: str, source: str) -> Member:
    if description.startswith("method(") and description.endswith(")"):
        return Member(name, "method", (_params(description[len("method(") : -1]),), (source,))
    return Member(name, "attribute", (), (source,))


def _add(table: dict[str, Member], member: Member) -> None:
    old = table.get(member.name)
    if old is None:
        table[member.name] = member
        return
    kind = "method" if "method" in (old.kind, member.kind) else "attribute"
    signatures = tuple(dict.fromkeys(old.signatures + member.signatures))
    table[member.name] = Member(member.name, kind, signatures, old.sources + member.sources)


#: Named by the reference README as documented by Derivative but missing from the JSON.
README_DOCUMENTED: dict[str, dict[str, str]] = {
    "scriptCHOP": {
        "clear": "method()",
        "appendChan": "method(name)",
        "numSamples": "attribute",
        "rate": "attribute",
    },
}

#: Names from Derivative's pages that the JSON lacks, each with its source.
DOCUMENTED_ELSEWHERE: dict[str, dict[str, tuple[str, str]]] = {
    "App": {
        "pythonExecutable": (
            "attribute",
            "https://docs.derivative.ca/App_Class (as in cacheflowe/td-docs-mcp td_docs/Python/App_Class.md:"
            " \"Path to TouchDesigner's Python executable ... can also be used to run external Python scripts"
            ' without installing a separate Python installation")',
        ),
    },
    "OP": {
        "seq": (
            "attribute",
            'https://docs.derivative.ca/OP_Class#seq ("An intermediate sequence collection object, from'
            ' which a specific sequence can be found", example comp.seq.ext)',
        ),
    },
    "SequenceCollection": {
        "owner": ("attribute", "https://docs.derivative.ca/SequenceCollection_Class"),
    },
    "COMP": {
        "findChildren": (
            "method(type, name, path, depth, maxDepth, text, comment, tags, allTags, parValue, parExpr,"
            " parName, onlyNonDefaults, includeUtility, key)",
            "https://docs.derivative.ca/COMP_Class"
            " (as in cacheflowe/td-docs-mcp td_docs/Python/COMP_Class.md)",
        ),
    },
    "ParMode": {
        member: (
            "attribute",
            "https://docs.derivative.ca/Par_Class#mode (ParMode.CONSTANT/EXPRESSION/EXPORT/BIND)",
        )
        for member in ("CONSTANT", "EXPRESSION", "EXPORT", "BIND")
    },
}


def _section_members(key: str) -> dict[str, Member]:
    """Members from common_pages.json ``python``: ``scriptCHOP``, ``oscinDAT``, ``Channel`` (the Script
    CHOP's Channel_class) and ``Peer`` (the OSC In DAT notes: "peer.close(), peer.owner, ...")."""
    section = python_section()
    table: dict[str, Member] = {}
    source = f"common_pages.json python.{key}"
    if key == "scriptCHOP":
        entry = section["scriptCHOP"]
        for name in list(entry["own_members"]) + list(entry["inherited_CHOP_members"]):
            _add(table, Member(name, "attribute", (), (source,)))
        for text in entry["own_methods"] + entry["inherited_CHOP_methods"]:
            name, params = _parse_signature(text)
            _add(table, Member(name, "method", (params,), (source,)))
    elif key == "oscinDAT":
        for text in section["oscinDAT"]["methods"]:
            name, params = _parse_signature(text)
            _add(table, Member(name, "method", (params,), (source,)))
    elif key == "Channel":
        entry = section["scriptCHOP"]["Channel_class"]
        for name in entry["members"]:
            _add(table, Member(name, "attribute", (), (source,)))
        for text in entry["methods_seen"]:
            name, params = _parse_signature(text)
            _add(table, Member(name, "method", (params,), (source,)))
    elif key == "Peer":
        notes = section["oscinDAT"]["notes"]
        for name, call in re.findall(r"peer\.(\w+)(\(\))?", notes):
            _add(table, Member(name, "method" if call else "attribute", ((),) if call else (), (source,)))
    return table


@functools.cache
def documented_members(api_name: str) -> dict[str, Member]:
    """Members documented for ``api_name``: a python_api.json class (with its bases), ``python:<key>``
    for a common_pages.json python section, and the README/elsewhere tables under the same name."""
    if api_name.startswith("python:"):
        key = api_name.split(":", 1)[1]
        table = _section_members(key)
        chain = [key]
    else:
        table = {}
        chain = _api_bases(api_name) or [api_name]
        for cls in chain:
            for name, description in api_classes().get(cls, {}).get("members", {}).items():
                _add(table, _api_member(name, description, f"python_api.json {cls}"))
    for cls in chain:
        for name, description in README_DOCUMENTED.get(cls, {}).items():
            _add(table, _api_member(name, description, "td_reference/README.md"))
        for name, (description, source) in DOCUMENTED_ELSEWHERE.get(cls, {}).items():
            _add(table, _api_member(name, description, source))
    return table


@functools.cache
def members_of(api_names: tuple[str, ...]) -> dict[str, Member]:
    """The union of the documented members of several API names (a fake class documents several)."""
    table: dict[str, Member] = {}
    for api_name in api_names:
        for member in documented_members(api_name).values():
            _add(table, member)
    return table


@functools.cache
def callback_args(owner: str, callback: str) -> tuple[tuple[str, ...], ...]:
    """The documented argument lists of a callback, e.g. ``("oscinDAT", "onReceiveOSC")``. Several when
    the sources differ (the README's ``onValueChange(par, prev)`` against the class page's
    ``onValueChange(par, val, prev)``)."""
    section = python_section()
    found: list[tuple[str, ...]] = []
    texts = list(section.get(owner, {}).get("callbacks", [])) + list(
        section.get(owner, {}).get("callbacks_from_param_docs", [])
    )
    texts += _README_CALLBACKS.get(owner, [])
    for text in texts:
        name, params = _parse_signature(text)
        if name == callback and params not in found:
            found.append(params)
    if not found:
        raise UnknownTDName(f"{owner} has no documented callback {callback!r}")
    return tuple(found)


#: The reference README's callback list ("the Script CHOP's ... callbacks onSetupParameters(scriptOp),
#: onPulse(par), onCook(scriptOp); the OSC In DAT callback onReceiveOSC(...); the Parameter Execute DAT
#: callbacks onValueChange(par, prev) and onPulse(par)").
_README_CALLBACKS: dict[str, list[str]] = {
    "scriptCHOP": ["onSetupParameters(scriptOp)", "onPulse(par)", "onCook(scriptOp)"],
    "oscinDAT": ["onReceiveOSC(dat, rowIndex, message, byteData, timeStamp, address, args, peer)"],
    "parameterexecuteDAT": ["onValueChange(par, prev)", "onPulse(par)"],
}


# -- what the fake assumes ---------------------------------------------------------------------------------

#: Default values of built-in parameters that the reference does not give; TouchDesigner's defaults as
#: far as known. Other parameters default by style: Toggle/Pulse False, Int 0, Float (and vector
#: components) 0.0, a complete Menu its first token, strings, files and operator references "", and
#: None when the style is unknown.
ASSUMED_DEFAULTS: dict[str, dict[str, Any]] = {
    "executeDAT": {"active": True},
    "chopexecuteDAT": {"active": True},
    "parameterexecuteDAT": {
        "active": True,
        "valuechange": True,
        "onpulse": True,
        "custom": True,
        "builtin": True,
    },
    "oscinDAT": {"active": True, "port": 10000, "maxlines": 100},
    "oscoutDAT": {"active": True, "address": "localhost", "port": 10000},
    "COMP": {"initextonstart": True},
}


def assumed_default(optype: str, name: str) -> tuple[bool, Any]:
    for key in (optype, family_of(optype)):
        table = ASSUMED_DEFAULTS.get(key, {})
        if name in table:
            return True, table[name]
    return False, None
