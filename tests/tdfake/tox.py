"""What ``COMP.save()`` writes: a JSON description of the component's network, standing in for the
binary .tox (children with their type, the parameters set, custom pages and parameters with their
values, wires, DAT contents, storage as it is saved: startup values in place of stored ones)."""

from __future__ import annotations

from typing import Any

from .ops import COMP, DAT, OP
from .params import Par

FORMAT = "tdfake-tox/1"


def _par_state(par: Par) -> dict[str, Any]:
    state: dict[str, Any] = {"mode": par.mode.name.lower()}
    if not par.isPulse:
        state["val"] = par.val
    if par.expr:
        state["expr"] = par.expr
    return state


def _custom_par(par: Par) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": par.name, "style": par.style, "label": par.label}
    entry |= _par_state(par)
    if not par.isPulse:
        entry["default"] = par.default
    if par.isNumber:
        entry |= {
            "min": par.min,
            "max": par.max,
            "normMin": par.normMin,
            "normMax": par.normMax,
            "clampMin": par.clampMin,
            "clampMax": par.clampMax,
        }
    if par.isMenu:
        entry |= {"menuNames": par.menuNames, "menuLabels": par.menuLabels}
    entry |= {
        "readOnly": par.readOnly,
        "enable": par.enable,
        "help": par.help,
        "order": par.order,
        "startSection": par.startSection,
    }
    return entry


def describe(node: OP) -> dict[str, Any]:
    """The network under ``node`` as plain data (what the fake's .tox holds)."""
    entry: dict[str, Any] = {
        "format": FORMAT,
        "type": node.OPType,
        "name": node.name,
        "path": node.path,
        "nodeX": node.nodeX,
        "nodeY": node.nodeY,
        "color": list(node.color),
        "comment": node.comment,
        "tags": sorted(node.tags),
        "flags": {
            "viewer": node.viewer,
            "display": node.display,
            "render": node.render,
            "bypass": node.bypass,
            "lock": node.lock,
            "expose": node.expose,
        },
        "dock": node.dock.name if node.dock is not None else None,
        "parameters": {name: _par_state(par) for name, par in node._pars.items() if par._assigned},
        "customPages": [
            {"name": page.name, "pars": [_custom_par(par) for par in page.pars]} for page in node.customPages
        ],
        "storage": node._fake_saved_storage(),
        "inputs": [
            {"index": index, "from": source.name, "output": out}
            for index, (source, out) in sorted(node._inputs.items())
        ],
    }
    if isinstance(node, DAT):
        if node.isTable:
            entry["rows"] = [list(row) for row in node._fake_rows()]
        else:
            entry["text"] = node.text
    if isinstance(node, COMP):
        entry["children"] = [describe(child) for child in node.children]
        entry["connections"] = [
            {"from": source.name, "output": out, "to": child.name, "input": index}
            for child in node.children
            for index, (source, out) in sorted(child._inputs.items())
        ]
    return entry
