"""Operators: OP and its families, the classes with behaviour (Script CHOP, Text/Table/Execute/Parameter
Execute/OSC In/OSC Out DATs, Base/Container COMPs), and one class per operator type of operators.json."""

from __future__ import annotations

import fnmatch
import json
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from . import osc, reference
from .base import TDObject
from .errors import NotModeled, TDError, UnknownTDName
from .params import Page, Par, ParCollection, ParMode, default_for

if TYPE_CHECKING:
    from .session import TouchDesigner

OP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING = object()


def _flag(attr: str, convert: type = bool) -> property:
    def getter(self: OP) -> Any:
        return getattr(self, attr)

    def setter(self: OP, value: Any) -> None:
        object.__setattr__(self, attr, convert(value))

    return property(getter, setter)


class Connector(TDObject):
    """An input (left) or output (right) connector of an operator."""

    _td_api: ClassVar[tuple[str, ...]] = ("Connector",)

    def __init__(self, owner: OP, index: int, is_input: bool) -> None:
        self._owner = owner
        self._index = index
        self._is_input = is_input

    def _fake_where(self) -> str:
        return f"{'input' if self._is_input else 'output'} connector {self._index} of {self._owner.path}"

    @property
    def owner(self) -> OP:
        return self._owner

    @property
    def index(self) -> int:
        return self._index

    @property
    def isInput(self) -> bool:
        return self._is_input

    @property
    def isOutput(self) -> bool:
        return not self._is_input

    @property
    def inOP(self) -> OP | None:
        return self._owner._fake_io_op(self._index, "in") if self._is_input else None

    @property
    def outOP(self) -> OP | None:
        return self._owner._fake_io_op(self._index, "out") if not self._is_input else None

    @property
    def connections(self) -> list[Connector]:
        if self._is_input:
            source = self._owner._inputs.get(self._index)
            return [Connector(source[0], source[1], False)] if source else []
        return [
            Connector(target, index, True)
            for target in self._owner._fake_siblings()
            for index, (source, out) in sorted(target._inputs.items())
            if source is self._owner and out == self._index
        ]

    def connect(self, target: OP | Connector) -> None:
        """Wire this connector to ``target``: an input is replaced, an output appended to the target's
        next free input."""
        if self._is_input:
            if isinstance(target, Connector):
                if target.isInput:
                    raise TDError(f"{self._fake_where()}: cannot connect an input to an input")
                source, out = target.owner, target.index
            else:
                source, out = target, 0
            self._owner._fake_connect_input(self._index, source, out)
            return
        if isinstance(target, Connector):
            if target.isOutput:
                raise TDError(f"{self._fake_where()}: cannot connect an output to an output")
            target.owner._fake_connect_input(target.index, self._owner, self._index)
        else:
            free = next(i for i in range(len(target._inputs) + 1) if i not in target._inputs)
            target._fake_connect_input(free, self._owner, self._index)

    def disconnect(self) -> None:
        if self._is_input:
            self._owner._inputs.pop(self._index, None)
            return
        for target in self._owner._fake_siblings():
            for index, (source, out) in list(target._inputs.items()):
                if source is self._owner and out == self._index:
                    del target._inputs[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Connector) and (other._owner, other._index, other._is_input) == (
            self._owner,
            self._index,
            self._is_input,
        )

    def __hash__(self) -> int:
        return hash((id(self._owner), self._index, self._is_input))

    def __repr__(self) -> str:
        return f"<Connector {self._fake_where()}>"


class ParentShortcut(TDObject):
    """``op.parent`` and the global ``parent``: ``parent()`` the parent COMP, ``parent(2)`` its parent,
    ``parent.Name`` the nearest ancestor whose Parent Shortcut parameter is ``Name``."""

    _td_api: ClassVar[tuple[str, ...]] = ("_Parent",)

    def __init__(self, owner: OP) -> None:
        self._owner = owner

    def __call__(self, relativeLevel: int = 1) -> COMP | None:
        node: OP | None = self._owner
        for _ in range(int(relativeLevel)):
            node = node._parent if node is not None else None
        return node  # type: ignore[return-value]

    def __getattr__(self, name: str) -> COMP:
        if name.startswith("_"):
            raise AttributeError(name)
        node = self._owner._parent
        while node is not None:
            if "parentshortcut" in node._specs and str(node.par.parentshortcut.eval()) == name:
                return node
            node = node._parent
        raise UnknownTDName(f"no parent of {self._owner.path} has the Parent Shortcut {name!r}")


class ExtensionSearch(TDObject):
    """``op.ext``: ``op.ext.Name`` is the extension named Name of this COMP or its nearest ancestor."""

    _td_api: ClassVar[tuple[str, ...]] = ("_Expando",)

    def __init__(self, owner: OP) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        node: OP | None = self._owner
        while node is not None:
            if isinstance(node, COMP):
                for ext_name, extension, _promote in node._extensions:
                    if ext_name == name:
                        return extension
            node = node._parent
        raise UnknownTDName(f"no extension named {name!r} on {self._owner.path} or its parents")


class OP(TDObject):
    """Every operator. Parameters are the reference's: ``op.par.<name>`` fails with UnknownTDName
    unless the name is in operators.json or the operator's family pages (or is a custom parameter)."""

    _td_api: ClassVar[tuple[str, ...]] = ("OP",)

    def __init__(self, session: TouchDesigner, parent: COMP | None, name: str, optype: str) -> None:
        self._fake_session = session
        self._parent = parent
        self._name = name
        self._optype = optype
        self._family = reference.family_of(optype)
        self._specs = reference.params_for(optype, session.build)
        self._pars: dict[str, Par] = {}
        self._custom_pages: list[Page] = []
        self._storage: dict[str, Any] = {}
        self._startup: dict[str, Any] = {}
        self._inputs: dict[int, tuple[OP, int]] = {}
        self._valid = True
        self._id = session._fake_next_id()
        self._node_x = 0
        self._node_y = 0
        self._color = (0.55, 0.55, 0.55)
        self._comment = ""
        self._tags: set[str] = set()
        self._dock: OP | None = None
        self._viewers_opened = 0
        self._bypass = self._lock = self._display = self._render = self._viewer = self._selected = False
        self._expose = self._allow_cooking = True

    def __getattribute__(self, name: str) -> Any:
        if name[0] != "_" and name != "valid" and not object.__getattribute__(self, "_valid"):
            raise TDError(
                f"operator {object.__getattribute__(self, '_name')!r} was destroyed (accessing .{name})"
            )
        return object.__getattribute__(self, name)

    def _fake_where(self) -> str:
        return f"{self._optype} {self.path}"

    def __repr__(self) -> str:
        return f"{self._optype}:{self.path}" if self._valid else f"<destroyed {self._optype} {self._name}>"

    def __str__(self) -> str:
        return self.path

    # -- identity --------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        new = str(value)
        if not OP_NAME.match(new):
            raise TDError(f"invalid operator name {new!r}: letters, digits and underscores only")
        if self._parent is None:
            raise TDError("the root cannot be renamed")
        if new != self._name and self._parent._fake_child(new) is not None:
            raise TDError(f"{self._parent.path} already has a child named {new!r}")
        self._name = new

    @property
    def path(self) -> str:
        if self._parent is None:
            return "/"
        parent = self._parent.path
        return f"{parent.rstrip('/')}/{self._name}"

    @property
    def id(self) -> int:
        return self._id

    @property
    def valid(self) -> bool:
        return object.__getattribute__(self, "_valid")

    @property
    def OPType(self) -> str:
        return self._optype

    @property
    def type(self) -> str:
        return self._optype[: -len(self._family)]

    @property
    def family(self) -> str:
        return self._family

    @property
    def base(self) -> str:
        return self._name.rstrip("0123456789")

    @property
    def isCOMP(self) -> bool:
        return self._family == "COMP"

    @property
    def isCHOP(self) -> bool:
        return self._family == "CHOP"

    @property
    def isDAT(self) -> bool:
        return self._family == "DAT"

    @property
    def isTOP(self) -> bool:
        return self._family == "TOP"

    @property
    def isSOP(self) -> bool:
        return self._family == "SOP"

    @property
    def isMAT(self) -> bool:
        return self._family == "MAT"

    @property
    def isPanel(self) -> bool:
        return self._optype in reference.panel_comps()

    # -- network ---------------------------------------------------------------------------------------

    @property
    def parent(self) -> ParentShortcut:
        return ParentShortcut(self)

    @property
    def ext(self) -> ExtensionSearch:
        return ExtensionSearch(self)

    @property
    def mod(self) -> Any:
        from .session import MOD

        return MOD(self)

    @property
    def seq(self) -> SequenceCollection:
        return SequenceCollection(self)

    @property
    def children(self) -> list[OP]:
        return []

    @property
    def numChildren(self) -> int:
        return len(self.children)

    def _fake_base(self) -> COMP:
        """Where relative paths start: inside a COMP, the containing network for other operators."""
        if isinstance(self, COMP):
            return self
        assert self._parent is not None
        return self._parent

    def op(self, path: Any) -> OP | None:
        """The operator at ``path`` (absolute, or relative to this one; ``..`` climbs; patterns match
        the first), or None."""
        if isinstance(path, OP):
            return path if path.valid else None
        if isinstance(path, int) and not isinstance(path, bool):
            return self._fake_session._fake_by_id(path)
        found = self._fake_resolve(str(path))
        return found[0] if found else None

    def ops(self, *args: Any) -> list[OP]:
        found: list[OP] = []
        for pattern in args:
            for target in self._fake_resolve(str(pattern)) if not isinstance(pattern, OP) else [pattern]:
                if target not in found:
                    found.append(target)
        return found

    def _fake_resolve(self, path: str) -> list[OP]:
        if not path:
            return []
        nodes: list[OP] = [self._fake_session.root] if path.startswith("/") else [self._fake_base()]
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                nodes = [n._parent for n in nodes if n._parent is not None]
                continue
            matched: list[OP] = []
            for node in nodes:
                for child in node.children:
                    if fnmatch.fnmatchcase(child.name, part) and child not in matched:
                        matched.append(child)
            nodes = matched
        return nodes

    def _fake_resolve_par_path(self, path: str) -> OP | None:
        """An operator parameter's path: relative to the network the owner is in, as for any operator
        ("If you refer to another node in the same network, you can just put the node name", Network
        Path page), so a COMP's ``label`` is its sibling; a COMP's own children are ``./label``."""
        if isinstance(self, COMP) and (path == "." or path.startswith("./")):
            return self.op(path)
        if path.startswith("/") or self._parent is None:
            return self.op(path)
        return self._parent.op(path)

    def _fake_siblings(self) -> list[OP]:
        return self._parent.children if self._parent is not None else []

    @property
    def inputConnectors(self) -> list[Connector]:
        count = max(self._inputs, default=-1) + 2
        return [Connector(self, i, True) for i in range(count)]

    @property
    def outputConnectors(self) -> list[Connector]:
        return [Connector(self, 0, False)]

    def _fake_io_op(self, index: int, kind: str) -> OP | None:
        return None

    @property
    def inputs(self) -> list[OP]:
        return [source for _, (source, _out) in sorted(self._inputs.items())]

    @property
    def outputs(self) -> list[OP]:
        return [t for t in self._fake_siblings() if any(s is self for s, _ in t._inputs.values())]

    def _fake_connect_input(self, index: int, source: OP, out: int) -> None:
        if source is self:
            raise TDError(f"cannot connect {self.path} to itself")
        if source._parent is not self._parent:
            raise TDError(f"cannot wire {source.path} to {self.path}: not in the same network")
        source_family = source._fake_output_family(out)
        if source_family != self._fake_input_family(index):
            raise TDError(
                f"cannot wire {source.path} ({source_family}) into {self.path} input {index} "
                f"({self._fake_input_family(index)})"
            )
        self._inputs[index] = (source, out)

    def _fake_output_family(self, index: int) -> str:
        return self._family

    def _fake_input_family(self, index: int) -> str:
        return self._family

    # -- flags and looks -------------------------------------------------------------------------------

    nodeX = _flag("_node_x", int)
    nodeY = _flag("_node_y", int)
    comment = _flag("_comment", str)
    bypass = _flag("_bypass")
    lock = _flag("_lock")
    display = _flag("_display")
    render = _flag("_render")
    viewer = _flag("_viewer")
    expose = _flag("_expose")
    selected = _flag("_selected")
    allowCooking = _flag("_allow_cooking")

    @property
    def color(self) -> tuple[float, float, float]:
        return self._color

    @color.setter
    def color(self, value: Any) -> None:
        values = tuple(float(v) for v in value)
        if len(values) != 3:
            raise TDError(f"{self.path}.color expects (r, g, b), got {value!r}")
        self._color = values  # type: ignore[assignment]

    @property
    def tags(self) -> set[str]:
        return self._tags

    @tags.setter
    def tags(self, value: Any) -> None:
        self._tags = {str(v) for v in value}

    @property
    def dock(self) -> OP | None:
        return self._dock

    @dock.setter
    def dock(self, value: OP | None) -> None:
        if value is not None and value._parent is not self._parent:
            raise TDError(f"{self.path} can only dock to an operator of its own network")
        self._dock = value

    @property
    def docked(self) -> list[OP]:
        return [o for o in self._fake_siblings() if o._dock is self]

    def openViewer(self, unique: bool = False, borders: bool = True) -> None:
        self._viewers_opened += 1

    def closeViewer(self) -> None:
        return None

    @property
    def fake_viewers_opened(self) -> int:
        """Test helper: how many times openViewer() was called."""
        return self._viewers_opened

    # -- storage ---------------------------------------------------------------------------------------

    @property
    def storage(self) -> dict[str, Any]:
        return self._storage

    def store(self, key: str, value: Any) -> Any:
        self._storage[key] = value
        return value

    def fetch(
        self, key: str, default: Any = _MISSING, search: bool = True, storeDefault: bool = False
    ) -> Any:
        """The stored value of ``key`` (searching the parents when ``search``); ``default`` when it is
        missing, and without a default a missing key is an error (KeyError)."""
        node: OP | None = self
        while node is not None:
            if key in node._storage:
                return node._storage[key]
            node = node._parent if search else None
        if default is _MISSING:
            raise KeyError(f"{self.path}: no stored value {key!r} (fetch without a default)")
        if storeDefault:
            self._storage[key] = default
        return default

    def fetchOwner(self, key: str) -> OP | None:
        node: OP | None = self
        while node is not None:
            if key in node._storage:
                return node
            node = node._parent
        return None

    def unstore(self, keys1: str, *morekeys: str) -> None:
        for pattern in (keys1, *morekeys):
            for key in [k for k in self._storage if fnmatch.fnmatchcase(k, pattern)]:
                del self._storage[key]

    def storeStartupValue(self, key: str, value: Any) -> None:
        self._startup[key] = value

    def _fake_saved_storage(self) -> dict[str, Any]:
        """What a saved .toe/.tox holds for this operator's storage: each value, or its startup value
        when it has one ("an alternate value for saving and loading", OP Class), as pickled data."""
        saved = {**self._storage, **self._startup}
        for key, value in saved.items():
            try:
                pickle.dumps(value)
            except Exception as exc:
                raise TDError(
                    f"{self.path}: storage {key!r} cannot be saved ({type(value).__name__}: {exc}); give it a"
                    " startup value with storeStartupValue()"
                ) from None
        result: dict[str, Any] = pickle.loads(pickle.dumps(saved))
        return result

    def unstoreStartupValue(self, *keys: str) -> None:
        for pattern in keys:
            for key in [k for k in self._startup if fnmatch.fnmatchcase(k, pattern)]:
                del self._startup[key]

    # -- parameters ------------------------------------------------------------------------------------

    @property
    def par(self) -> ParCollection:
        return ParCollection(self)

    def _fake_hidden(self, name: str) -> bool:
        """A built-in parameter of a sequence block that does not exist (yet)."""
        return False

    def _fake_par(self, name: str, setting: bool = False) -> Par:
        for page in self._custom_pages:
            for par in page._pars:
                if par.name == name:
                    return par
        if name in self._pars and not self._fake_hidden(name):
            return self._pars[name]
        spec = self._specs.get(name)
        if spec is None or self._fake_hidden(name):
            raise reference.unknown("parameter", name, self._fake_par_names(), self._fake_where())
        assumed, default = reference.assumed_default(self._optype, name)
        if not assumed:
            default = spec.menu[0] if spec.checks_tokens and spec.menu else default_for(spec.style)
        par = Par(self, name, spec.style, spec=spec, default=default)
        self._pars[name] = par
        return par

    def _fake_par_names(self) -> list[str]:
        return [p.name for p in self.customPars] + [n for n in self._specs if not self._fake_hidden(n)]

    def pars(self, *pattern: str) -> list[Par]:
        patterns = pattern or ("*",)
        names = [n for n in self._fake_par_names() if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        return [self._fake_par(n) for n in names]

    @property
    def customPages(self) -> list[Page]:
        return list(self._custom_pages)

    @property
    def customPars(self) -> list[Par]:
        return [par for page in self._custom_pages for par in page._pars]

    def _fake_remove_custom_pars(self, pars: list[Par]) -> None:
        for par in pars:
            if par._page is not None and par in par._page._pars:
                par._page._pars.remove(par)
            par._valid = False

    def _fake_remove_page(self, page: Page) -> None:
        if page in self._custom_pages:
            self._custom_pages.remove(page)

    def _fake_rename_par(self, par: Par, new: str) -> None:
        from .params import CUSTOM_NAME

        if not CUSTOM_NAME.match(new):
            raise TDError(f"invalid custom parameter name {new!r}")
        if any(p.name == new for p in self.customPars if p is not par):
            raise TDError(f"{self.path} already has a custom parameter {new!r}")
        par._name = new

    def _fake_par_changed(self, par: Par, prev: Any, old_mode: ParMode, old_expr: str | None = None) -> None:
        """After a parameter is set: the operator's own reaction, then the Parameter Execute DATs."""
        self._fake_builtin_changed(par)
        self._fake_session._fake_parameter_changed(par, prev, old_mode, old_expr)

    def _fake_builtin_changed(self, par: Par) -> None:
        return None

    #: Built-in parameters whose pulse the fake acts on (``name -> method name``).
    _fake_pulse_actions: ClassVar[dict[str, str]] = {}

    def _fake_is_builtin_pulse(self, par: Par) -> bool:
        return not par.isCustom and par.name in self._fake_pulse_actions

    def _fake_pulsed(self, par: Par) -> None:
        action = self._fake_pulse_actions.get(par.name) if not par.isCustom else None
        if action is not None:
            getattr(self, action)()
        self._fake_session._fake_parameter_pulsed(par)

    # -- cooking, scripting, life ------------------------------------------------------------------------

    def cook(self, force: bool = False, recurse: bool = False) -> None:
        if recurse:
            for child in self.children:
                child.cook(force=force, recurse=True)

    def evalExpression(self, expr: str) -> Any:
        return self._fake_session._fake_eval(expr, self)

    def destroy(self) -> None:
        if self._parent is None:
            raise TDError("the root cannot be destroyed")
        for child in list(self.children):
            child.destroy()
        for connector in self.outputConnectors:
            connector.disconnect()
        self._inputs.clear()
        self._parent._fake_remove_child(self)
        for par in [*self._pars.values(), *self.customPars]:
            par._valid = False
        object.__setattr__(self, "_valid", False)


class _CustomPagesMixin:
    """appendCustomPage / destroyCustomPars / sortCustomPages: COMPs and Script operators."""

    _custom_pages: list[Page]

    def appendCustomPage(self, name: str) -> Page:
        """A new custom page; the existing one when a page of that name exists."""
        for page in self._custom_pages:
            if page.name == name:
                return page
        page = Page(self, str(name))  # type: ignore[arg-type]
        self._custom_pages.append(page)
        return page

    def destroyCustomPars(self) -> int:
        count = 0
        for page in list(self._custom_pages):
            count += len(page._pars)
            page.destroy()
        return count

    def sortCustomPages(self, *pages: Page | str) -> None:
        wanted = [p if isinstance(p, str) else p.name for p in pages]
        by_name = {p.name: p for p in self._custom_pages}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise reference.unknown("custom page", missing[0], by_name, str(self))
        first = [by_name[n] for n in wanted]
        self._custom_pages[:] = first + [p for p in self._custom_pages if p not in first]


# -- COMPs ---------------------------------------------------------------------------------------------


class COMP(_CustomPagesMixin, OP):
    _td_api: ClassVar[tuple[str, ...]] = ("COMP",)
    _fake_pulse_actions: ClassVar[dict[str, str]] = {"reinitextensions": "initializeExtensions"}

    def __init__(self, session: TouchDesigner, parent: COMP | None, name: str, optype: str) -> None:
        super().__init__(session, parent, name, optype)
        self._children: list[OP] = []
        self._extensions: list[tuple[str, Any, bool]] = []
        self._extensions_ready = True
        #: Blocks of the Extension sequence: none on a fresh COMP of the fake's build "2025".
        self._ext_blocks = 0 if session.build == "2025" else 1

    @property
    def children(self) -> list[OP]:
        return list(self._children)

    def _fake_child(self, name: str) -> OP | None:
        return next((c for c in self._children if c.name == name), None)

    def _fake_remove_child(self, child: OP) -> None:
        self._children.remove(child)
        for other in self._children:
            for index, (source, _out) in list(other._inputs.items()):
                if source is child:
                    del other._inputs[index]
            if other._dock is child:
                other._dock = None

    def _fake_unique_name(self, wanted: str) -> str:
        if self._fake_child(wanted) is None:
            return wanted
        stem = wanted.rstrip("0123456789")
        digits = wanted[len(stem) :]
        number = int(digits) + 1 if digits else 1
        while self._fake_child(f"{stem}{number}") is not None:
            number += 1
        return f"{stem}{number}"

    def create(self, OPtype: Any, name: str | None = None, initialize: bool = True) -> OP:
        """A new operator inside this COMP. ``OPtype`` is an operator class (``baseCOMP``) or its name;
        a taken name becomes the next numbered one, as in TouchDesigner."""
        optype = OPtype if isinstance(OPtype, str) else getattr(OPtype, "_fake_optype", None)
        if not isinstance(optype, str) or not optype:
            raise UnknownTDName(f"create() needs an operator type such as baseCOMP, not {OPtype!r}")
        reference.check_operator_type(optype)
        if name is not None and not OP_NAME.match(str(name)):
            raise TDError(f"invalid operator name {name!r}: letters, digits and underscores only")
        default = optype[: -len(reference.family_of(optype))] + "1"
        unique = self._fake_unique_name(str(name) if name is not None else default)
        node = OPERATOR_CLASSES[optype](self._fake_session, self, unique, optype)
        self._children.append(node)
        return node

    def findChildren(
        self,
        *,
        type: Any = None,
        name: str | None = None,
        path: str | None = None,
        depth: int | None = None,
        maxDepth: int | None = None,
        text: str | None = None,
        comment: str | None = None,
        tags: list[str] | None = None,
        allTags: bool = False,
        parValue: str | None = None,
        parExpr: str | None = None,
        parName: str | None = None,
        onlyNonDefaults: bool = False,
        includeUtility: bool = False,
        key: Any = None,
    ) -> list[OP]:
        if parExpr is not None or onlyNonDefaults:
            raise NotModeled("findChildren(parExpr=..., onlyNonDefaults=...) is not modeled by the fake")
        found: list[OP] = []
        for child, level in self._fake_walk():
            if depth is not None and level != depth:
                continue
            if maxDepth is not None and level > maxDepth:
                continue
            if type is not None and not _is_type(child, type):
                continue
            if name is not None and not fnmatch.fnmatchcase(child.name, name):
                continue
            if path is not None and not fnmatch.fnmatchcase(child.path, path):
                continue
            if comment is not None and not fnmatch.fnmatchcase(child.comment, comment):
                continue
            if text is not None and not (isinstance(child, DAT) and fnmatch.fnmatchcase(child.text, text)):
                continue
            if tags:
                hits = [t in child.tags for t in tags]
                if not (all(hits) if allTags else any(hits)):
                    continue
            if parName is not None or parValue is not None:
                pars = child.pars(parName or "*")
                if parValue is not None:
                    pars = [p for p in pars if fnmatch.fnmatchcase(str(p.val), parValue)]
                if not pars:
                    continue
            if key is not None and not key(child):
                continue
            found.append(child)
        return found

    def _fake_walk(self, level: int = 1) -> Iterator[tuple[OP, int]]:
        for child in self._children:
            yield child, level
            if isinstance(child, COMP):
                yield from child._fake_walk(level + 1)

    # connectors of a COMP are its in/out operators, top to bottom
    def _fake_io_ops(self, kind: str) -> list[OP]:
        found = [c for c in self._children if c.type == kind]
        return sorted(found, key=lambda c: (-c.nodeY, c.name))

    def _fake_io_op(self, index: int, kind: str) -> OP | None:
        found = self._fake_io_ops(kind)
        return found[index] if index < len(found) else None

    @property
    def inputConnectors(self) -> list[Connector]:
        return [Connector(self, i, True) for i in range(len(self._fake_io_ops("in")))]

    @property
    def outputConnectors(self) -> list[Connector]:
        return [Connector(self, i, False) for i in range(len(self._fake_io_ops("out")))]

    def _fake_output_family(self, index: int) -> str:
        found = self._fake_io_op(index, "out")
        return found.family if found is not None else "COMP"

    def _fake_input_family(self, index: int) -> str:
        found = self._fake_io_op(index, "in")
        return found.family if found is not None else "COMP"

    # -- extensions -----------------------------------------------------------------------------------

    def _fake_hidden(self, name: str) -> bool:
        return self._ext_blocks < 1 and name in _EXT_BLOCK_0

    def _fake_extension_slots(self) -> list[tuple[str, str, str]]:
        """(object, name, promote) parameter names: the Extensions sequence's block 0 in current builds
        (none while the sequence has no block), the fixed slot 1 in legacy ones."""
        if "ext0object" in self._specs:
            return [_EXT_BLOCK_0] if self._ext_blocks else []
        if "extension1" in self._specs:
            return [("extension1", "extname1", "promoteextension1")]
        return []

    def initializeExtensions(self, index: int | None = None) -> Any:
        """Evaluate each slot's Object (a Python expression, ``me`` is this COMP) and keep the object
        with its Name; Promote makes its capitalized members attributes of the COMP. The previous
        objects get ``onDestroyTD()``, the new ones ``onInitTD()``, when they define them."""
        slots = self._fake_extension_slots()
        chosen = range(len(slots)) if index is None else [int(index)]
        old = {i: ext for i, ext in enumerate(self._extensions)}
        for child in self._children:  # "Recompile all extension objects" (COMP Extensions page)
            if isinstance(child, DAT):
                child._module_cache = None
        self._extensions_ready = False
        try:
            created: dict[int, tuple[str, Any, bool]] = {}
            for i in chosen:
                object_par, name_par, promote_par = slots[i]
                par = self.par[object_par]
                if par.mode is ParMode.EXPRESSION:
                    extension = par.evalExpression()
                else:
                    source = str(par.val or "").strip()
                    extension = self._fake_session._fake_eval(source, self, par) if source else None
                if extension is None:
                    continue
                name = str(self.par[name_par].eval() or "") or type(extension).__name__
                created[i] = (name, extension, bool(self.par[promote_par].eval()))
            for i in chosen:
                if i in old:
                    _call_if_defined(old[i][1], "onDestroyTD")
            merged = {i: ext for i, ext in old.items() if i not in chosen} | created
            self._extensions = [merged[i] for i in sorted(merged)]
        finally:
            self._extensions_ready = True
        for _name, extension, _promote in created.values():
            _call_if_defined(extension, "onInitTD")
        if index is not None:
            return created.get(int(index), (None, None, False))[1]
        return [extension for _name, extension, _promote in self._extensions]

    @property
    def extensions(self) -> list[Any]:
        return [extension for _name, extension, _promote in self._extensions]

    @property
    def extensionsReady(self) -> bool:
        return self._extensions_ready

    def _fake_promoted(self) -> Iterator[Any]:
        for _name, extension, promote in object.__getattribute__(self, "_extensions"):
            if promote:
                yield extension

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name[:1].isupper():
            for extension in self._fake_promoted():
                if hasattr(extension, name):
                    return getattr(extension, name)
        error = self._fake_missing(name)
        if isinstance(error, UnknownTDName):
            if name[:1].isupper():
                error = UnknownTDName(f"{error}; no promoted extension of {self.path} has {name!r}")
            elif any(hasattr(extension, name) for extension in self._fake_promoted()):
                error = UnknownTDName(
                    f"{error}; an extension has {name!r}, but only capitalized members are promoted"
                )
        raise error

    def _fake_setattr_missing(self, name: str, value: Any) -> None:
        if name[:1].isupper():
            for extension in self._fake_promoted():
                if hasattr(extension, name):
                    setattr(extension, name, value)
                    return
        super()._fake_setattr_missing(name, value)

    # -- saving ---------------------------------------------------------------------------------------

    def save(self, filepath: str, createFolders: bool = False, password: str | None = None) -> str:
        """Write the component as JSON (what a .tox would hold, see :func:`describe`) to ``filepath``
        (relative to project.folder); returns the path."""
        target = Path(filepath)
        if not target.is_absolute():
            target = Path(str(self._fake_session.project.folder)) / target
        if not target.parent.is_dir():
            if not createFolders:
                raise TDError(f"cannot save {target}: folder missing (createFolders=False)")
            target.parent.mkdir(parents=True)
        from .tox import describe

        description = describe(self)
        description["encrypted"] = password is not None
        target.write_text(json.dumps(description, indent=2, default=repr), encoding="utf-8")
        return str(target)

    def cook(self, force: bool = False, recurse: bool = False) -> None:
        super().cook(force=force, recurse=recurse)


_EXT_BLOCK_0 = ("ext0object", "ext0name", "ext0promote")


class SequenceCollection(TDObject):
    """``op.seq``: ``op.seq.ext`` is a COMP's Extension sequence (the only sequence the fake models);
    ``op.seq['name']`` is None when there is no such sequence."""

    _td_api: ClassVar[tuple[str, ...]] = ("SequenceCollection",)

    def __init__(self, owner: OP) -> None:
        self._owner = owner

    @property
    def owner(self) -> OP:
        return self._owner

    def __getitem__(self, name: str) -> Sequence | None:
        if name == "ext" and isinstance(self._owner, COMP) and "ext0object" in self._owner._specs:
            return Sequence(self._owner, name)
        if name in {n.rstrip("0123456789") for n in self._owner._specs if not n[-1:].isdigit()}:
            raise NotModeled(f"{self._owner.path}.seq.{name}: the fake models the Extension sequence only")
        return None

    def __getattr__(self, name: str) -> Sequence:
        if name.startswith("_"):
            raise AttributeError(name)
        found = self[name]
        if found is None:
            raise UnknownTDName(f"{self._owner.path} has no sequence {name!r}")
        return found


class Sequence(TDObject):
    """A sequence of parameter blocks; the fake models ``numBlocks`` of a COMP's Extension sequence, and
    its first block only."""

    _td_api: ClassVar[tuple[str, ...]] = ("Sequence",)

    def __init__(self, owner: COMP, name: str) -> None:
        self._owner = owner
        self._name = name

    @property
    def owner(self) -> OP:
        return self._owner

    @property
    def numBlocks(self) -> int:
        return self._owner._ext_blocks

    @numBlocks.setter
    def numBlocks(self, value: int) -> None:
        count = int(value)
        if count < 0:
            raise TDError(f"{self._owner.path}.seq.{self._name}.numBlocks must be >= 0")
        if count > 1:
            raise NotModeled("the fake models the first block of the Extension sequence only")
        self._owner._ext_blocks = count


def _call_if_defined(target: Any, method: str) -> None:
    function = getattr(target, method, None)
    if callable(function):
        function()


def _is_type(target: OP, wanted: Any) -> bool:
    if isinstance(wanted, str):
        return target.OPType == wanted
    return isinstance(wanted, type) and isinstance(target, wanted)


class PanelCOMP(COMP):
    _td_api: ClassVar[tuple[str, ...]] = ("PanelCOMP",)


class baseCOMP(COMP):
    _td_api: ClassVar[tuple[str, ...]] = ("baseCOMP",)


class containerCOMP(PanelCOMP):
    _td_api: ClassVar[tuple[str, ...]] = ("containerCOMP",)


# -- DATs ----------------------------------------------------------------------------------------------


class Cell(TDObject):
    """One cell of a DAT table: ``dat[row, col]``."""

    _td_api: ClassVar[tuple[str, ...]] = ("Cell",)

    def __init__(self, dat: DAT, row: int, col: int) -> None:
        self._dat = dat
        self._row = row
        self._col = col

    @property
    def row(self) -> int:
        return self._row

    @property
    def col(self) -> int:
        return self._col

    @property
    def val(self) -> str:
        return self._dat._fake_rows()[self._row][self._col]

    @val.setter
    def val(self, value: Any) -> None:
        self._dat[self._row, self._col] = value

    @property
    def _fake_cell_value(self) -> str:
        return self.val

    def offset(self, r: int, c: int) -> Cell | None:
        return self._dat.cell(self._row + r, self._col + c)

    def __str__(self) -> str:
        return self.val

    def __int__(self) -> int:
        return int(float(self.val))

    def __float__(self) -> float:
        return float(self.val)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Cell):
            return (other._dat, other._row, other._col) == (self._dat, self._row, self._col)
        return self.val == other or (not isinstance(other, str) and _number_equal(self.val, other))

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<Cell {self._dat.path}[{self._row},{self._col}] {self.val!r}>"


def _number_equal(text: str, other: object) -> bool:
    try:
        return float(text) == other
    except (TypeError, ValueError):
        return False


class DAT(OP):
    """Text and table data. Table methods need a table DAT (isTable); setting ``text`` needs an editable
    DAT (text, execute-type, table and script DATs)."""

    _td_api: ClassVar[tuple[str, ...]] = ("DAT",)
    _fake_is_table: ClassVar[bool] = False
    _fake_editable: ClassVar[bool] = False
    _fake_pulse_actions: ClassVar[dict[str, str]] = {
        "loadonstartpulse": "_fake_load_file",
        "writepulse": "_fake_write_file",
    }

    def __init__(self, session: TouchDesigner, parent: COMP | None, name: str, optype: str) -> None:
        super().__init__(session, parent, name, optype)
        self._text = ""
        self._rows: list[list[str]] = []
        self._file_stamp: float | None = None
        self._module_cache: tuple[str, Any] | None = None

    # -- contents --------------------------------------------------------------------------------------

    @property
    def isTable(self) -> bool:
        return self._fake_is_table

    @property
    def isText(self) -> bool:
        return not self._fake_is_table

    def _fake_source(self) -> DAT | None:
        """Out/Null DATs show their input."""
        if self.type in ("out", "null") and 0 in self._inputs:
            source = self._inputs[0][0]
            return source if isinstance(source, DAT) else None
        return None

    def _fake_rows(self) -> list[list[str]]:
        source = self._fake_source()
        if source is not None:
            return source._fake_rows()
        self._fake_sync_from_file()
        if self._fake_is_table:
            return self._rows
        return [line.split("\t") for line in self._text.splitlines()] if self._text else []

    @property
    def text(self) -> str:
        source = self._fake_source()
        if source is not None:
            return source.text
        self._fake_sync_from_file()
        if self._fake_is_table:
            return "".join("\t".join(row) + "\n" for row in self._rows)
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        if not self._fake_editable:
            raise TDError(f"{self._fake_where()}: its contents are generated, not editable")
        self._fake_store_text(str(value))
        self._fake_write_if_synced()

    def _fake_store_text(self, value: str) -> None:
        if self._fake_is_table:
            self._rows = [line.split("\t") for line in value.splitlines()]
        else:
            self._text = value

    def _fake_table(self) -> list[list[str]]:
        if not (self._fake_is_table and self._fake_editable):
            raise TDError(f"{self._fake_where()} is not an editable table DAT")
        return self._rows

    def _fake_changed(self) -> None:
        self._fake_write_if_synced()

    @property
    def numRows(self) -> int:
        return len(self._fake_rows())

    @property
    def numCols(self) -> int:
        return max((len(r) for r in self._fake_rows()), default=0)

    def _fake_row_index(self, nameOrIndex: Any, caseSensitive: bool = True) -> int | None:
        rows = self._fake_rows()
        if isinstance(nameOrIndex, Cell):
            return nameOrIndex.row
        if isinstance(nameOrIndex, int) and not isinstance(nameOrIndex, bool):
            index = nameOrIndex if nameOrIndex >= 0 else len(rows) + nameOrIndex
            return index if 0 <= index < len(rows) else None
        return _find(str(nameOrIndex), [r[0] if r else "" for r in rows], caseSensitive)

    def _fake_col_index(self, nameOrIndex: Any, caseSensitive: bool = True) -> int | None:
        rows = self._fake_rows()
        if isinstance(nameOrIndex, Cell):
            return nameOrIndex.col
        if isinstance(nameOrIndex, int) and not isinstance(nameOrIndex, bool):
            index = nameOrIndex if nameOrIndex >= 0 else self.numCols + nameOrIndex
            return index if 0 <= index < self.numCols else None
        return _find(str(nameOrIndex), rows[0] if rows else [], caseSensitive)

    def cell(self, rowNameOrIndex: Any, colNameOrIndex: Any, caseSensitive: bool = True) -> Cell | None:
        row = self._fake_row_index(rowNameOrIndex, caseSensitive)
        col = self._fake_col_index(colNameOrIndex, caseSensitive)
        if row is None or col is None or col >= len(self._fake_rows()[row]):
            return None
        return Cell(self, row, col)

    def __getitem__(self, rowcol: tuple[Any, Any]) -> Cell | None:
        row, col = rowcol
        return self.cell(row, col)

    def __setitem__(self, rowcol: tuple[Any, Any], value: Any) -> None:
        table = self._fake_table()
        row, col = self._fake_row_index(rowcol[0]), self._fake_col_index(rowcol[1])
        if row is None or col is None:
            raise TDError(f"{self._fake_where()}: no cell {rowcol!r} ({self.numRows}x{self.numCols})")
        while len(table[row]) <= col:
            table[row].append("")
        table[row][col] = _cell_text(value)
        self._fake_changed()

    def row(self, *nameorindex: Any, caseSensitive: bool = True) -> list[Cell] | None:
        for wanted in nameorindex:
            index = self._fake_row_index(wanted, caseSensitive)
            if index is not None:
                return [Cell(self, index, c) for c in range(len(self._fake_rows()[index]))]
        return None

    def col(self, *nameorindex: Any, caseSensitive: bool = True) -> list[Cell] | None:
        for wanted in nameorindex:
            index = self._fake_col_index(wanted, caseSensitive)
            if index is not None:
                rows = self._fake_rows()
                return [Cell(self, r, index) for r in range(len(rows)) if index < len(rows[r])]
        return None

    def rows(self, *nameorindex: Any, caseSensitive: bool = True) -> list[list[Cell]]:
        wanted = nameorindex or tuple(range(self.numRows))
        found = [self.row(w, caseSensitive=caseSensitive) for w in wanted]
        return [r for r in found if r is not None]

    def cols(self, *nameorindex: Any, caseSensitive: bool = True) -> list[list[Cell]]:
        wanted = nameorindex or tuple(range(self.numCols))
        found = [self.col(w, caseSensitive=caseSensitive) for w in wanted]
        return [c for c in found if c is not None]

    def clear(self, keepSize: bool = False, keepFirstRow: bool = False, keepFirstCol: bool = False) -> None:
        if not self._fake_is_table:
            if not self._fake_editable:
                raise TDError(f"{self._fake_where()}: its contents are generated, not editable")
            self._text = ""
            self._fake_changed()
            return
        table = self._fake_table()
        kept: list[list[str]] = []
        for r, row in enumerate(table):
            if keepFirstRow and r == 0:
                kept.append(list(row))
            elif keepFirstCol:
                kept.append(row[:1] + ([""] * (len(row) - 1) if keepSize else []))
            elif keepSize:
                kept.append([""] * len(row))
        table[:] = kept
        self._fake_changed()

    def appendRow(self, cells: Any, nameOrIndex: Any = None, sort: Any = None) -> int:
        return self.insertRow(cells, nameOrIndex if nameOrIndex is not None else self.numRows, sort)

    def appendRows(self, cells: Any, nameOrIndex: Any = None, sort: Any = None) -> int:
        index = -1
        for row in cells:
            index = self.appendRow(row, nameOrIndex, sort)
        return index

    def insertRow(self, vals: Any, nameOrIndex: Any = 0, sort: Any = None) -> int:
        if sort is not None:
            raise NotModeled("DAT row insertion with sort= is not modeled by the fake")
        table = self._fake_table()
        values = [_cell_text(v) for v in _as_list(vals)]
        index = nameOrIndex if isinstance(nameOrIndex, int) else self._fake_row_index(nameOrIndex)
        if index is None:
            raise TDError(f"{self._fake_where()}: no row {nameOrIndex!r}")
        table.insert(index, values)
        self._fake_changed()
        return index

    def appendCol(self, cells: Any, nameOrIndex: Any = None, sort: Any = None) -> int:
        return self.insertCol(cells, nameOrIndex if nameOrIndex is not None else self.numCols, sort)

    def appendCols(self, cells: Any, nameOrIndex: Any = None, sort: Any = None) -> int:
        index = -1
        for col in cells:
            index = self.appendCol(col, nameOrIndex, sort)
        return index

    def insertCol(self, vals: Any, nameOrIndex: Any = 0, sort: Any = None) -> int:
        if sort is not None:
            raise NotModeled("DAT column insertion with sort= is not modeled by the fake")
        table = self._fake_table()
        values = [_cell_text(v) for v in _as_list(vals)]
        width = self.numCols
        index = nameOrIndex if isinstance(nameOrIndex, int) else self._fake_col_index(nameOrIndex)
        if index is None:
            raise TDError(f"{self._fake_where()}: no column {nameOrIndex!r}")
        while len(table) < len(values):
            table.append([""] * width)
        for r, row in enumerate(table):
            row.extend([""] * (width - len(row)))
            row.insert(index, values[r] if r < len(values) else "")
        self._fake_changed()
        return index

    def replaceRow(self, nameOrIndex: Any, vals: Any, entireRow: bool = True) -> int:
        table = self._fake_table()
        index = self._fake_row_index(nameOrIndex)
        if index is None:
            raise TDError(f"{self._fake_where()}: no row {nameOrIndex!r}")
        values = [_cell_text(v) for v in _as_list(vals)]
        table[index] = values if entireRow else values + table[index][len(values) :]
        self._fake_changed()
        return index

    def replaceCol(self, nameOrIndex: Any, vals: Any, entireCol: bool = True) -> int:
        table = self._fake_table()
        index = self._fake_col_index(nameOrIndex)
        if index is None:
            raise TDError(f"{self._fake_where()}: no column {nameOrIndex!r}")
        values = [_cell_text(v) for v in _as_list(vals)]
        for r, row in enumerate(table):
            if r < len(values):
                row[index] = values[r]
            elif entireCol:
                row[index] = ""
        self._fake_changed()
        return index

    def deleteRow(self, nameOrIndex: Any) -> None:
        self.deleteRows([nameOrIndex])

    def deleteRows(self, vals: Any) -> None:
        table = self._fake_table()
        indexes = {self._fake_row_index(v) for v in _as_list(vals)} - {None}
        table[:] = [row for r, row in enumerate(table) if r not in indexes]
        self._fake_changed()

    def deleteCol(self, nameOrIndex: Any) -> None:
        self.deleteCols([nameOrIndex])

    def deleteCols(self, vals: Any) -> None:
        table = self._fake_table()
        indexes = {self._fake_col_index(v) for v in _as_list(vals)} - {None}
        table[:] = [[cell for c, cell in enumerate(row) if c not in indexes] for row in table]
        self._fake_changed()

    def setSize(self, numrows: int, numcols: int) -> None:
        table = self._fake_table()
        del table[int(numrows) :]
        while len(table) < int(numrows):
            table.append([])
        for row in table:
            del row[int(numcols) :]
            row.extend([""] * (int(numcols) - len(row)))
        self._fake_changed()

    # -- code ------------------------------------------------------------------------------------------

    @property
    def module(self) -> Any:
        """The DAT's text imported as a module, TouchDesigner's globals injected (cached until the
        text changes)."""
        return self._fake_session._fake_module(self)

    def run(
        self,
        *args: Any,
        endFrame: bool = False,
        fromOP: OP | None = None,
        asParameter: bool = False,
        group: str | None = None,
        delayFrames: int = 0,
        delayMilliSeconds: float = 0,
        delayRef: OP | None = None,
    ) -> Any:
        """Run the text as a script (``args`` holds ``args``): now, or later when a delay is given."""
        return self._fake_session._fake_run(
            self,
            args,
            owner=fromOP or self,
            endFrame=endFrame,
            group=group,
            delayFrames=delayFrames,
            delayMilliSeconds=delayMilliSeconds,
            immediate=True,
        )

    # -- file sync (File page) ---------------------------------------------------------------------------

    def _fake_file(self) -> Path | None:
        if "file" not in self._specs:
            return None
        value = str(self.par.file.eval() or "").strip()
        if not value:
            return None
        path = Path(value)
        return path if path.is_absolute() else Path(str(self._fake_session.project.folder)) / path

    def _fake_synced(self) -> bool:
        return "syncfile" in self._specs and bool(self.par.syncfile.eval())

    def _fake_sync_from_file(self) -> None:
        if not self._fake_synced():
            return
        path = self._fake_file()
        if path is not None and path.is_file() and path.stat().st_mtime != self._file_stamp:
            self._fake_load_file()

    def _fake_load_file(self) -> None:
        path = self._fake_file()
        if path is None or not path.is_file():
            raise TDError(f"{self._fake_where()}: cannot load file {path}")
        self._fake_store_text(path.read_text(encoding="utf-8"))
        self._file_stamp = path.stat().st_mtime

    def _fake_write_file(self) -> None:
        path = self._fake_file()
        if path is None:
            raise TDError(f"{self._fake_where()}: no file to write")
        path.write_text(self.text, encoding="utf-8")
        self._file_stamp = path.stat().st_mtime

    def _fake_write_if_synced(self) -> None:
        if self._fake_synced() and self._fake_file() is not None:
            self._fake_write_file()

    def _fake_builtin_changed(self, par: Par) -> None:
        if par.name in ("file", "syncfile") and self._fake_synced():
            path = self._fake_file()
            if path is not None and path.is_file():
                self._fake_load_file()


def _find(name: str, names: list[str], case_sensitive: bool) -> int | None:
    for index, candidate in enumerate(names):
        if (candidate == name) if case_sensitive else (candidate.lower() == name.lower()):
            return index
    return None


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        return [values]
    return list(values)


def _cell_text(value: Any) -> str:
    if isinstance(value, Cell):
        return value.val
    if isinstance(value, Par):
        return str(value.eval())
    return "" if value is None else str(value)


class textDAT(DAT):
    _fake_editable: ClassVar[bool] = True


class tableDAT(DAT):
    _fake_is_table: ClassVar[bool] = True
    _fake_editable: ClassVar[bool] = True


class scriptDAT(_CustomPagesMixin, DAT):
    _td_api: ClassVar[tuple[str, ...]] = ("scriptDAT",)
    _fake_is_table: ClassVar[bool] = True
    _fake_editable: ClassVar[bool] = True


class executeDAT(DAT):
    """Its module's onFrameStart(frame)/onFrameEnd(frame)/onStart() run from the session's frame()/start()
    when Active and the callback's toggle are on."""

    _fake_editable: ClassVar[bool] = True


class parameterexecuteDAT(DAT):
    """Calls its module's onValueChange/onPulse/... when a watched parameter changes (see the session)."""

    _fake_editable: ClassVar[bool] = True


class Peer(TDObject):
    """The sender of a received message (common_pages.json python.oscinDAT notes)."""

    _td_api: ClassVar[tuple[str, ...]] = ("python:Peer",)

    def __init__(self, owner: OP, address: str, port: int) -> None:
        self._owner = owner
        self._address = address
        self._port = port

    @property
    def owner(self) -> OP:
        return self._owner

    @property
    def address(self) -> str:
        return self._address

    @property
    def port(self) -> int:
        return self._port

    def close(self) -> None:
        return None


class oscinDAT(DAT):
    """Received messages as rows (at most Maximum Lines when Clamp Output is on). Messages come from
    the session: ``deliver_osc(dat, address, args)``, ``deliver_osc_packet(dat, datagram)``."""

    _td_api: ClassVar[tuple[str, ...]] = ("DAT", "python:oscinDAT")
    _fake_is_table: ClassVar[bool] = True
    _fake_pulse_actions: ClassVar[dict[str, str]] = {"clear": "_fake_clear_rows"}

    def _fake_clear_rows(self) -> None:
        self._rows.clear()

    def _fake_append_message(self, address: str, args: list[Any]) -> tuple[int, str]:
        if self.par.splitmessage.eval():
            row = [address, *(osc.text(a) for a in args)]
        else:
            row = [" ".join([address, *(osc.text(a) for a in args)])]
        self._rows.append(row)
        self._fake_trim()
        return len(self._rows) - 1, " ".join(row)

    def _fake_trim(self) -> None:
        """The OSC In DAT page: "limited to 100 messages by default but with Clamp Output, this can be
        set to anything including unlimited": Maximum Lines when Clamp Output is on, 0 unlimited."""
        limit = int(self.par.maxlines.eval()) if self.par.clamp.eval() else 100
        if limit > 0:
            del self._rows[: max(len(self._rows) - limit, 0)]

    def _fake_builtin_changed(self, par: Par) -> None:
        if par.name in ("clamp", "maxlines"):
            self._fake_trim()


class oscoutDAT(DAT):
    """sendOSC sends real UDP datagrams to Network Address:Port (its ``address`` and ``port``)."""

    _td_api: ClassVar[tuple[str, ...]] = ("oscoutDAT",)
    _fake_is_table: ClassVar[bool] = True

    def __init__(self, session: TouchDesigner, parent: COMP | None, name: str, optype: str) -> None:
        super().__init__(session, parent, name, optype)
        self._sent: list[bytes] = []

    @property
    def fake_sent(self) -> list[bytes]:
        """Test helper: every datagram sent, in order."""
        return list(self._sent)

    def _fake_send(self, data: bytes) -> int:
        if not self.par.active.eval():
            return 0
        protocol = str(self.par.protocol.eval())
        if protocol not in ("msging", "multicastmsging"):
            raise NotModeled(f"{self._fake_where()}: the fake sends UDP only, not protocol {protocol!r}")
        host = str(self.par.address.eval()).strip()
        port = int(self.par.port.eval())
        if not host or not 0 < port < 65536:
            raise TDError(f"{self._fake_where()}: no destination (address {host!r}, port {port})")
        sent = osc.send_udp(data, host, port)
        self._sent.append(data)
        return sent

    def sendOSC(
        self,
        *addressesFollowedByValueLists: Any,
        asBundle: bool = False,
        useNonStandardTypes: bool = True,
        use64BitPrecision: bool = False,
    ) -> int:
        """``sendOSC('/a', [1, 2.5, 'x'], '/b', [])``: one datagram per message, or one bundle."""
        messages = osc.pairs(addressesFollowedByValueLists)
        encoded = [osc.encode_message(a, v, useNonStandardTypes, use64BitPrecision) for a, v in messages]
        if asBundle:
            return self._fake_send(osc.bundle(encoded))
        return sum(self._fake_send(m.dgram) for m in encoded)

    def sendBytes(self, *messages: Any) -> int:
        return self._fake_send(osc.raw_bytes(messages))

    def send(self, *messages: str, terminator: str = "") -> int:
        text = "".join(str(m) + terminator for m in messages)
        return self._fake_send(text.encode("utf-8"))


# -- CHOPs ---------------------------------------------------------------------------------------------


class Channel(TDObject):
    """One CHOP channel. Its values can be set only in a Script CHOP (during its cook, unless Modify
    Outside of Cook is on)."""

    _td_api: ClassVar[tuple[str, ...]] = ("Channel", "python:Channel")

    def __init__(self, owner: CHOP, name: str, index: int, vals: list[float], writable: bool) -> None:
        self._owner = owner
        self._name = name
        self._index = index
        self._vals = vals
        self._writable = writable
        self._valid = True

    def _fake_where(self) -> str:
        return f"channel {self._name!r} of {self._owner.path}"

    def _writing(self) -> None:
        if not self._writable or not self._valid:
            raise TDError(f"{self._fake_where()}: values can be set only on a Script CHOP's own channels")
        assert isinstance(self._owner, scriptCHOP)
        self._owner._fake_modifying()

    @property
    def owner(self) -> CHOP:
        return self._owner

    @property
    def name(self) -> str:
        return self._name

    @property
    def index(self) -> int:
        return self._index

    @property
    def valid(self) -> bool:
        return self._valid

    @property
    def vals(self) -> list[float]:
        return list(self._vals)

    @vals.setter
    def vals(self, values: Any) -> None:
        self._writing()
        new = [float(v) for v in values]
        self._vals[:] = new
        if len(new) != self._owner.numSamples:
            assert isinstance(self._owner, scriptCHOP)
            self._owner.numSamples = len(new)

    def __getitem__(self, index: int) -> float:
        return self._vals[index]

    def __setitem__(self, index: int, value: float) -> None:
        self._writing()
        self._vals[index] = float(value)

    def eval(self, index: int | None = None) -> float:
        if not self._vals:
            return 0.0
        return self._vals[0 if index is None else int(index)]

    def average(self) -> float:
        return sum(self._vals) / len(self._vals) if self._vals else 0.0

    def min(self) -> float:
        return min(self._vals, default=0.0)

    def max(self) -> float:
        return max(self._vals, default=0.0)

    def destroy(self) -> None:
        self._writing()
        assert isinstance(self._owner, scriptCHOP)
        self._owner._fake_remove_channel(self)

    def __float__(self) -> float:
        return self.eval()

    def __int__(self) -> int:
        return int(self.eval())

    def __repr__(self) -> str:
        return f"<Channel {self._owner.path}:{self._name} {self._vals!r}>"


class CHOP(OP):
    _td_api: ClassVar[tuple[str, ...]] = ("CHOP",)

    def _fake_channels(self) -> list[Channel]:
        """Out/Null CHOPs pass their input through; other CHOPs have no data in the fake."""
        if self.type in ("out", "null") and 0 in self._inputs:
            source = self._inputs[0][0]
            if isinstance(source, CHOP):
                return [
                    Channel(self, c.name, i, c._vals, writable=False)
                    for i, c in enumerate(source._fake_channels())
                ]
        return []

    def _fake_source_chop(self) -> CHOP:
        if self.type in ("out", "null") and 0 in self._inputs and isinstance(self._inputs[0][0], CHOP):
            return self._inputs[0][0]._fake_source_chop()
        return self

    @property
    def numChans(self) -> int:
        return len(self._fake_channels())

    @property
    def numSamples(self) -> int:
        source = self._fake_source_chop()
        return source._num_samples if isinstance(source, scriptCHOP) else 0

    @property
    def rate(self) -> float:
        source = self._fake_source_chop()
        return source._rate if isinstance(source, scriptCHOP) else float(self._fake_session.FPS)

    @property
    def start(self) -> float:
        source = self._fake_source_chop()
        return source._start if isinstance(source, scriptCHOP) else 0.0

    @property
    def end(self) -> float:
        return self.start + max(self.numSamples - 1, 0)

    @property
    def isTimeSlice(self) -> bool:
        source = self._fake_source_chop()
        return source._time_slice if isinstance(source, scriptCHOP) else False

    def chans(self, *nameOrIndex: Any, caseSensitive: bool = True) -> list[Channel]:
        channels = self._fake_channels()
        if not nameOrIndex:
            return channels
        found: list[Channel] = []
        for wanted in nameOrIndex:
            for channel in channels:
                if isinstance(wanted, int) and not isinstance(wanted, bool):
                    hit = channel.index == wanted
                elif caseSensitive:
                    hit = fnmatch.fnmatchcase(channel.name, str(wanted))
                else:
                    hit = fnmatch.fnmatchcase(channel.name.lower(), str(wanted).lower())
                if hit and channel not in found:
                    found.append(channel)
        return found

    def chan(self, *nameOrIndex: Any, caseSensitive: bool = True) -> Channel | None:
        found = self.chans(*nameOrIndex, caseSensitive=caseSensitive) if nameOrIndex else []
        return found[0] if found else None

    def __getitem__(self, nameOrIndex: Any) -> Channel | None:
        if isinstance(nameOrIndex, int) and not isinstance(nameOrIndex, bool):
            channels = self._fake_channels()
            if not -len(channels) <= nameOrIndex < len(channels):
                raise IndexError(f"{self._fake_where()} has {len(channels)} channels, no index {nameOrIndex}")
            return channels[nameOrIndex]
        return self.chan(nameOrIndex)

    def fake_values(self) -> dict[str, float]:
        """Test helper: the first sample of each channel, by name."""
        return {c.name: c.eval() for c in self._fake_channels()}


class scriptCHOP(_CustomPagesMixin, CHOP):
    """Channels made by the callbacks DAT's ``onCook(scriptOp)``, which ``cook()`` calls."""

    _td_api: ClassVar[tuple[str, ...]] = ("CHOP", "python:scriptCHOP")
    _fake_pulse_actions: ClassVar[dict[str, str]] = {"setuppars": "_fake_setup_parameters"}

    def __init__(self, session: TouchDesigner, parent: COMP | None, name: str, optype: str) -> None:
        super().__init__(session, parent, name, optype)
        self._chans: list[Channel] = []
        self._num_samples = 1
        self._rate = float(session.FPS)
        self._start = 0.0
        self._time_slice = False
        self._cooking = False

    def _fake_modifying(self) -> None:
        if not self._cooking and not self.par.modoutsidecook.eval():
            raise TDError(
                f"{self._fake_where()}: a Script CHOP is modified only inside onCook (or turn on its "
                "'Modify Outside of Cook' parameter, modoutsidecook)"
            )

    def _fake_channels(self) -> list[Channel]:
        return list(self._chans)

    def _fake_remove_channel(self, channel: Channel) -> None:
        self._chans.remove(channel)
        channel._valid = False
        for index, other in enumerate(self._chans):
            other._index = index

    def clear(self) -> None:
        self._fake_modifying()
        for channel in self._chans:
            channel._valid = False
        self._chans.clear()

    def appendChan(self, name: str) -> Channel:
        self._fake_modifying()
        channel = Channel(self, str(name), len(self._chans), [0.0] * self._num_samples, writable=True)
        self._chans.append(channel)
        return channel

    @property
    def numSamples(self) -> int:
        return self._num_samples

    @numSamples.setter
    def numSamples(self, value: int) -> None:
        self._fake_modifying()
        count = int(value)
        if count < 0:
            raise TDError(f"{self._fake_where()}: numSamples must be >= 0")
        self._num_samples = count
        for channel in self._chans:
            channel._vals[:] = (channel._vals + [0.0] * count)[:count]

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        self._fake_modifying()
        self._rate = float(value)

    @property
    def start(self) -> float:
        return self._start

    @start.setter
    def start(self, value: float) -> None:
        self._fake_modifying()
        self._start = float(value)

    @property
    def end(self) -> float:
        return self._start + max(self._num_samples - 1, 0)

    @end.setter
    def end(self, value: float) -> None:
        self.numSamples = round(float(value) - self._start) + 1

    @property
    def isTimeSlice(self) -> bool:
        return self._time_slice

    @isTimeSlice.setter
    def isTimeSlice(self, value: bool) -> None:
        self._fake_modifying()
        self._time_slice = bool(value)

    def _fake_callbacks_module(self) -> Any:
        callbacks = self.par.callbacks.eval()
        return callbacks.module if callbacks is not None else None

    def cook(self, force: bool = False, recurse: bool = False) -> None:
        """Call the callbacks DAT's ``onCook(scriptOp)`` with this CHOP."""
        module = self._fake_callbacks_module()
        if module is None:
            return
        function = getattr(module, "onCook", None)
        if function is None:
            raise TDError(f"{self._fake_where()}: its callbacks DAT {self.par.callbacks.val!r} has no onCook")
        self._cooking = True
        try:
            self._fake_session._fake_callback("scriptCHOP", "onCook", function, scriptOp=self)
        finally:
            self._cooking = False

    def _fake_setup_parameters(self) -> None:
        module = self._fake_callbacks_module()
        function = getattr(module, "onSetupParameters", None) if module is not None else None
        if function is not None:
            self._fake_session._fake_callback("scriptCHOP", "onSetupParameters", function, scriptOp=self)


class TOP(OP):
    _td_api: ClassVar[tuple[str, ...]] = ("TOP",)


class SOP(OP):
    _td_api: ClassVar[tuple[str, ...]] = ("SOP",)


class MAT(OP):
    _td_api: ClassVar[tuple[str, ...]] = ("MAT",)


class POP(OP):
    _td_api: ClassVar[tuple[str, ...]] = ("OP",)


# -- one class per operator type ------------------------------------------------------------------------

FAMILY_CLASSES: dict[str, type[OP]] = {
    "COMP": COMP,
    "CHOP": CHOP,
    "DAT": DAT,
    "TOP": TOP,
    "SOP": SOP,
    "MAT": MAT,
    "POP": POP,
}

SPECIFIC_CLASSES: dict[str, type[OP]] = {
    cls.__name__: cls
    for cls in (
        baseCOMP,
        containerCOMP,
        scriptCHOP,
        textDAT,
        tableDAT,
        scriptDAT,
        executeDAT,
        parameterexecuteDAT,
        oscinDAT,
        oscoutDAT,
    )
}


def _operator_class(optype: str) -> type[OP]:
    specific = SPECIFIC_CLASSES.get(optype)
    if specific is not None:
        specific._fake_optype = optype  # type: ignore[attr-defined]
        return specific
    family = reference.family_of(optype)
    if family == "COMP" and optype in reference.panel_comps():
        base: type[OP] = PanelCOMP
    else:
        base = FAMILY_CLASSES[family]
    api = (optype,) if optype in reference.api_classes() else base._td_api
    namespace: dict[str, Any] = {"_td_api": api, "_fake_optype": optype, "__module__": __name__}
    if family == "DAT" and optype in reference.TEXT_LIKE_DATS:
        namespace["_fake_editable"] = True
    return type(optype, (base,), namespace)


#: Every operator type of operators.json -> its class (the globals ``baseCOMP``, ``scriptCHOP``, ...).
OPERATOR_CLASSES: dict[str, type[OP]] = {
    optype: _operator_class(optype) for optype in reference.operator_types()
}
