"""Parameters: Par, ParGroup, ParCollection (``op.par``), Page, ParMode."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from . import reference
from .base import TDObject
from .errors import NotModeled, TDError, UnknownTDName

if TYPE_CHECKING:
    from .ops import OP


class ParMode(enum.Enum):
    """https://docs.derivative.ca/Par_Class#mode"""

    CONSTANT = 0
    EXPRESSION = 1
    EXPORT = 2
    BIND = 3


#: "begin with uppercase letter followed by lowercase letters and numbers only" (Page Class)
CUSTOM_NAME = re.compile(r"^[A-Z][a-z0-9]*$")

_FAMILY_STYLES = {"OP": None, "COMP": "COMP", "DAT": "DAT", "CHOP": "CHOP", "TOP": "TOP", "SOP": "SOP"}
_FAMILY_STYLES |= {"MAT": "MAT", "POP": "POP", "PanelCOMP": "COMP", "OBJ": "COMP", "Object": "COMP"}
_FAMILY_STYLES |= {"objref": "COMP", "datref": "DAT", "chopref": "CHOP", "topref": "TOP", "comp": "COMP"}
_FAMILY_STYLES |= {"noderef": None}
_TOGGLE = {"toggle"}
_PULSE = {"pulse", "button", "momentary"}
_INT = {"int", "integer"}
_FLOAT = {"float", "rgb", "rgba", "xy", "xyz", "xyzw", "wh", "uv", "uvw", "anglejack"}
_STRING = {
    "str",
    "string",
    "strmenu",
    "file",
    "filesave",
    "folder",
    "header",
    "text",
    "python",
    "menu",
    "dropmenu",
}
_VECTOR_SUFFIXES = {
    "XY": "xy",
    "XYZ": "xyz",
    "XYZW": "xyzw",
    "WH": "wh",
    "UV": "uv",
    "UVW": "uvw",
    "RGB": "rgb",
    "RGBA": "rgba",
}
_CUSTOM_ONLY = "can only be set on custom parameters (Par Class)"


def kind_of(style: str | None) -> str:
    """How a style stores values: toggle, pulse, int, float, op, menu (a checked "Menu"), str or any."""
    text = style or ""
    if text in _FAMILY_STYLES:
        return "op"
    low = text.lower()
    for kind, names in (("toggle", _TOGGLE), ("pulse", _PULSE), ("int", _INT), ("float", _FLOAT)):
        if low in names:
            return kind
    if text == "Menu":
        return "menu"
    if low in _STRING:
        return "str"
    return "any"


def _numeric(value: Any, where: str) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise TDError(f"{where} expects a number, got {value!r}")


class Par(TDObject):
    """One parameter. Built-in parameters come from the reference (style, menu); custom ones from a
    Page's append methods."""

    _td_api: ClassVar[tuple[str, ...]] = ("Par",)

    def __init__(
        self,
        owner: OP,
        name: str,
        style: str | None,
        *,
        spec: reference.ParamSpec | None = None,
        page: Page | None = None,
        label: str | None = None,
        default: Any = None,
        vec_index: int = 0,
    ) -> None:
        self._owner = owner
        self._name = name
        self._style = style
        self._page = page
        self._is_custom = page is not None
        self._label = label if label is not None else (spec.label if spec and spec.label else name)
        self._menu_names: list[str] | None = list(spec.menu) if spec and spec.menu is not None else None
        self._menu_labels: list[str] | None = list(spec.menu_labels) if spec and spec.menu_labels else None
        self._menu_checked = bool(spec and spec.checks_tokens)
        if self._is_custom and style in ("Menu", "StrMenu"):
            self._menu_names, self._menu_labels = [], []
        self._default = default
        self._val = default
        self._expr = ""
        self._mode = ParMode.CONSTANT
        self._prev_mode = ParMode.CONSTANT
        self._min, self._max, self._norm_min, self._norm_max = 0.0, 1.0, 0.0, 1.0
        self._clamp_min = self._clamp_max = False
        self._help = ""
        self._order = 0.0
        self._start_section = False
        self._enable = True
        self._read_only = False
        self._valid = True
        self._assigned = False
        self._vec_index = vec_index
        self._tuplet: tuple[Par, ...] = (self,)
        self._tuplet_name = name

    def _fake_where(self) -> str:
        return f"{self._owner._fake_where()} parameter {self._name!r}"

    def _check(self) -> None:
        if not self._valid:
            raise TDError(f"parameter {self._name!r} was destroyed")

    def _custom_only(self, member: str) -> None:
        self._check()
        if not self._is_custom:
            raise TDError(f"{self._fake_where()}: {member} {_CUSTOM_ONLY}")

    # -- identity ------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._custom_only("name")
        self._owner._fake_rename_par(self, str(value))

    @property
    def owner(self) -> OP:
        return self._owner

    @property
    def valid(self) -> bool:
        return self._valid

    @property
    def isCustom(self) -> bool:
        return self._is_custom

    @property
    def style(self) -> str | None:
        return self._style

    @property
    def page(self) -> Page | None:
        return self._page

    @property
    def label(self) -> str:
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        self._check()
        self._label = str(value)

    @property
    def vecIndex(self) -> int:
        return self._vec_index

    @property
    def tupletName(self) -> str:
        return self._tuplet_name

    # -- kinds -----------------------------------------------------------------------------------------

    def _kind(self) -> str:
        return kind_of(self._style)

    @property
    def isPulse(self) -> bool:
        return self._kind() == "pulse"

    @property
    def isMomentary(self) -> bool:
        return (self._style or "").lower() == "momentary"

    @property
    def isToggle(self) -> bool:
        return self._kind() == "toggle"

    @property
    def isMenu(self) -> bool:
        return self._style in ("Menu", "StrMenu")

    @property
    def isInt(self) -> bool:
        return self._kind() == "int"

    @property
    def isFloat(self) -> bool:
        return self._kind() == "float"

    @property
    def isNumber(self) -> bool:
        return self._kind() in ("int", "float")

    @property
    def isString(self) -> bool:
        return self._kind() == "str"

    @property
    def isOP(self) -> bool:
        return self._kind() == "op"

    @property
    def isPython(self) -> bool:
        return self._style == "Python"

    # -- value -----------------------------------------------------------------------------------------

    def _coerce(self, value: Any) -> Any:
        """``value`` as this parameter stores it, or TDError/UnknownTDName."""
        if isinstance(value, Par):
            value = value.eval()
        value = getattr(value, "_fake_cell_value", value)
        kind = self._kind()
        if kind == "toggle":
            if isinstance(value, str) and value in ("0", "1", "True", "False"):
                return value in ("1", "True")
            if not isinstance(value, bool | int | float):
                raise TDError(f"{self._fake_where()} is a toggle: expects a bool, got {value!r}")
            return bool(value)
        if kind in ("int", "float"):
            number = _numeric(value, self._fake_where())
            if self._is_custom:
                if self._clamp_min:
                    number = max(number, float(self._min))
                if self._clamp_max:
                    number = min(number, float(self._max))
            return round(number) if kind == "int" else number
        if kind == "op":
            return self._op_path(value)
        if kind == "menu":
            return self._menu_token(value)
        if kind == "str":
            return "" if value is None else str(value)
        return value

    def _op_path(self, value: Any) -> str:
        from .ops import OP

        if value is None:
            return ""
        if isinstance(value, OP):
            return value.path
        if isinstance(value, list | tuple):
            return " ".join(self._op_path(v) for v in value)
        if isinstance(value, str):
            return value
        raise TDError(f"{self._fake_where()} expects an operator or a path, got {value!r}")

    def _menu_token(self, value: Any) -> str:
        if not isinstance(value, str):
            raise UnknownTDName(
                f"{self._fake_where()} is a menu: set a token name ({', '.join(self._menu_names or [])}), "
                f"not {value!r} (menuIndex sets by index)"
            )
        checked = self._menu_checked or (self._is_custom and bool(self._menu_names))
        if checked and value not in (self._menu_names or []):
            where = f"{self._owner.OPType} menu parameter {self._name!r}"
            raise reference.unknown("menu token", value, self._menu_names or [], where)
        return value

    @property
    def val(self) -> Any:
        self._check()
        if self._kind() == "pulse":
            return False
        return self._val

    @val.setter
    def val(self, value: Any) -> None:
        self._fake_set(value)

    def _fake_set(self, value: Any) -> None:
        """A script sets the value: constant mode, then the Parameter Execute DATs."""
        self._check()
        if self._kind() == "pulse" or self._owner._fake_is_builtin_pulse(self):
            self.pulse()
            return
        stored = self._coerce(value)
        prev = self._safe_eval()
        old_mode = self._mode
        self._val = stored
        self._assigned = True
        self._set_mode(ParMode.CONSTANT)
        self._owner._fake_par_changed(self, prev, old_mode)

    def _safe_eval(self) -> Any:
        try:
            return self.eval()
        except Exception:
            return None

    def _set_mode(self, mode: ParMode) -> None:
        if mode is not self._mode:
            self._prev_mode = self._mode
            self._mode = mode

    @property
    def expr(self) -> str:
        self._check()
        return self._expr

    @expr.setter
    def expr(self, value: str) -> None:
        self._check()
        text = str(value)
        try:
            compile(text, f"<expression of {self._owner.path}:{self._name}>", "eval")
        except SyntaxError as exc:
            raise TDError(f"{self._fake_where()}: invalid Python expression {text!r}: {exc}") from exc
        prev = self._safe_eval()
        old_mode, old_expr = self._mode, self._expr
        self._expr = text
        self._assigned = True
        self._set_mode(ParMode.EXPRESSION)
        self._owner._fake_par_changed(self, prev, old_mode, old_expr)

    @property
    def mode(self) -> ParMode:
        self._check()
        return self._mode

    @mode.setter
    def mode(self, value: ParMode) -> None:
        self._check()
        if not isinstance(value, ParMode):
            raise TDError(f"{self._fake_where()}.mode expects a ParMode, got {value!r}")
        prev = self._safe_eval()
        old_mode = self._mode
        self._set_mode(value)
        self._assigned = True
        self._owner._fake_par_changed(self, prev, old_mode)

    @property
    def prevMode(self) -> ParMode:
        return self._prev_mode

    def eval(self) -> Any:
        """The working value: the constant, or the expression evaluated with the owner's globals
        (``me`` is the owner), converted to the parameter's type; operators for reference styles."""
        self._check()
        if self._mode is ParMode.CONSTANT:
            value = self.val
            if self._style == "Python" and isinstance(value, str):
                value = (
                    self._owner._fake_session._fake_eval(value, self._owner, self) if value.strip() else None
                )
                return value
        elif self._mode is ParMode.EXPRESSION:
            result = self._owner._fake_session._fake_eval(self._expr, self._owner, self)
            if self._style == "Python":
                return result
            value = self._coerce(result)
        else:
            raise NotModeled(f"{self._fake_where()}: the fake does not model {self._mode.name} mode")
        if self._kind() == "op":
            found = self._fake_ops(value)
            return found[0] if found else None
        return value

    def evalExpression(self) -> Any:
        self._check()
        return self._owner._fake_session._fake_eval(self._expr, self._owner, self)

    def evalOPs(self) -> list[OP]:
        self._check()
        value = self.val if self._mode is ParMode.CONSTANT else self._op_path(self.evalExpression())
        return self._fake_ops(value)

    def _fake_ops(self, value: Any) -> list[OP]:
        """The operators a reference value names (paths relative to the network the owner is in, a
        COMP's children as ``./name``: see ``OP._fake_resolve_par_path``), each checked against the
        style's family."""
        from .ops import OP

        if isinstance(value, OP):
            found: list[OP] = [value]
        else:
            found = []
            for path in str(value or "").split():
                target = self._owner._fake_resolve_par_path(path)
                if target is not None:
                    found.append(target)
        family = _FAMILY_STYLES.get(self._style or "")
        for target in found:
            if family is not None and target.family != family:
                raise TDError(
                    f"{self._fake_where()} expects a {family}, but {target.path} is a {target.family}"
                )
        return found

    @property
    def default(self) -> Any:
        return self._default

    @default.setter
    def default(self, value: Any) -> None:
        self._custom_only("default")
        self._default = self._coerce(value)

    @property
    def isDefault(self) -> bool:
        return self._mode is ParMode.CONSTANT and not self._expr and self._val == self._default

    @property
    def menuNames(self) -> list[str] | None:
        return list(self._menu_names) if self._menu_names is not None else None

    @menuNames.setter
    def menuNames(self, value: Iterable[str]) -> None:
        self._custom_only("menuNames")
        if not self.isMenu:
            raise TDError(f"{self._fake_where()} is not a menu")
        names = [str(v) for v in value]
        self._menu_names = names
        if self._menu_labels is None or len(self._menu_labels) != len(names):
            self._menu_labels = list(names)
        if names and self._style == "Menu":
            if self._val in ("", None):
                self._val = names[0]
            if self._default in ("", None):
                self._default = names[0]

    @property
    def menuLabels(self) -> list[str] | None:
        return list(self._menu_labels) if self._menu_labels is not None else self.menuNames

    @menuLabels.setter
    def menuLabels(self, value: Iterable[str]) -> None:
        self._custom_only("menuLabels")
        if not self.isMenu:
            raise TDError(f"{self._fake_where()} is not a menu")
        self._menu_labels = [str(v) for v in value]

    @property
    def menuIndex(self) -> int:
        names = self._menu_names or []
        return names.index(self.eval()) if self.eval() in names else 0

    @menuIndex.setter
    def menuIndex(self, index: int) -> None:
        names = self._menu_names or []
        if not 0 <= int(index) < len(names):
            raise TDError(f"{self._fake_where()}: menu index {index} out of range 0..{len(names) - 1}")
        self.val = names[int(index)]

    # -- custom parameter attributes --------------------------------------------------------------------

    def _custom_attr(name: str, attr: str, convert: Callable[[Any], Any]) -> property:
        def getter(self: Par) -> Any:
            return getattr(self, attr)

        def setter(self: Par, value: Any) -> None:
            self._custom_only(name)
            object.__setattr__(self, attr, convert(value))

        return property(getter, setter)

    min = _custom_attr("min", "_min", float)
    max = _custom_attr("max", "_max", float)
    normMin = _custom_attr("normMin", "_norm_min", float)
    normMax = _custom_attr("normMax", "_norm_max", float)
    clampMin = _custom_attr("clampMin", "_clamp_min", bool)
    clampMax = _custom_attr("clampMax", "_clamp_max", bool)
    order = _custom_attr("order", "_order", float)
    startSection = _custom_attr("startSection", "_start_section", bool)
    enable = _custom_attr("enable", "_enable", bool)
    help = _custom_attr("help", "_help", str)
    del _custom_attr

    @property
    def readOnly(self) -> bool:
        return self._read_only

    @readOnly.setter
    def readOnly(self, value: bool) -> None:
        self._check()
        self._read_only = bool(value)

    # -- actions ---------------------------------------------------------------------------------------

    def pulse(self, value: Any = 1, frames: int = 0, seconds: float = 0) -> None:
        """A pulse parameter: its Parameter Execute ``onPulse``. Another parameter: set to ``value``,
        cook the owner, restore (after ``frames``/``seconds`` if given)."""
        self._check()
        if self._kind() == "pulse" or self._owner._fake_is_builtin_pulse(self):
            self._owner._fake_pulsed(self)
            return
        previous = self._val
        self.val = value
        self._owner.cook(force=True)
        delay = int(frames) + math.ceil(float(seconds) * 60)
        if delay > 0:
            self._owner._fake_session._fake_schedule(lambda: self._fake_set(previous), delay)
        else:
            self._fake_set(previous)

    def destroy(self) -> None:
        self._custom_only("destroy")
        self._owner._fake_remove_custom_pars(list(self._tuplet))

    # -- Python protocol (TouchDesigner's Par compares and converts as its value) -----------------------

    def __str__(self) -> str:
        return str(self.eval())

    def __int__(self) -> int:
        return int(self.eval())

    def __float__(self) -> float:
        return float(self.eval())

    def __bool__(self) -> bool:
        return bool(self.eval())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Par):
            return other is self
        return bool(self.eval() == other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = object.__hash__

    def __lt__(self, other: Any) -> bool:
        return bool(self.eval() < _plain(other))

    def __le__(self, other: Any) -> bool:
        return bool(self.eval() <= _plain(other))

    def __gt__(self, other: Any) -> bool:
        return bool(self.eval() > _plain(other))

    def __ge__(self, other: Any) -> bool:
        return bool(self.eval() >= _plain(other))

    def __add__(self, other: Any) -> Any:
        return self.eval() + _plain(other)

    def __radd__(self, other: Any) -> Any:
        return _plain(other) + self.eval()

    def __sub__(self, other: Any) -> Any:
        return self.eval() - _plain(other)

    def __rsub__(self, other: Any) -> Any:
        return _plain(other) - self.eval()

    def __mul__(self, other: Any) -> Any:
        return self.eval() * _plain(other)

    def __rmul__(self, other: Any) -> Any:
        return _plain(other) * self.eval()

    def __truediv__(self, other: Any) -> Any:
        return self.eval() / _plain(other)

    def __rtruediv__(self, other: Any) -> Any:
        return _plain(other) / self.eval()

    def __neg__(self) -> Any:
        return -self.eval()

    def __repr__(self) -> str:
        return f"<Par {self._owner.path}:{self._name} {self._mode.name.lower()} {self._val!r}>"


def _plain(value: Any) -> Any:
    return value.eval() if isinstance(value, Par) else value


class ParGroup(tuple, TDObject):  # type: ignore[type-arg]
    """The tuple of parameters an append method creates (``page.appendXY('Pos')`` -> Posx, Posy)."""

    _td_api: ClassVar[tuple[str, ...]] = ("ParGroup",)

    def __new__(cls, pars: Iterable[Par]) -> ParGroup:
        return super().__new__(cls, tuple(pars))

    def _fake_where(self) -> str:
        return f"ParGroup {self[0].name if self else ''}"


class ParCollection(TDObject):
    """``op.par``: parameters by attribute (``op.par.port``) or item (``op.par['port']``). Assigning
    sets the value, as in TouchDesigner (``op.par.port = 7000`` is ``op.par.port.val = 7000``)."""

    _td_api: ClassVar[tuple[str, ...]] = ("ParCollection",)

    def __init__(self, owner: OP) -> None:
        self._owner = owner

    @property
    def owner(self) -> OP:
        return self._owner

    def _fake_where(self) -> str:
        return f"{self._owner._fake_where()}.par"

    def __getattr__(self, name: str) -> Par:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._owner._fake_par(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        self._owner._fake_par(name, setting=True)._fake_set(value)

    def __getitem__(self, name: str) -> Par:
        return self._owner._fake_par(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self._owner._fake_par(name, setting=True)._fake_set(value)


_DEFAULTS_BY_KIND: dict[str, Any] = {
    "toggle": False,
    "pulse": False,
    "int": 0,
    "float": 0.0,
    "str": "",
    "op": "",
}


def default_for(style: str | None) -> Any:
    kind = kind_of(style)
    return "" if kind == "menu" else _DEFAULTS_BY_KIND.get(kind)


class Page(TDObject):
    """A custom parameter page (``comp.appendCustomPage('Settings')``)."""

    _td_api: ClassVar[tuple[str, ...]] = ("Page",)

    def __init__(self, owner: OP, name: str) -> None:
        self._owner = owner
        self._name = name
        self._pars: list[Par] = []
        self._valid = True

    def _fake_where(self) -> str:
        return f"{self._owner._fake_where()} page {self._name!r}"

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)

    @property
    def owner(self) -> OP:
        return self._owner

    @property
    def pars(self) -> list[Par]:
        return list(self._pars)

    @property
    def parGroups(self) -> list[ParGroup]:
        groups: list[ParGroup] = []
        for par in self._pars:
            if par._tuplet[0] is par:
                groups.append(ParGroup(par._tuplet))
        return groups

    @property
    def index(self) -> int:
        return self._owner.customPages.index(self)

    @property
    def isCustom(self) -> bool:
        return True

    def _fake_append(
        self, style: str, name: str, label: str | None, size: int, order: float | None, replace: bool
    ) -> ParGroup:
        if not self._valid:
            raise TDError(f"{self._fake_where()} was destroyed")
        if not isinstance(name, str) or not CUSTOM_NAME.match(name):
            raise TDError(
                f"invalid custom parameter name {name!r} on {self._owner.path}: custom parameter names start"
                " with an uppercase letter followed by lowercase letters and digits only"
                " (e.g. 'Port', 'Batch2')"
            )
        if not 1 <= int(size) <= 4:
            raise TDError(f"{self._fake_where()}: size must be 1 to 4, not {size}")
        if style in _VECTOR_SUFFIXES:
            names = [name + suffix for suffix in _VECTOR_SUFFIXES[style]]
        elif int(size) > 1:
            names = [f"{name}{i}" for i in range(1, int(size) + 1)]
        else:
            names = [name]
        existing = [p for p in self._owner.customPars if p.name in names or p.tupletName == name]
        if existing:
            if not replace:
                raise TDError(f"{self._owner.path} already has a custom parameter {name!r} (replace=False)")
            self._owner._fake_remove_custom_pars(existing)
        default = default_for(style)
        pars = [
            Par(
                self._owner,
                n,
                style,
                page=self,
                label=label if label is not None else name,
                default=default,
                vec_index=i,
            )
            for i, n in enumerate(names)
        ]
        group = tuple(pars)
        base_order = float(order) if order is not None else float(len(self._pars))
        for par in pars:
            par._tuplet = group
            par._tuplet_name = name
            par._order = base_order
        self._pars.extend(pars)
        return ParGroup(pars)

    @staticmethod
    def _appender(style: str, sized: bool = False) -> Callable[..., ParGroup]:
        if sized:

            def append_sized(
                self: Page,
                name: str,
                label: str | None = None,
                size: int = 1,
                order: float | None = None,
                replace: bool = True,
            ) -> ParGroup:
                return self._fake_append(style, name, label, size, order, replace)

            method = append_sized
        else:

            def append(
                self: Page,
                name: str,
                label: str | None = None,
                order: float | None = None,
                replace: bool = True,
            ) -> ParGroup:
                return self._fake_append(style, name, label, 1, order, replace)

            method = append
        method.__name__ = method.__qualname__ = f"append{style}"
        method.__doc__ = f"Create a custom {style} parameter (Page Class append{style})."
        return method

    appendInt = _appender("Int", sized=True)
    appendFloat = _appender("Float", sized=True)
    appendStr = _appender("Str")
    appendStrMenu = _appender("StrMenu")
    appendMenu = _appender("Menu")
    appendToggle = _appender("Toggle")
    appendPulse = _appender("Pulse")
    appendMomentary = _appender("Momentary")
    appendFile = _appender("File")
    appendFolder = _appender("Folder")
    appendHeader = _appender("Header")
    appendPython = _appender("Python")
    appendOP = _appender("OP")
    appendCOMP = _appender("COMP")
    appendPanelCOMP = _appender("PanelCOMP")
    appendOBJ = _appender("OBJ")
    appendDAT = _appender("DAT")
    appendCHOP = _appender("CHOP")
    appendTOP = _appender("TOP")
    appendSOP = _appender("SOP")
    appendMAT = _appender("MAT")
    appendXY = _appender("XY")
    appendXYZ = _appender("XYZ")
    appendWH = _appender("WH")
    appendUV = _appender("UV")
    appendUVW = _appender("UVW")
    appendRGB = _appender("RGB")
    appendRGBA = _appender("RGBA")

    def sort(self, *parameters: Par | str) -> None:
        """Reorder the page's parameters: the named ones first, in the given order."""
        wanted = [p if isinstance(p, str) else p.name for p in parameters]
        by_name = {p.name: p for p in self._pars}
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise reference.unknown("parameter", unknown[0], by_name, self._fake_where())
        first = [by_name[n] for n in wanted]
        self._pars = first + [p for p in self._pars if p not in first]

    def destroy(self) -> None:
        self._owner._fake_remove_custom_pars(list(self._pars))
        self._owner._fake_remove_page(self)
        self._valid = False

    def __repr__(self) -> str:
        return f"<Page {self._owner.path}:{self._name}>"


__all__ = ["Page", "Par", "ParCollection", "ParGroup", "ParMode", "default_for", "kind_of"]
