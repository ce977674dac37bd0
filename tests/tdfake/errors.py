"""The two ways the fake fails: a name TouchDesigner does not have, or a use TouchDesigner rejects."""

from __future__ import annotations


class UnknownTDName(AssertionError, AttributeError):
    """A name (operator type, parameter, menu token, API member) that is not in the TouchDesigner
    reference data. It is an AssertionError so that it fails a test loudly, and an AttributeError so
    that ``hasattr``/``getattr(x, name, default)`` behave as they do on TouchDesigner's own objects."""


class TDError(AssertionError):
    """Stands for ``td.tdError``: what TouchDesigner itself refuses at run time (an invalid custom
    parameter name, a read-only member, a value of the wrong type, a destroyed operator...)."""


class NotModeled(NotImplementedError):
    """A documented TouchDesigner member or behaviour that the fake does not implement. Not a bug
    in the code under test: extend the fake if the code needs it."""
