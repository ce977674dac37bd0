"""Windows process behaviour, for the DAT code of a fake session made with ``windows_processes=True``:
its ``import sys, os, signal, subprocess`` get stand-ins where ``sys.platform`` is ``"win32"``,
``subprocess.Popen`` takes Windows creation flags and the child's signals behave as they do on Windows.
The child is a real process of this machine; only what Windows does differently is modelled.

What Windows does, and where it is written:

- ``Popen.send_signal``: "On Windows, SIGTERM is an alias for terminate(). CTRL_C_EVENT and
  CTRL_BREAK_EVENT can be sent to processes started with a creationflags parameter which includes
  CREATE_NEW_PROCESS_GROUP"; any other signal raises ValueError (Python's subprocess documentation).
- Those two events go through ``GenerateConsoleCtrlEvent``, which "sends a specified signal to a console
  process group that shares the console associated with the calling process" (Microsoft's Win32
  documentation). TouchDesigner is a window program without a console, and a child started with
  ``CREATE_NO_WINDOW`` has none either: the event reaches nobody. The fake records it and does nothing.
- ``Popen.terminate()`` and ``kill()``: "On Windows the Win32 API function TerminateProcess() is called
  to stop the child" (subprocess documentation): an abrupt end, no clean shutdown. The fake kills the
  child (SIGKILL).
- ``os.kill``: "The signal.CTRL_C_EVENT and signal.CTRL_BREAK_EVENT signals are special signals which can
  only be sent to console processes which share a common console window ... Any other value for sig will
  cause the process to be unconditionally killed by the TerminateProcess API" (Python's os
  documentation). ``CTRL_C_EVENT`` is 0, so ``os.kill(pid, 0)`` is no liveness check on Windows.
"""

from __future__ import annotations

import builtins
import os
import signal
import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = [
    "CREATE_NEW_PROCESS_GROUP",
    "CREATE_NO_WINDOW",
    "CTRL_BREAK_EVENT",
    "CTRL_C_EVENT",
    "WindowsPopen",
    "windows_import",
]

#: Win32 process creation flags (their values in Python's subprocess module on Windows).
CREATE_NEW_PROCESS_GROUP = 0x00000200
DETACHED_PROCESS = 0x00000008
CREATE_NO_WINDOW = 0x08000000
KNOWN_FLAGS = CREATE_NEW_PROCESS_GROUP | DETACHED_PROCESS | CREATE_NO_WINDOW
CTRL_C_EVENT = 0
CTRL_BREAK_EVENT = 1
CONSOLE_EVENTS = (CTRL_C_EVENT, CTRL_BREAK_EVENT)


class WindowsPopen(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen`` as on Windows. ``fake_creationflags`` are the flags it was given,
    ``fake_console_events`` the Ctrl+C/Ctrl+Break events sent to it (that reached nobody)."""

    def __init__(self, args: Any, *, creationflags: int = 0, **kwargs: Any) -> None:
        if creationflags & ~KNOWN_FLAGS:
            raise ValueError(f"the fake does not model the creation flags {creationflags & ~KNOWN_FLAGS:#x}")
        for posix_only in ("start_new_session", "preexec_fn", "process_group", "pass_fds", "user", "group"):
            if kwargs.get(posix_only):
                raise ValueError(f"{posix_only} is not supported on Windows platforms")
        self.fake_creationflags = creationflags
        self.fake_console_events: list[int] = []
        super().__init__(args, **kwargs)

    def send_signal(self, sig: int) -> None:
        if self.poll() is not None:
            return
        if sig in CONSOLE_EVENTS:
            self.fake_console_events.append(sig)  # GenerateConsoleCtrlEvent: no shared console
        elif sig == signal.SIGTERM:
            self.terminate()
        else:
            raise ValueError(f"Unsupported signal: {sig}")

    def terminate(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)  # TerminateProcess

    def kill(self) -> None:
        self.terminate()


def _windows_kill(pid: int, sig: int) -> None:
    if sig in CONSOLE_EVENTS:
        return  # GenerateConsoleCtrlEvent: no shared console, nobody hears it
    os.kill(pid, signal.SIGKILL)  # TerminateProcess


def _stand_in(module: types.ModuleType, **overrides: Any) -> types.ModuleType:
    """``module`` with ``overrides``; every other name is the real one."""

    class StandIn(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            return getattr(module, name)

    stand_in = StandIn(module.__name__)
    stand_in.__dict__.update(overrides)
    return stand_in


def windows_import(started: list[WindowsPopen]) -> Callable[..., Any]:
    """An ``__import__`` that gives DAT code Windows' ``sys``, ``os``, ``signal`` and ``subprocess``;
    the processes it starts are added to ``started``."""

    class Popen(WindowsPopen):
        def __init__(self, args: Any, **kwargs: Any) -> None:
            super().__init__(args, **kwargs)
            started.append(self)

    stand_ins = {
        "sys": _stand_in(sys, platform="win32"),
        "os": _stand_in(os, kill=_windows_kill),
        "signal": _stand_in(signal, CTRL_C_EVENT=CTRL_C_EVENT, CTRL_BREAK_EVENT=CTRL_BREAK_EVENT),
        "subprocess": _stand_in(
            subprocess,
            Popen=Popen,
            CREATE_NEW_PROCESS_GROUP=CREATE_NEW_PROCESS_GROUP,
            CREATE_NO_WINDOW=CREATE_NO_WINDOW,
            DETACHED_PROCESS=DETACHED_PROCESS,
        ),
    }

    def import_(
        name: str,
        globals: dict[str, Any] | None = None,
        locals: dict[str, Any] | None = None,
        fromlist: tuple[str, ...] = (),
        level: int = 0,
    ) -> Any:
        if level == 0 and name in stand_ins:
            return stand_ins[name]
        return builtins.__import__(name, globals, locals, fromlist, level)

    return import_
