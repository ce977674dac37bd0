"""The strict base of every fake TouchDesigner class: a public name that the fake does not define fails
loudly, as UnknownTDName when TouchDesigner does not have it either, as NotModeled when it is documented
API the fake leaves out. Setting an attribute that is not a settable member fails the same way."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from . import reference
from .errors import NotModeled, TDError, UnknownTDName


def public_names(cls: type) -> list[str]:
    return sorted(name for name in dir(cls) if not name.startswith("_"))


class TDObject:
    """``_td_api`` names the reference classes documenting the fake class (python_api.json classes with
    their bases, or ``python:<key>`` sections of common_pages.json). Test helpers are ``fake_*``."""

    _td_api: ClassVar[tuple[str, ...]] = ()

    def _fake_where(self) -> str:
        return type(self).__name__

    def _fake_missing(self, name: str) -> Exception:
        documented = reference.members_of(type(self)._td_api)
        if name in documented:
            member = documented[name]
            return NotModeled(
                f"{self._fake_where()}.{name} is documented TouchDesigner API ({', '.join(member.sources)})"
                " that the fake does not model: extend tests/tdfake if the code needs it"
            )
        return reference.unknown("member", name, public_names(type(self)), self._fake_where())

    def __getattr__(self, name: str) -> Any:
        # Only called when the normal lookup failed.
        if name.startswith("_"):
            raise AttributeError(name)
        raise self._fake_missing(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        attr = inspect.getattr_static(type(self), name, None)
        if isinstance(attr, property):
            if attr.fset is None:
                raise TDError(f"{self._fake_where()}.{name} is read only")
            attr.fset(self, value)
            return
        if attr is not None:
            raise TDError(f"{self._fake_where()}.{name} cannot be assigned")
        self._fake_setattr_missing(name, value)

    def _fake_setattr_missing(self, name: str, value: Any) -> None:
        error = self._fake_missing(name)
        if isinstance(error, UnknownTDName):
            raise UnknownTDName(f"cannot set {error}")
        raise error
