"""The fake TouchDesigner session: the root network, the td module globals, frames, delayed runs and the
callbacks TouchDesigner calls (Execute, Parameter Execute, OSC In, Script CHOP).

Methods of :class:`TouchDesigner` are test helpers, not TouchDesigner API; the objects it holds
(``project``, ``app``, ``absTime``, the operators) are strict fakes of TouchDesigner's classes.
"""

from __future__ import annotations

import builtins
import fnmatch
import inspect
import linecache
import math
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from . import osc, reference
from .base import TDObject
from .errors import NotModeled, TDError
from .ops import (
    COMP,
    DAT,
    FAMILY_CLASSES,
    OP,
    OPERATOR_CLASSES,
    PanelCOMP,
    Peer,
    executeDAT,
    oscinDAT,
    parameterexecuteDAT,
)
from .params import Par, ParMode

TD_MODULE = "https://docs.derivative.ca/Td_Module"
PYTHON_CLASSES = "https://docs.derivative.ca/Python_Classes_and_Modules"

#: Every name TouchDesigner puts into a DAT's script or module namespace, with the page documenting it.
#: Operator classes (one per operator type of operators.json) "do exist in the td module" (Python Classes
#: and Modules page).
TD_GLOBALS: dict[str, str] = {
    "me": TD_MODULE,
    "op": TD_MODULE,
    "parent": TD_MODULE,
    "project": TD_MODULE + " (Project Class: https://docs.derivative.ca/Project_Class)",
    "app": TD_MODULE + " (App Class: https://docs.derivative.ca/App_Class)",
    "absTime": TD_MODULE + " (AbsTime Class: https://docs.derivative.ca/AbsTime_Class)",
    "run": TD_MODULE + " (https://derivative.ca/UserGuide/Run_Command_Examples)",
    "debug": TD_MODULE,
    "ext": TD_MODULE,
    "mod": TD_MODULE + " (MOD Class: https://docs.derivative.ca/MOD_Class)",
    "ParMode": "https://docs.derivative.ca/Par_Class#mode",
    **{name: PYTHON_CLASSES for name in ("OP", "COMP", "PanelCOMP", "CHOP", "DAT", "TOP", "SOP", "MAT")},
    **{optype: TD_MODULE for optype in OPERATOR_CLASSES},
}

_FAMILY_GLOBALS: dict[str, type] = {name: cls for name, cls in FAMILY_CLASSES.items() if name != "POP"}
_FAMILY_GLOBALS["OP"] = OP
_FAMILY_GLOBALS["PanelCOMP"] = PanelCOMP


class Project(TDObject):
    _td_api: ClassVar[tuple[str, ...]] = ("Project",)

    def __init__(self, folder: Path, name: str) -> None:
        self._folder = folder
        self._name = name

    @property
    def folder(self) -> str:
        return str(self._folder)

    @property
    def name(self) -> str:
        return self._name

    @property
    def cookRate(self) -> float:
        return float(TouchDesigner.FPS)

    @property
    def realTime(self) -> bool:
        return True


class App(TDObject):
    """``pythonExecutable`` is the Python running the tests: it stands for the CPython TouchDesigner
    ships (3.11 in 2023 and 2025 builds), ``binFolder`` for the folder beside it."""

    _td_api: ClassVar[tuple[str, ...]] = ("App",)

    def __init__(
        self, version: str, build: str, os_name: str, os_version: str, python_executable: str
    ) -> None:
        self._version, self._build, self._os_name, self._os_version = version, build, os_name, os_version
        self._python = python_executable

    @property
    def pythonExecutable(self) -> str:
        return self._python

    @property
    def binFolder(self) -> str:
        return str(Path(self._python).parent)

    @property
    def version(self) -> str:
        return self._version

    @property
    def build(self) -> str:
        return self._build

    @property
    def osName(self) -> str:
        return self._os_name

    @property
    def osVersion(self) -> str:
        return self._os_version

    @property
    def product(self) -> str:
        return "TouchDesigner"


class AbsTime(TDObject):
    _td_api: ClassVar[tuple[str, ...]] = ("AbsTime",)

    def __init__(self) -> None:
        self._frame = 0

    @property
    def frame(self) -> int:
        return self._frame

    @property
    def seconds(self) -> float:
        return self._frame / TouchDesigner.FPS

    @property
    def step(self) -> int:
        return 1

    @property
    def stepSeconds(self) -> float:
        return 1 / TouchDesigner.FPS


class Run(TDObject):
    """A delayed script from ``run(...)`` or ``dat.run(..., delayFrames=...)``."""

    _td_api: ClassVar[tuple[str, ...]] = ("Run",)

    def __init__(self, source: Any, args: tuple[Any, ...], owner: OP, due: int, group: str | None) -> None:
        self._source = source
        self._args = args
        self._owner = owner
        self._due = due
        self._group = group
        self._active = True
        self._killed = False
        self._session: TouchDesigner = owner._fake_session

    @property
    def active(self) -> bool:
        return self._active

    @active.setter
    def active(self, value: bool) -> None:
        self._active = bool(value)

    @property
    def group(self) -> str | None:
        return self._group

    @group.setter
    def group(self, value: str | None) -> None:
        self._group = value

    @property
    def source(self) -> Any:
        return self._source

    @property
    def isDAT(self) -> bool:
        return isinstance(self._source, DAT)

    @property
    def isString(self) -> bool:
        return isinstance(self._source, str)

    @property
    def isCell(self) -> bool:
        return False

    @property
    def path(self) -> OP:
        return self._owner

    @property
    def remainingFrames(self) -> int:
        return max(self._due - self._session.absTime.frame, 0)

    @remainingFrames.setter
    def remainingFrames(self, value: int) -> None:
        self._due = self._session.absTime.frame + int(value)

    @property
    def remainingMilliseconds(self) -> float:
        return self.remainingFrames * 1000 / TouchDesigner.FPS

    def kill(self) -> None:
        self._killed = True


class OPFinder(TDObject):
    """The global ``op``: ``op('path')`` relative to the operator whose code runs."""

    def __init__(self, owner: OP) -> None:
        self._owner = owner

    def __call__(self, *paths: Any) -> OP | None:
        for path in paths:
            found = self._owner.op(path)
            if found is not None:
                return found
        return None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotModeled(f"op.{name}: Global OP Shortcuts (op.Name) are not modeled by the fake")


class MOD(TDObject):
    """``mod.name`` / ``mod('path')``: the module of a DAT (next to the caller, else in local/modules of
    a parent COMP)."""

    _td_api: ClassVar[tuple[str, ...]] = ("MOD",)

    def __init__(self, owner: OP) -> None:
        self._owner = owner

    def __call__(self, path: str) -> Any:
        found = self._owner.op(path)
        if not isinstance(found, DAT):
            raise ModuleNotFoundError(f"mod({path!r}): no DAT at {path!r} from {self._owner.path}")
        return found.module

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        node: OP | None = self._owner._fake_base()
        while node is not None:
            for candidate in (name, f"local/modules/{name}"):
                found = node.op(candidate)
                if isinstance(found, DAT):
                    return found.module
            node = node._parent
        raise ModuleNotFoundError(
            f"mod.{name}: no DAT named {name!r} next to {self._owner.path}"
            " nor in local/modules of its parents"
        )


def _positional(function: Callable[..., Any]) -> tuple[int, int, bool]:
    """(required, accepted, has *args) positional parameter counts."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = list(inspect.signature(function).parameters.values())
    positional = [p for p in params if p.kind in kinds]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    return len(required), len(positional), any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)


class TouchDesigner:
    """A fake TouchDesigner session.

    ``TouchDesigner(tmp_path)`` holds ``root`` (``/``) with a ``/project1`` Container COMP, ``project``
    (``folder`` is the given folder), ``app``, ``absTime``; ``build="legacy"`` swaps the COMP Extensions
    page for the fixed-slot parameters of old builds (extension1, extname1, promoteextension1);
    ``build="2025"`` applies the 2025 differences of common_pages.json (an Extension sequence without a
    block on fresh COMPs, the Text TOP's ``combineinput``). ``windows_processes=True`` runs DAT code with
    Windows' process behaviour (:mod:`tests.tdfake.windows`).
    """

    FPS: ClassVar[int] = 60

    def __init__(
        self,
        project_folder: str | Path,
        *,
        build: str = "current",
        project_name: str = "fake_project.toe",
        app_version: str | None = None,
        app_build: str | None = None,
        os_name: str = "Windows",
        os_version: str = "10",
        python_executable: str = sys.executable,
        windows_processes: bool = False,
    ) -> None:
        if build not in reference.BUILDS:
            raise ValueError(f"build must be one of {reference.BUILDS}, not {build!r}")
        self.build = build
        self._ids = 0
        self._runs: list[Run] = []
        self._dispatching: set[tuple[int, int]] = set()
        self._builtins: Any = builtins
        #: With ``windows_processes``: every process DAT code started (``WindowsPopen``), in order.
        self.fake_processes: list[Any] = []
        if windows_processes:
            from .windows import windows_import

            self._builtins = {**vars(builtins), "__import__": windows_import(self.fake_processes)}
        self.project = Project(Path(project_folder), project_name)
        version, default_build = {"legacy": ("2021", "16410"), "2025": ("2025", "32280")}.get(
            build, ("2023", "12370")
        )
        self.app = App(
            app_version or version, app_build or default_build, os_name, os_version, python_executable
        )
        self.absTime = AbsTime()
        root = OPERATOR_CLASSES["baseCOMP"](self, None, "", "baseCOMP")
        assert isinstance(root, COMP)
        self.root: COMP = root
        self.root.create("containerCOMP", "project1")

    # -- looking at the network (test helpers) -----------------------------------------------------------

    def op(self, path: str) -> OP | None:
        """The operator at an absolute path (or relative to ``/``)."""
        return self.root.op(path)

    def walk(self, start: OP | None = None) -> Iterator[OP]:
        """Every operator under ``start`` (default ``/``), depth first, in creation order."""
        node = start or self.root
        for child in node.children:
            yield child
            yield from self.walk(child)

    def describe(self, node: OP) -> dict[str, Any]:
        """What ``node.save()`` would write, as data."""
        from .tox import describe

        return describe(node)

    def load_text_dat(
        self, file: str | Path, parent: str | COMP = "/project1", name: str | None = None
    ) -> DAT:
        """What dropping a text file into a network does: a Text DAT named after the file, its File
        parameter set to the path and its text loaded."""
        comp = self.op(parent) if isinstance(parent, str) else parent
        if not isinstance(comp, COMP):
            raise TDError(f"no COMP at {parent!r}")
        path = Path(file)
        dat = comp.create("textDAT", name or path.stem.replace("-", "_").replace(".", "_"))
        assert isinstance(dat, DAT)
        dat.par.file = str(path)
        dat.text = path.read_text(encoding="utf-8")
        return dat

    # -- the td module namespace -----------------------------------------------------------------------

    def globals_for(self, owner: OP) -> dict[str, Any]:
        """The names a DAT's script or module sees (and a parameter expression of ``owner``)."""
        values: dict[str, Any] = {
            "me": owner,
            "op": OPFinder(owner),
            "parent": owner.parent,
            "project": self.project,
            "app": self.app,
            "absTime": self.absTime,
            "run": self._td_run(owner),
            "debug": self._td_debug(owner),
            "ext": owner.ext,
            "mod": MOD(owner),
            "ParMode": ParMode,
            **_FAMILY_GLOBALS,
            **OPERATOR_CLASSES,
        }
        assert values.keys() == TD_GLOBALS.keys(), set(values) ^ set(TD_GLOBALS)
        return {"__builtins__": self._builtins, **values}

    def _td_run(self, owner: OP) -> Callable[..., Run]:
        def run(
            script: Any,
            *args: Any,
            endFrame: bool = False,
            fromOP: OP | None = None,
            asParameter: bool = False,
            group: str | None = None,
            delayFrames: int = 0,
            delayMilliSeconds: float = 0,
            delayRef: OP | None = None,
        ) -> Run:
            """td.run: queue ``script`` (a string or a callable) for a later frame."""
            result = self._fake_run(
                script,
                args,
                owner=fromOP or owner,
                endFrame=endFrame,
                group=group,
                delayFrames=delayFrames,
                delayMilliSeconds=delayMilliSeconds,
                immediate=False,
            )
            assert isinstance(result, Run)
            return result

        return run

    @staticmethod
    def _td_debug(owner: OP) -> Callable[..., None]:
        def debug(*args: Any) -> None:
            caller = inspect.currentframe()
            line = caller.f_back.f_lineno if caller is not None and caller.f_back is not None else 0
            print(*args, f"({owner.path} line {line})")

        return debug

    def _fake_eval(self, expression: str, owner: OP, par: Par | None = None) -> Any:
        try:
            return eval(expression, self.globals_for(owner))
        except Exception as exc:
            where = f"parameter {par.name!r} of {owner.path}" if par is not None else owner.path
            exc.add_note(f"while evaluating the expression {expression!r} for {where}")
            raise

    def _fake_module(self, dat: DAT) -> Any:
        text = dat.text
        if dat._module_cache is not None and dat._module_cache[0] == text:
            return dat._module_cache[1]
        module = types.ModuleType(dat.name)
        module.__dict__.update(self.globals_for(dat))
        filename = f"<td {dat.path}>"
        linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
        exec(compile(text, filename, "exec"), module.__dict__)
        dat._module_cache = (text, module)
        return module

    def run_script(self, dat: DAT, *args: Any) -> dict[str, Any]:
        """TouchDesigner's "Run Script" on a DAT: its text runs with the td globals, ``me`` the DAT and
        ``args`` the given arguments. Returns the script's namespace."""
        if not isinstance(dat, DAT):
            raise TDError(f"run_script needs a DAT, not {dat!r}")
        namespace = self.globals_for(dat) | {"args": args}
        filename = f"<td {dat.path}>"
        text = dat.text
        linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
        exec(compile(text, filename, "exec"), namespace)
        return namespace

    # -- delayed runs and frames -----------------------------------------------------------------------

    def _fake_next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _fake_by_id(self, wanted: int) -> OP | None:
        return next((node for node in [self.root, *self.walk()] if node.id == wanted), None)

    def _fake_run(
        self,
        source: Any,
        args: tuple[Any, ...],
        *,
        owner: OP,
        endFrame: bool,
        group: str | None,
        delayFrames: int,
        delayMilliSeconds: float,
        immediate: bool,
    ) -> Any:
        delay = max(int(delayFrames), 0) + math.ceil(max(float(delayMilliSeconds), 0.0) * self.FPS / 1000)
        if immediate and delay == 0 and not endFrame:
            return self._execute(source, args, owner)
        run = Run(source, args, owner, self.absTime.frame + delay, group)
        self._runs.append(run)
        return run

    def _fake_schedule(self, action: Callable[[], Any], frames: int) -> None:
        self._runs.append(Run(action, (), self.root, self.absTime.frame + frames, None))

    def _execute(self, source: Any, args: tuple[Any, ...], owner: OP) -> Any:
        if isinstance(source, DAT):
            return (
                self.run_script(source, *args)
                if owner is source
                else self._exec_text(source.text, args, owner)
            )
        if callable(source):
            return source(*args)
        if isinstance(source, str):
            return self._exec_text(source, args, owner)
        raise TDError(f"run() needs a script string, a callable or a DAT, not {source!r}")

    def _exec_text(self, text: str, args: tuple[Any, ...], owner: OP) -> None:
        exec(compile(text, f"<td run from {owner.path}>", "exec"), self.globals_for(owner) | {"args": args})

    def _run_due(self) -> None:
        due = [r for r in self._runs if r._due <= self.absTime.frame]
        for run in due:
            self._runs.remove(run)
            if run._active and not run._killed:
                self._execute(run._source, run._args, run._owner)

    @property
    def runs(self) -> list[Run]:
        """The delayed runs still waiting."""
        return [r for r in self._runs if not r._killed]

    def frame(self, n: int = 1) -> None:
        """Advance ``n`` frames (60 fps). Each: the runs queued for the end of the previous frame, the
        frame's due runs, then ``onFrameStart(frame)`` and ``onFrameEnd(frame)`` of the active Execute
        DATs whose Frame Start/Frame End toggle is on."""
        for _ in range(n):
            self._run_due()
            self.absTime._frame += 1
            self._run_due()
            frame = self.absTime.frame
            for _dat, function in self._execute_callbacks("framestart", "onFrameStart"):
                self._fake_callback("executeDAT", "onFrameStart", function, frame=frame)
            for _dat, function in self._execute_callbacks("frameend", "onFrameEnd"):
                self._fake_callback("executeDAT", "onFrameEnd", function, frame=frame)

    def start(self) -> None:
        """What opening the project does: extensions of COMPs with Init Extensions On Start are
        initialized, then ``onStart()`` of the Execute DATs whose Start toggle is on."""
        for node in list(self.walk()):
            if isinstance(node, COMP) and node._fake_extension_slots():
                on_start = "initextonstart" not in node._specs or bool(node.par.initextonstart.eval())
                if on_start:
                    node.initializeExtensions()
        for _dat, function in self._execute_callbacks("start", "onStart"):
            self._fake_callback("executeDAT", "onStart", function)

    def exit(self) -> None:
        """What quitting TouchDesigner does: ``onExit()`` of the Execute DATs whose Exit toggle is on."""
        for _dat, function in self._execute_callbacks("exit", "onExit"):
            self._fake_callback("executeDAT", "onExit", function)

    def reopen(self) -> None:
        """Save the project, quit, open it again: :meth:`exit`; every operator keeps what the file holds
        (parameters, DAT contents, wires) and its storage as saved (startup values in place of stored
        ones, values copied through pickle); Python state is gone (DAT modules run anew, extensions are
        re-created, delayed runs dropped, the timeline back at frame 0); then :meth:`start`."""
        self.exit()
        for node in [self.root, *self.walk()]:
            node._storage = node._fake_saved_storage()
            if isinstance(node, DAT):
                node._module_cache = None
            if isinstance(node, COMP):
                node._extensions = []
        self._runs.clear()
        self.absTime._frame = 0
        self.start()

    def _execute_callbacks(self, toggle: str, callback: str) -> list[tuple[executeDAT, Callable[..., Any]]]:
        found = []
        for node in list(self.walk()):
            if isinstance(node, executeDAT) and node.par.active.eval() and node.par[toggle].eval():
                function = getattr(node.module, callback, None)
                if function is not None:
                    found.append((node, function))
        return found

    # -- callbacks --------------------------------------------------------------------------------------

    def _fake_callback(
        self, owner_type: str, callback: str, function: Callable[..., Any], **values: Any
    ) -> Any:
        """Call ``function`` as TouchDesigner calls ``callback``: positionally, with the documented
        argument list that fits its parameters (for onValueChange: ``(par, prev)`` for two parameters,
        ``(par, val, prev)`` for three or ``*args``)."""
        documented = reference.callback_args(owner_type, callback)
        required, accepted, var = _positional(function)
        fitting = [names for names in documented if required <= len(names) <= accepted]
        if not fitting and var:
            fitting = [names for names in documented if len(names) >= required]
        exact = [names for names in fitting if len(names) == accepted]
        if not fitting:
            shown = " or ".join(f"{callback}({', '.join(names)})" for names in documented)
            raise TDError(
                f"{callback} of {function.__module__} takes {accepted} arguments; TouchDesigner calls {shown}"
            )
        names = (exact or fitting)[0]
        missing = [n for n in names if n not in values]
        if missing:
            raise AssertionError(f"fake bug: no value for {missing} of {callback}")
        return function(*(values[n] for n in names))

    def _watching(self, par: Par) -> Iterator[parameterexecuteDAT]:
        for node in list(self.walk()):
            if not isinstance(node, parameterexecuteDAT) or not node.par.active.eval():
                continue
            if par.owner not in node.par.op.evalOPs():
                continue
            if not (node.par.custom.eval() if par.isCustom else node.par.builtin.eval()):
                continue
            patterns = str(node.par.pars.eval() or "").split()
            if any(fnmatch.fnmatchcase(par.name, pattern) for pattern in patterns):
                yield node

    def _parexec(self, node: parameterexecuteDAT, callback: str, par: Par, **values: Any) -> None:
        key = (id(node), id(par))
        if key in self._dispatching:  # a callback changing its own parameter: TouchDesigner batches it
            return
        function = getattr(node.module, callback, None)
        if function is None:
            return
        self._dispatching.add(key)
        try:
            self._fake_callback("parameterexecuteDAT", callback, function, par=par, **values)
        finally:
            self._dispatching.discard(key)

    def _fake_parameter_changed(self, par: Par, prev: Any, old_mode: ParMode, old_expr: str | None) -> None:
        watchers = list(self._watching(par))
        if not watchers:
            return
        new = par._safe_eval()
        for node in watchers:
            if old_expr is not None and old_expr != par.expr and node.par.expressionchange.eval():
                self._parexec(node, "onExpressionChange", par, val=par.expr, prev=old_expr)
            if old_mode is not par.mode and node.par.modechange.eval():
                self._parexec(node, "onModeChange", par, val=par.mode, prev=old_mode)
            if new != prev and node.par.valuechange.eval():
                self._parexec(node, "onValueChange", par, val=new, prev=prev)

    def _fake_parameter_pulsed(self, par: Par) -> None:
        for node in list(self._watching(par)):
            if node.par.onpulse.eval():
                self._parexec(node, "onPulse", par)

    # -- what a user does (test helpers) ----------------------------------------------------------------

    def set_par(self, par: Par, value: Any) -> None:
        """A user edits a parameter in the parameter dialog: refused when it is read-only or disabled."""
        if par.readOnly or not par.enable:
            raise TDError(
                f"{par.owner.path}:{par.name} is {'read-only' if par.readOnly else 'disabled'} in the UI"
            )
        par.val = value

    def press(self, par: Par) -> None:
        """A user clicks a pulse button."""
        if not par.isPulse and not par.owner._fake_is_builtin_pulse(par):
            raise TDError(f"{par.owner.path}:{par.name} is not a pulse parameter ({par.style})")
        if par.readOnly or not par.enable:
            raise TDError(
                f"{par.owner.path}:{par.name} is {'read-only' if par.readOnly else 'disabled'} in the UI"
            )
        par.pulse()

    def deliver_osc(
        self,
        dat: OP,
        address: str,
        args: list[Any] | tuple[Any, ...] = (),
        *,
        peer: tuple[str, int] = ("127.0.0.1", 50000),
        timeStamp: float | None = None,
        data: bytes | None = None,
    ) -> int | None:
        """An OSC message arrives at an OSC In DAT: a row is added (Maximum Lines kept when Clamp Output
        is on) and its callbacks DAT's ``onReceiveOSC(dat, rowIndex, message, bytes, timeStamp,
        address, args, peer)`` is called. Returns the row index; None when the DAT is not Active."""
        if not isinstance(dat, oscinDAT):
            raise TDError(f"deliver_osc needs an OSC In DAT, not {dat!r}")
        if not dat.par.active.eval():
            return None
        values = list(args)
        encoded = data if data is not None else osc.encode_message(address, values).dgram
        row, message = dat._fake_append_message(address, values)
        callbacks = dat.par.callbacks.eval()
        function = getattr(callbacks.module, "onReceiveOSC", None) if callbacks is not None else None
        if function is not None:
            self._fake_callback(
                "oscinDAT",
                "onReceiveOSC",
                function,
                dat=dat,
                rowIndex=row,
                message=message,
                bytes=encoded,
                byteData=encoded,
                timeStamp=self.absTime.seconds if timeStamp is None else timeStamp,
                address=address,
                args=values,
                peer=Peer(dat, *peer),
            )
        return row

    def deliver_websocket_text(self, dat: OP, message: str) -> int | None:
        """A text message arrives at a WebSocket DAT: a row is added (Maximum Lines kept when Clamp
        Output is on) and its callbacks DAT's ``onReceiveText(dat, rowIndex, message)`` is called
        (Derivative's WebSocket DAT page). Returns the row index; None when the DAT is not Active."""
        if dat.OPType != "websocketDAT":
            raise TDError(f"deliver_websocket_text needs a WebSocket DAT, not {dat!r}")
        if not dat.par.active.eval():
            return None
        rows = dat._rows  # type: ignore[attr-defined]
        rows.append([message])
        limit = int(dat.par.maxlines.eval()) if dat.par.clamp.eval() else 0
        if limit > 0:
            del rows[: max(len(rows) - limit, 0)]
        row = len(rows) - 1
        callbacks = dat.par.callbacks.eval()
        function = getattr(callbacks.module, "onReceiveText", None) if callbacks is not None else None
        if function is not None:
            self._fake_callback(
                "websocketDAT", "onReceiveText", function, dat=dat, rowIndex=row, message=message
            )
        return row

    def deliver_osc_packet(
        self, dat: OP, datagram: bytes, *, peer: tuple[str, int] = ("127.0.0.1", 50000)
    ) -> list[int | None]:
        """A UDP datagram arrives at an OSC In DAT: each of its messages (a bundle's in order, as with
        Split Bundle into Messages on) is delivered as by :meth:`deliver_osc`."""
        if not isinstance(dat, oscinDAT):
            raise TDError(f"deliver_osc_packet needs an OSC In DAT, not {dat!r}")
        if not dat.par.splitbundle.eval():
            raise NotModeled("the fake delivers bundles split into messages only (turn splitbundle on)")
        return [self.deliver_osc(dat, a, v, peer=peer, data=m) for a, v, m in osc.decode(datagram)]


__all__ = ["MOD", "TD_GLOBALS", "AbsTime", "App", "OPFinder", "Project", "Run", "TouchDesigner"]
