"""The strict TouchDesigner fake (tests/tdfake): it cannot invent API, and it behaves as documented."""

from __future__ import annotations

import inspect
import json
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from tests.tdfake import (
    COMP,
    DAT,
    FAMILY_PAGES,
    OPERATOR_CLASSES,
    TD_GLOBALS,
    NotModeled,
    ParMode,
    TDError,
    TouchDesigner,
    UnknownTDName,
    reference,
)
from tests.tdfake.base import TDObject, public_names
from tests.tdfake.ops import SPECIFIC_CLASSES

# -- the fake cannot invent API ----------------------------------------------------------------------------


def _fake_classes() -> Iterator[type[TDObject]]:
    seen: set[type] = set()
    todo = list(TDObject.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            todo.extend(cls.__subclasses__())
            yield cls


#: The classes that define members; the class made for each other operator type only inherits.
GENERATED = {cls for optype, cls in OPERATOR_CLASSES.items() if optype not in SPECIFIC_CLASSES}
DEFINING = sorted((c for c in _fake_classes() if c not in GENERATED), key=lambda c: c.__name__)


def _inherited_from_python(cls: type, name: str) -> bool:
    """tuple's count/index on ParGroup (documented base 'tuple'), enum machinery on ParMode."""
    owner = next((k for k in cls.__mro__ if name in vars(k)), None)
    return owner is not None and owner.__module__ == "builtins"


def _parameters(function: Any) -> tuple[list[str], list[str]]:
    """(every parameter name with * / ** marks, positional-or-keyword names in order)."""
    names, ordered = [], []
    for par in list(inspect.signature(function).parameters.values())[1:]:
        if par.kind is inspect.Parameter.VAR_POSITIONAL:
            names.append("*" + par.name)
        elif par.kind is inspect.Parameter.VAR_KEYWORD:
            names.append("**" + par.name)
        else:
            names.append(par.name)
            if par.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
                ordered.append(par.name)
    return names, ordered


def undocumented_members(cls: type, api: tuple[str, ...]) -> list[str]:
    documented = reference.members_of(api)
    problems = []
    for name in public_names(cls):
        if name.startswith("fake_") or _inherited_from_python(cls, name):
            continue
        member = documented.get(name)
        if member is None:
            problems.append(f"{cls.__name__}.{name} is not documented for {api}")
            continue
        static = inspect.getattr_static(cls, name)
        is_method = inspect.isfunction(static)
        if member.kind == "attribute" and is_method:
            problems.append(f"{cls.__name__}.{name} is a method; documented as an attribute")
        if member.kind == "method" and not is_method:
            problems.append(f"{cls.__name__}.{name} is an attribute; documented as a method")
        if is_method and member.signatures:
            names, ordered = _parameters(static)
            if not any(
                set(names) == set(sig) and ordered == [n for n in sig if n in ordered]
                for sig in member.signatures
            ):
                problems.append(
                    f"{cls.__name__}.{name}{tuple(names)} differs from the documented {member.signatures}"
                )
    return problems


@pytest.mark.parametrize("cls", DEFINING, ids=lambda c: c.__name__)
def test_every_public_member_of_a_fake_class_is_documented(cls: type[TDObject]) -> None:
    assert cls._td_api or not [n for n in public_names(cls) if not n.startswith("fake_")], cls
    assert undocumented_members(cls, cls._td_api) == []


def test_par_mode_members_are_the_documented_modes() -> None:
    assert undocumented_members(ParMode, ("ParMode",)) == []
    assert [m.name for m in ParMode] == ["CONSTANT", "EXPRESSION", "EXPORT", "BIND"]


def test_the_class_per_operator_type_adds_nothing_and_names_its_reference_class() -> None:
    assert set(OPERATOR_CLASSES) == set(reference.operators())
    for optype, cls in OPERATOR_CLASSES.items():
        assert cls.__name__ == optype
        assert cls in DEFINING or not [n for n in vars(cls) if not n.startswith("_")], optype
        api = cls._td_api
        assert optype in api or optype not in reference.api_classes(), (optype, api)
        inherited = {
            n for n in public_names(cls) if not n.startswith("fake_") and not _inherited_from_python(cls, n)
        }
        assert inherited <= set(reference.members_of(api)), (
            optype,
            inherited - set(reference.members_of(api)),
        )
        assert issubclass(cls, {"COMP": COMP, "DAT": DAT}.get(reference.family_of(optype), TDObject))


def test_the_checker_itself_rejects_invented_api() -> None:
    class Inventive(TDObject):
        _td_api = ("Connector",)

        def connect(self, target: Any, force: bool = False) -> None: ...  # an invented parameter

        def reconnect(self) -> None: ...  # an invented method

        @property
        def disconnect(self) -> None: ...  # a method made an attribute

    assert len(undocumented_members(Inventive, Inventive._td_api)) == 3


def test_globals_table_lists_every_injected_name_with_its_page(td: TouchDesigner) -> None:
    names = set(td.globals_for(td.op("/project1"))) - {"__builtins__"}
    assert names == set(TD_GLOBALS)
    assert {"op", "me", "parent", "project", "app", "absTime", "run", "debug", "ParMode", "mod"} <= names
    assert {"baseCOMP", "scriptCHOP", "textDAT", "oscoutDAT"} <= names
    assert all(
        url.startswith(("https://docs.derivative.ca/", "https://derivative.ca/"))
        for url in TD_GLOBALS.values()
    )


def test_family_pages_table_uses_the_json_titles_and_urls() -> None:
    pages = reference.pages()
    for refs in FAMILY_PAGES.values():
        for ref in refs:
            assert pages[ref.title]["url"] == ref.url
    titles = [ref.title for ref in reference.pages_for("containerCOMP")]
    assert titles[:2] == ["COMP Extensions", "COMP Common"]
    assert "Panel COMP Look" in titles
    assert [ref.title for ref in reference.pages_for("baseCOMP")] == [
        "COMP Extensions",
        "COMP Common (Base COMP variant)",
    ]


def test_callbacks_are_called_with_the_documented_arguments() -> None:
    assert reference.callback_args("oscinDAT", "onReceiveOSC")[0] == (
        "dat",
        "rowIndex",
        "message",
        "bytes",
        "timeStamp",
        "address",
        "args",
        "peer",
    )
    assert set(reference.callback_args("parameterexecuteDAT", "onValueChange")) == {
        ("par", "val", "prev"),
        ("par", "prev"),
    }
    with pytest.raises(UnknownTDName):
        reference.callback_args("executeDAT", "onFrameBegin")


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def td(tmp_path: Path) -> TouchDesigner:
    return TouchDesigner(tmp_path)


@pytest.fixture
def net(td: TouchDesigner) -> COMP:
    comp = td.op("/project1")
    assert isinstance(comp, COMP)
    return comp


def code(net: COMP, name: str, text: str, optype: str = "textDAT") -> DAT:
    dat = net.create(optype, name)
    assert isinstance(dat, DAT)
    dat.text = textwrap.dedent(text)
    return dat


# -- operators and names --------------------------------------------------------------------------------


def test_unknown_operator_type_fails(net: COMP) -> None:
    with pytest.raises(UnknownTDName, match=r"operator type 'oscinDAt'.*oscinDAT"):
        net.create("oscinDAt")
    with pytest.raises(UnknownTDName):
        net.create(str)
    assert net.create(OPERATOR_CLASSES["oscinDAT"]).OPType == "oscinDAT"


def test_default_and_taken_names_follow_touchdesigner(net: COMP) -> None:
    base = OPERATOR_CLASSES["baseCOMP"]
    assert [net.create(base).name for _ in range(2)] == ["base1", "base2"]
    assert net.create("textDAT").name == "text1"
    assert net.create("textDAT", "model").name == "model"
    assert net.create("textDAT", "model").name == "model1"
    assert net.create("parameterexecuteDAT").name == "parameterexecute1"
    with pytest.raises(TDError):
        net.create("textDAT", "bad name")


def test_operator_identity_and_paths(td: TouchDesigner, net: COMP) -> None:
    comp = net.create("baseCOMP", "comp")
    inner = comp.create("baseCOMP", "inner")
    dat = inner.create("textDAT", "code")
    assert (dat.path, dat.type, dat.OPType, dat.family) == (
        "/project1/comp/inner/code",
        "text",
        "textDAT",
        "DAT",
    )
    assert dat.parent() is inner and dat.parent(2) is comp and dat.parent(5) is None
    assert dat.op("..") is comp and dat.op("/project1/comp") is comp and inner.op("code") is dat
    assert comp.op("inner/code") is dat and comp.op("./inner") is inner and comp.op("missing") is None
    assert comp.op("in*") is inner and comp.ops("*") == [inner]
    assert net.findChildren(name="code") == [dat]
    assert net.findChildren(type=OPERATOR_CLASSES["baseCOMP"], maxDepth=1) == [comp]
    assert net.findChildren(depth=3) == [dat] and net.findChildren(type="textDAT") == [dat]
    assert td.op("/project1/comp/inner/code") is dat and net.op(dat.id) is dat
    dat.name = "renamed"
    assert inner.op("renamed") is dat


def test_unknown_members_fail_and_documented_gaps_say_so(net: COMP) -> None:
    comp = net.create("baseCOMP")
    with pytest.raises(UnknownTDName, match="nodeX"):
        comp.nodex = 3  # type: ignore[attr-defined]
    with pytest.raises(UnknownTDName):
        comp.bogus  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(comp, "Progress")
    with pytest.raises(NotModeled, match="cookTime"):
        comp.cookTime  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(TDError, match="read only"):
        comp.path = "/x"  # type: ignore[misc]


def test_destroyed_operators_are_invalid(net: COMP) -> None:
    comp = net.create("baseCOMP")
    child = comp.create("textDAT")
    file = child.par.file
    comp.destroy()
    assert not comp.valid and not child.valid and not file.valid and net.op("base1") is None
    with pytest.raises(TDError, match="destroyed"):
        comp.par  # noqa: B018
    with pytest.raises(TDError, match="destroyed"):
        file.eval()


# -- parameters ----------------------------------------------------------------------------------------


def test_unknown_builtin_parameter_fails_on_get_and_set(net: COMP) -> None:
    text = net.create("textTOP")
    with pytest.raises(
        UnknownTDName, match=r"textTOP /project1/text1 has no parameter 'fontsize'.*fontsizex"
    ):
        text.par.fontsize  # noqa: B018
    with pytest.raises(UnknownTDName, match="fontsize"):
        text.par.fontsize = 12
    with pytest.raises(UnknownTDName):
        text.par["fontsize"] = 12
    assert not hasattr(text.par, "fontsize")
    text.par.fontsizex = 12
    assert text.par.fontsizex.eval() == 12.0


def test_unknown_custom_parameter_fails_on_get_and_set(net: COMP) -> None:
    comp = net.create("baseCOMP")
    with pytest.raises(UnknownTDName):
        comp.par.Port  # noqa: B018
    comp.appendCustomPage("Settings").appendInt("Port")
    comp.par.Port = 7000
    with pytest.raises(UnknownTDName, match="did you mean Port"):
        comp.par.Prot = 7001
    with pytest.raises(UnknownTDName):
        comp.par.port  # noqa: B018
    assert comp.par.Port == 7000


def test_menus_check_tokens_only_when_the_reference_lists_them_all(net: COMP) -> None:
    oscin = net.create("oscinDAT")
    with pytest.raises(UnknownTDName, match=r"menu token 'udp'.*msging"):
        oscin.par.protocol = "udp"
    oscin.par.protocol = "multicastmsging"
    with pytest.raises(UnknownTDName, match="menuIndex"):
        oscin.par.protocol = 1
    oscin.par.protocol.menuIndex = 0
    assert oscin.par.protocol == "msging"
    text = net.create("textTOP")
    text.par.fontsizexunit = "anything"  # "menu_complete": false
    text.par.breaklang = "anything"  # lowercase style "menu"
    text.par.alignx = "left"  # tokens from the Text TOP: Font page
    with pytest.raises(UnknownTDName):
        text.par.alignx = "middle"


def test_family_pages_add_their_parameters(net: COMP) -> None:
    container = net.create("containerCOMP")
    for name in ("w", "h", "bgcolorr", "top", "align", "nodeview", "ext0object", "opviewer"):
        container.par[name]
    base = net.create("baseCOMP")
    base.par.opviewer = "./x"
    for name in ("nodeview", "w", "bgcolor"):
        with pytest.raises(UnknownTDName):
            base.par[name]
    script = net.create("scriptCHOP")
    for name in ("callbacks", "timeslice", "modoutsidecook", "setuppars"):
        script.par[name]
    text = net.create("textDAT")
    for name in ("file", "syncfile", "language", "wordwrap", "edit"):
        text.par[name]
    table = net.create("tableDAT")
    assert "fill" in [p.name for p in table.pars("fill*")]
    assert net.create("textTOP").par.resolutionw.style == "Float"


def test_extensions_page_depends_on_the_build(tmp_path: Path) -> None:
    current = TouchDesigner(tmp_path).op("/project1").create("baseCOMP")
    legacy = TouchDesigner(tmp_path, build="legacy").op("/project1").create("baseCOMP")
    current_names = {p.name for p in current.pars()}
    legacy_names = {p.name for p in legacy.pars()}
    assert {
        "reinitextensions",
        "initextonstart",
        "ext",
        "ext0object",
        "ext0name",
        "ext0promote",
    } <= current_names
    assert {"reinitextensions", "extension1", "extname1", "promoteextension1"} <= legacy_names
    assert current_names - legacy_names == {"initextonstart", "ext", "ext0object", "ext0name", "ext0promote"}
    assert legacy.pars("ext0object") == [] and current.pars("extension1") == []
    with pytest.raises(UnknownTDName):
        legacy.par.ext0object = "x"


def test_custom_parameter_names_are_checked(net: COMP) -> None:
    page = net.create("baseCOMP").appendCustomPage("Settings")
    for bad in ("port", "PortNumber", "Port_1", "2port", ""):
        with pytest.raises(TDError, match="uppercase letter"):
            page.appendInt(bad)
    assert [p.name for p in page.appendXY("Pos")] == ["Posx", "Posy"]
    assert [p.name for p in page.appendFloat("Gain", size=3)] == ["Gain1", "Gain2", "Gain3"]
    assert [p.name for p in page.appendRGBA("Tint")] == ["Tintr", "Tintg", "Tintb", "Tinta"]
    page.appendInt("Port2")
    with pytest.raises(TDError, match="replace=False"):
        page.appendInt("Port2", replace=False)
    with pytest.raises(TypeError):
        page.appendStr("Name", size=2)  # type: ignore[call-arg]  # only Int and Float take a size


def test_custom_parameter_attributes_and_values(net: COMP) -> None:
    comp = net.create("baseCOMP")
    page = comp.appendCustomPage("Settings")
    port = page.appendInt("Port", label="Port")[0]
    port.min, port.max, port.clampMin, port.clampMax = 1, 65535, True, True
    port.default = 7000
    assert port.val == 0 and not port.isDefault
    comp.par.Port = 70000
    assert port.eval() == 65535 and int(port) == 65535
    comp.par.Port = "12"
    assert port == 12 and port + 1 == 13 and port > 10 and str(port) == "12"
    with pytest.raises(TDError, match="expects a number"):
        comp.par.Port = "twelve"
    slot = page.appendMenu("Slot")[0]
    slot.menuNames = ["latest", "0", "1"]
    assert slot.eval() == "latest" and slot.menuLabels == ["latest", "0", "1"]
    with pytest.raises(UnknownTDName):
        slot.val = "2"
    free = page.appendStrMenu("Free")[0]
    free.menuNames = ["a", "b"]
    free.val = "c"  # a StrMenu is a string field with suggestions
    toggle = page.appendToggle("On")[0]
    toggle.val = 1
    assert toggle.eval() is True and bool(toggle)
    with pytest.raises(TDError, match="custom parameters"):
        net.create("textTOP").par.fontsizex.min = 0
    assert [p.name for p in comp.customPars] == ["Port", "Slot", "Free", "On"]
    page.sort("On", slot)
    assert [p.name for p in page.pars] == ["On", "Slot", "Port", "Free"]
    comp.par.Free.destroy()
    assert [p.name for p in comp.customPars] == ["On", "Slot", "Port"]
    assert comp.appendCustomPage("Settings") is page
    assert comp.destroyCustomPars() == 3 and comp.customPages == []


def test_read_only_is_for_the_ui_only(td: TouchDesigner, net: COMP) -> None:
    comp = net.create("baseCOMP")
    running = comp.appendCustomPage("P").appendToggle("Running")[0]
    running.readOnly = True
    running.val = True  # scripts may
    with pytest.raises(TDError, match="read-only"):
        td.set_par(running, False)
    assert running.eval() is True


def test_expressions_follow_the_referenced_parameter(net: COMP) -> None:
    comp = net.create("baseCOMP")
    comp.appendCustomPage("Settings").appendInt("Port")
    comp.par.Port = 7000
    oscin = comp.create("oscinDAT")
    oscin.par.port.expr = "parent().par.Port"
    assert oscin.par.port.mode is ParMode.EXPRESSION and oscin.par.port.eval() == 7000
    comp.par.Port = 7100
    assert oscin.par.port.eval() == 7100 and oscin.par.port.val == 10000
    oscin.par.port = 9000
    assert oscin.par.port.mode is ParMode.CONSTANT and oscin.par.port.eval() == 9000
    oscin.par.port.expr = "parent().par.Prot"
    with pytest.raises(UnknownTDName, match="Prot"):
        oscin.par.port.eval()
    with pytest.raises(TDError, match="invalid Python"):
        oscin.par.port.expr = "parent(.par"


def test_operator_reference_parameters_resolve_relative_to_the_owner(net: COMP) -> None:
    comp = net.create("baseCOMP")
    callbacks = comp.create("textDAT", "callbacks")
    script = comp.create("scriptCHOP")
    script.par.callbacks = "callbacks"
    assert script.par.callbacks.eval() is callbacks and script.par.callbacks.val == "callbacks"
    script.par.callbacks = callbacks
    assert script.par.callbacks.val == "/project1/base1/callbacks"
    script.par.callbacks = "script1"
    with pytest.raises(TDError, match="expects a DAT"):
        script.par.callbacks.eval()
    comp.par.opviewer = "./callbacks"


def test_a_comps_operator_parameters_resolve_from_the_network_it_is_in(net: COMP) -> None:
    """Network Path page: a bare name is a node "in the same network"; a COMP's own children are
    ``./name`` (as in the builder's ``opviewer``)."""
    base = net.create("baseCOMP", "base")
    display = base.create("containerCOMP", "display")
    inner = display.create("textTOP", "label")
    display.par.top = "label"
    assert display.par.top.eval() is None  # no sibling called label
    beside = base.create("textTOP", "label")
    assert display.par.top.eval() is beside
    display.par.top = "./label"
    assert display.par.top.eval() is inner
    base.par.opviewer = "./display"
    assert base.par.opviewer.eval() is display
    base.par.opviewer = "display"
    assert base.par.opviewer.eval() is None and net.create("textDAT", "display")
    assert base.par.opviewer.eval() is net.op("display")


# -- storage, connectors --------------------------------------------------------------------------------


def test_store_fetch_unstore(net: COMP) -> None:
    comp = net.create("baseCOMP")
    child = comp.create("textDAT")
    comp.store("state", {"a": 1})
    comp.store("state2", 2)
    assert child.fetch("state") == {"a": 1}
    assert child.fetch("state", None, search=False) is None
    assert child.fetch("new", 5, storeDefault=True) == 5 and child.storage == {"new": 5}
    with pytest.raises(KeyError):
        child.fetch("missing", search=False)
    comp.unstore("state*")
    assert comp.storage == {} and comp.fetchOwner("new") is None and child.fetchOwner("new") is child


def test_saved_storage_holds_the_startup_values(td: TouchDesigner, net: COMP) -> None:
    """OP Class: storage is saved with the operator; a startup value is "an alternate value for
    saving and loading"."""
    comp = net.create("baseCOMP", "comp")
    comp.store("plain", {"slots": {0: 1}})
    comp.store("session", socket.socket())
    with pytest.raises(TDError, match="'session' cannot be saved"):
        comp.save("comp.tox")
    comp.storeStartupValue("session", None)
    comp.storeStartupValue("later", 3)
    assert td.describe(comp)["storage"] == {"plain": {"slots": {0: 1}}, "session": None, "later": 3}
    comp.fetch("session").close()


def test_reopening_keeps_what_is_saved_and_forgets_python_state(td: TouchDesigner, net: COMP) -> None:
    comp = net.create("baseCOMP", "comp")
    comp.store("kept", [1])
    comp.store("session", 5)
    comp.storeStartupValue("session", None)
    events = _recorder(
        net,
        "events",
        "def onStart():\n    calls.append('start')\ndef onExit():\n    calls.append('exit')\n",
        "executeDAT",
    )
    events.par.start = events.par.exit = True
    module = events.module
    td.exit()
    assert module.calls == ["exit"]
    td.frame(3)
    td.reopen()
    assert comp.storage == {"kept": [1], "session": None}
    assert events.module is not module and events.module.calls == ["start"]  # module globals ran anew
    assert td.absTime.frame == 0


def test_reinitializing_extensions_recompiles_their_module(net: COMP) -> None:
    """COMP Extensions page: Re-Init Extensions "Recompile[s] all extension objects"."""
    comp = net.create("baseCOMP", "comp")
    code(comp, "VoyageExt", EXTENSION + "\nhandles = []\n")
    comp.par.ext0object = "op('./VoyageExt').module.VoyageExt(me)"
    comp.initializeExtensions()
    module = comp.op("VoyageExt").module
    module.handles.append("process")
    comp.initializeExtensions()
    assert comp.op("VoyageExt").module is not module and comp.op("VoyageExt").module.handles == []


def test_build_2025_renames_and_empty_extension_sequence(tmp_path: Path) -> None:
    td = TouchDesigner(tmp_path, build="2025")
    assert (td.app.version, td.app.build) == ("2025", "32280")
    label = td.op("/project1").create("textTOP", "label")
    assert label.pars("combineinput") and not label.pars("compoverinput")
    label.par.combineinput = True
    comp = td.op("/project1").create("baseCOMP", "comp")
    assert comp.pars("ext0object") == [] and comp.seq.ext.numBlocks == 0
    with pytest.raises(UnknownTDName):
        comp.par.ext0object  # noqa: B018
    assert comp.initializeExtensions() == []
    code(comp, "VoyageExt", EXTENSION)
    comp.seq.ext.numBlocks = 1
    comp.par.ext0object = "op('./VoyageExt').module.VoyageExt(me)"
    [extension] = comp.initializeExtensions()
    assert comp.seq.ext.owner is comp and extension.ownerComp is comp
    assert TouchDesigner(tmp_path).op("/project1").create("baseCOMP").seq.ext.numBlocks == 1
    with pytest.raises(NotModeled):
        comp.seq.ext.numBlocks = 2


def test_app_python_is_the_python_running_the_tests(td: TouchDesigner) -> None:
    """App Class: pythonExecutable, "Path to TouchDesigner's Python executable"; binFolder."""
    assert td.app.pythonExecutable == sys.executable
    assert td.app.binFolder == str(Path(sys.executable).parent)


WINDOWS_SCRIPT = """
import os, signal, subprocess, sys
platform = sys.platform
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(30)"],
    creationflags=subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW,
)
child.send_signal(signal.CTRL_BREAK_EVENT)
os.kill(child.pid, 0)
"""


def test_windows_processes_behave_as_on_windows(tmp_path: Path) -> None:
    """Ctrl+Break reaches only processes sharing the sender's console (none here); os.kill(pid, 0)
    is Ctrl+C there; terminate() is TerminateProcess."""
    td = TouchDesigner(tmp_path, windows_processes=True)
    script = td.op("/project1").create("textDAT", "script")
    script.text = WINDOWS_SCRIPT
    namespace = td.run_script(script)
    child = namespace["child"]
    assert td.fake_processes == [child]
    try:
        assert namespace["platform"] == "win32" and child.poll() is None
        assert child.fake_console_events == [1] and child.fake_creationflags == 0x08000200
        with pytest.raises(ValueError, match="Unsupported signal"):
            child.send_signal(2)
        child.terminate()
        assert child.wait(5) != 0
    finally:
        child.kill()
        child.wait()


def test_connectors_wire_operators_of_one_family(net: COMP) -> None:
    script = net.create("scriptCHOP")
    out = net.create("outCHOP")
    script.outputConnectors[0].connect(out)
    assert out.inputs == [script] and script.outputs == [out]
    assert out.inputConnectors[0].connections[0].owner is script
    assert script.outputConnectors[0].connections == [out.inputConnectors[0]]
    out.inputConnectors[0].disconnect()
    assert out.inputs == []
    out.inputConnectors[0].connect(script.outputConnectors[0])
    assert out.inputs == [script]
    with pytest.raises(TDError, match=r"CHOP.*DAT"):
        script.outputConnectors[0].connect(net.create("nullDAT"))
    other = net.create("baseCOMP").create("nullCHOP")
    with pytest.raises(TDError, match="same network"):
        script.outputConnectors[0].connect(other)


def test_comp_connectors_are_its_in_and_out_operators(net: COMP) -> None:
    comp = net.create("baseCOMP")
    first, second = comp.create("outCHOP"), comp.create("outDAT")
    first.nodeY, second.nodeY = 0, -100
    assert [c.outOP for c in comp.outputConnectors] == [first, second]
    nul = net.create("nullDAT")
    comp.outputConnectors[1].connect(nul)
    assert nul.inputs == [comp]


# -- DATs and code --------------------------------------------------------------------------------------


def test_table_dat_cells_rows_and_columns(net: COMP) -> None:
    table = net.create("tableDAT")
    table.appendRow(["slot", "id"])
    table.appendRows([["0", "b1"], ["1", "b2"]])
    assert (table.numRows, table.numCols) == (3, 2)
    assert table[1, "id"].val == "b1" and table["1", "id"] == "b2" and table[2, 0] == 1
    table[1, 1] = "x"
    assert [c.val for c in table.row(1)] == ["0", "x"] and [c.val for c in table.col("id")] == [
        "id",
        "x",
        "b2",
    ]
    table.replaceRow("1", ["1", "y"])
    table.deleteRows([0])
    assert table.text == "0\tx\n1\ty\n" and table[5, 5] is None
    table.setSize(1, 3)
    assert [c.val for c in table.rows()[0]] == ["0", "x", ""]
    table.clear()
    assert table.numRows == 0
    with pytest.raises(TDError, match="not an editable table"):
        net.create("textDAT").appendRow(["a"])
    with pytest.raises(TDError, match="not editable"):
        net.create("oscinDAT").text = "x"


def test_run_script_gives_the_td_globals(td: TouchDesigner, net: COMP) -> None:
    comp = net.create("baseCOMP", "comp")
    script = code(
        comp,
        "script",
        """
        made = parent().create(baseCOMP, "made")
        found = op("made")
        where = (me.path, project.folder, args, absTime.frame, ParMode.CONSTANT)
        """,
    )
    namespace = td.run_script(script, 1, 2)
    assert namespace["found"] is comp.op("made") and namespace["made"].OPType == "baseCOMP"
    assert namespace["where"] == (
        "/project1/comp/script",
        str(td.project.folder),
        (1, 2),
        0,
        ParMode.CONSTANT,
    )


def test_dat_module_imports_with_injected_globals_and_is_cached(net: COMP) -> None:
    lib = code(
        net,
        "lib",
        """
        VERSION = "1"
        def owner():
            return parent(), me, op("lib"), app.version
        """,
    )
    module = lib.module
    assert module.owner() == (net, lib, lib, "2023") and lib.module is module
    lib.text = "VERSION = '2'"
    assert lib.module is not module and lib.module.VERSION == "2"
    user = code(net, "user", "def version():\n    return mod.lib.VERSION, mod('lib').VERSION\n")
    assert user.module.version() == ("2", "2")
    with pytest.raises(ModuleNotFoundError):
        code(net, "broken", "x = mod.nothing\n").module  # noqa: B018


def test_runs_are_delayed_by_frames(td: TouchDesigner, net: COMP) -> None:
    seen: list[Any] = []
    script = code(net, "script", "me.store('ran', args)\n")
    runner = td.globals_for(script)["run"]
    runner(seen.append, "later", delayFrames=2)
    runner(lambda: seen.append("end"), endFrame=True)
    late = runner(seen.append, "never", delayFrames=1)
    late.kill()
    td.frame()
    assert seen == ["end"]
    td.frame()
    assert seen == ["end", "later"] and td.runs == []
    runner("me.store('ran', args)", 6)
    assert "ran" not in script.storage  # td.run always waits for the frame to end
    td.frame()
    assert script.fetch("ran") == (6,)
    script.run(7)
    assert script.fetch("ran") == (7,)
    script.run(8, delayFrames=1)
    assert script.fetch("ran") == (7,)
    td.frame()
    assert script.fetch("ran") == (8,)


# -- callbacks ------------------------------------------------------------------------------------------


def _recorder(net: COMP, name: str, functions: str, optype: str = "textDAT") -> DAT:
    return code(net, name, "calls = []\n" + textwrap.dedent(functions), optype)


def test_parameter_execute_fires_on_value_change_and_pulse(net: COMP) -> None:
    comp = net.create("baseCOMP", "comp")
    page = comp.appendCustomPage("Settings")
    page.appendInt("Port")
    page.appendPulse("Reset")
    parexec = _recorder(
        comp,
        "parexec",
        """
        def onValueChange(par, prev):
            calls.append(("value", par.name, par.eval(), prev))
        def onPulse(par):
            calls.append(("pulse", par.name))
        """,
        "parameterexecuteDAT",
    )
    parexec.par.op.expr = "parent()"
    parexec.par.pars = "*"
    comp.par.Port = 7000
    comp.par.Port = 7000  # unchanged: no call
    comp.par.Reset.pulse()
    assert parexec.module.calls == [("value", "Port", 7000, 0), ("pulse", "Reset")]
    parexec.par.valuechange = False
    parexec.par.pars = "Res*"
    comp.par.Port = 1
    comp.par.Reset.pulse()
    parexec.par.onpulse = False
    comp.par.Reset.pulse()
    assert parexec.module.calls[2:] == [("pulse", "Reset")]
    parexec.par.custom = False
    parexec.par.onpulse = True
    comp.par.Reset.pulse()
    assert len(parexec.module.calls) == 3


def test_parameter_execute_accepts_both_documented_signatures(td: TouchDesigner, net: COMP) -> None:
    comp = net.create("baseCOMP", "comp")
    comp.appendCustomPage("Settings").appendFloat("Gain")
    three = _recorder(
        comp,
        "three",
        "def onValueChange(par, val, prev):\n    calls.append((val, prev))\n",
        "parameterexecuteDAT",
    )
    wrong = _recorder(comp, "wrong", "def onValueChange(par):\n    pass\n", "parameterexecuteDAT")
    for dat in (three, wrong):
        dat.par.op = comp
        dat.par.pars = "Gain"
    wrong.par.active = False
    td.set_par(comp.par.Gain, 0.5)
    assert three.module.calls == [(0.5, 0.0)]
    wrong.par.active = True
    with pytest.raises(TDError, match=r"onValueChange\(par, val, prev\) or onValueChange\(par, prev\)"):
        comp.par.Gain = 1.0


def test_execute_dat_on_frame_start(td: TouchDesigner, net: COMP) -> None:
    frames = _recorder(
        net,
        "frames",
        "def onFrameStart(frame):\n    calls.append((frame, absTime.frame, absTime.seconds))\n",
        "executeDAT",
    )
    td.frame()
    assert frames.module.calls == []  # Frame Start is off by default
    frames.par.framestart = True
    td.frame(2)
    assert frames.module.calls == [(2, 2, 2 / 60), (3, 3, 3 / 60)]
    frames.par.active = False
    td.frame()
    assert len(frames.module.calls) == 2


def test_script_chop_cook_makes_channels(net: COMP) -> None:
    callbacks = code(
        net,
        "chop_callbacks",
        """
        def onCook(scriptOp):
            scriptOp.clear()
            scriptOp.numSamples = 2
            scriptOp.appendChan("progress")[0] = 0.25
            scriptOp.appendChan("eta").vals = [3, 4]
        """,
    )
    script = net.create("scriptCHOP", "selected")
    script.par.callbacks = callbacks.name
    out = net.create("outCHOP")
    script.outputConnectors[0].connect(out)
    script.cook(force=True)
    assert script.numChans == 2 and script.numSamples == 2 and script["progress"].vals == [0.25, 0.0]
    assert out["eta"][1] == 4.0 and out.chan("prog*").eval() == 0.25 and out.fake_values()["eta"] == 3.0
    assert [c.name for c in out.chans()] == ["progress", "eta"] and out[0].name == "progress"
    with pytest.raises(TDError, match="only inside onCook"):
        script.appendChan("outside")
    with pytest.raises(TDError, match="Script CHOP's own channels"):
        out["eta"][0] = 1.0
    script.par.modoutsidecook = True
    script.appendChan("outside")
    assert script.numChans == 3


def test_osc_out_dat_sends_real_udp_datagrams(net: COMP) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(2)
        comp = net.create("baseCOMP")
        comp.appendCustomPage("Settings").appendInt("Controlport")
        comp.par.Controlport = receiver.getsockname()[1]
        out = comp.create("oscoutDAT")
        out.par.address = "127.0.0.1"
        out.par.port.expr = "parent().par.Controlport"
        sent = out.sendOSC("/voyage/control/watch", [1, 2.5, "batch_1", True, None, 2**40])
        data = receiver.recv(4096)
        message = OscMessage(data)
        assert sent == len(data) and message.address == "/voyage/control/watch"
        assert message.params == [1, 2.5, "batch_1", True, None, 2**40]
        assert data.split(b"\0")[-1] == b"" and b",ifsTNh" in data
        out.sendOSC("/a", [], "/b", [1], asBundle=True)
        bundle = OscBundle(receiver.recv(4096))
        assert [(m.address, m.params) for m in bundle] == [("/a", []), ("/b", [1])]
        out.sendOSC("/c", [1, True], useNonStandardTypes=False)
        assert OscMessage(receiver.recv(4096)).params == [1, 1]
        assert len(out.fake_sent) == 3
    with pytest.raises(TDError, match="must be a list"):
        out.sendOSC("/x", 5)
    with pytest.raises(TDError, match="addresses each followed"):
        out.sendOSC("/x")


def test_osc_in_dat_calls_on_receive_osc_with_the_documented_arguments(td: TouchDesigner, net: COMP) -> None:
    callbacks = _recorder(
        net,
        "oscin_callbacks",
        """
        def onReceiveOSC(dat, rowIndex, message, bytes, timeStamp, address, args, peer):
            calls.append((dat, rowIndex, message, bytes, timeStamp, address, args, peer.address, peer.port))
        """,
    )
    oscin = net.create("oscinDAT")
    oscin.par.callbacks = "oscin_callbacks"
    oscin.par.clamp, oscin.par.maxlines = True, 2
    td.frame(3)
    assert td.deliver_osc(oscin, "/voyage/batch/0/progress", [0.5], peer=("10.0.0.2", 9001)) == 0
    call = callbacks.module.calls[0]
    assert call[:3] == (oscin, 0, "/voyage/batch/0/progress 0.5") and call[4:] == (
        0.05,
        "/voyage/batch/0/progress",
        [0.5],
        "10.0.0.2",
        9001,
    )
    assert OscMessage(call[3]).params == [0.5]
    for n in range(3):
        td.deliver_osc(oscin, "/n", [n])
    assert [r[0].val for r in oscin.rows()] == ["/n 1", "/n 2"] and callbacks.module.calls[-1][1] == 1
    bundle = OscBundle(_bundle([("/a", [1]), ("/b", ["x"])]))
    with pytest.raises(NotModeled, match="splitbundle"):
        td.deliver_osc_packet(oscin, bundle.dgram)
    oscin.par.splitbundle = True
    assert td.deliver_osc_packet(oscin, bundle.dgram) == [1, 1]
    assert [c[5:7] for c in callbacks.module.calls[-2:]] == [("/a", [1]), ("/b", ["x"])]
    oscin.par.clear.pulse()
    assert oscin.numRows == 0
    oscin.par.active = False
    assert td.deliver_osc(oscin, "/ignored", []) is None


def _bundle(messages: list[tuple[str, list[Any]]]) -> bytes:
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscBundleBuilder(IMMEDIATELY)
    for address, args in messages:
        message = OscMessageBuilder(address)
        for arg in args:
            message.add_arg(arg)
        builder.add_content(message.build())  # type: ignore[arg-type]
    return builder.build().dgram


# -- extensions and saving -------------------------------------------------------------------------------

EXTENSION = """
class VoyageExt:
    def __init__(self, ownerComp):
        self.ownerComp = ownerComp
        self.inits = 0
    def onInitTD(self):
        self.inits += 1
    def Progress(self, slot=None):
        return 0.5 if slot == 0 else 0.0
    def helper(self):
        return "private"
"""


@pytest.mark.parametrize(
    ("build", "pars"),
    [
        ("current", ("ext0object", "ext0name", "ext0promote")),
        ("legacy", ("extension1", "extname1", "promoteextension1")),
    ],
)
def test_extensions_are_initialized_and_promoted(
    tmp_path: Path, build: str, pars: tuple[str, str, str]
) -> None:
    td = TouchDesigner(tmp_path, build=build)
    comp = td.op("/project1").create("baseCOMP", "voyage_progress")
    code(comp, "VoyageExt", EXTENSION)
    object_par, name_par, promote_par = pars
    comp.par[object_par] = "op('./VoyageExt').module.VoyageExt(me)"
    comp.par[name_par] = "VoyageExt"
    comp.par[promote_par] = True
    with pytest.raises(UnknownTDName):
        comp.Progress  # noqa: B018  # not before the extensions are initialized
    [extension] = comp.initializeExtensions()
    assert comp.extensions == [extension] and comp.extensionsReady and extension.inits == 1
    assert extension.ownerComp is comp and comp.Progress(0) == 0.5 and comp.ext.VoyageExt is extension
    assert comp.op("VoyageExt").ext.VoyageExt is extension
    with pytest.raises(UnknownTDName, match="promoted"):
        comp.helper  # noqa: B018
    comp.par.reinitextensions.pulse()
    assert comp.extensions[0] is not extension
    comp.par[promote_par] = False
    comp.initializeExtensions()
    with pytest.raises(UnknownTDName):
        comp.Progress  # noqa: B018


def test_save_writes_the_network_as_json(td: TouchDesigner, net: COMP) -> None:
    comp = net.create("baseCOMP", "voyage_progress")
    comp.color = (0.1, 0.2, 0.3)
    page = comp.appendCustomPage("Voyage Progress")
    port = page.appendInt("Port")[0]
    port.default, port.val = 7000, 7001
    page.appendPulse("Reset")
    oscin = comp.create("oscinDAT", "oscin")
    oscin.par.port.expr = "parent().par.Port"
    oscin.par.splitbundle = True
    script, out = comp.create("scriptCHOP", "selected"), comp.create("outCHOP", "out_selected")
    script.outputConnectors[0].connect(out)
    code(comp, "readme", "hello")
    comp.store("voyage_state", {"slots": {}})
    path = comp.save("VoyageProgress.tox")
    assert path == str(Path(td.project.folder) / "VoyageProgress.tox")
    saved = json.loads(Path(path).read_text())
    assert saved == td.describe(comp) | {"encrypted": False}
    assert saved["type"] == "baseCOMP" and saved["color"] == [0.1, 0.2, 0.3]
    assert saved["storage"] == {"voyage_state": {"slots": {}}}
    [custom] = saved["customPages"]
    assert custom["name"] == "Voyage Progress" and [p["name"] for p in custom["pars"]] == ["Port", "Reset"]
    assert (
        custom["pars"][0].items()
        >= {"style": "Int", "val": 7001, "default": 7000, "mode": "constant"}.items()
    )
    children = {c["name"]: c for c in saved["children"]}
    assert children["oscin"]["parameters"] == {
        "port": {"mode": "expression", "val": 10000, "expr": "parent().par.Port"},
        "splitbundle": {"mode": "constant", "val": True},
    }
    assert children["readme"]["text"] == "hello" and children["oscin"]["rows"] == []
    assert saved["connections"] == [{"from": "selected", "output": 0, "to": "out_selected", "input": 0}]
    with pytest.raises(TDError, match="createFolders"):
        comp.save("sub/dir/x.tox")
    assert Path(comp.save("sub/dir/x.tox", createFolders=True)).is_file()


def test_text_dat_file_sync(td: TouchDesigner, net: COMP, tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("A = 1\n")
    loaded = td.load_text_dat(source)
    assert loaded.name == "module" and loaded.par.file.eval() == str(source) and loaded.module.A == 1
    linked = net.create("textDAT")
    linked.par.file = "module.py"  # relative to project.folder
    linked.par.syncfile = True
    assert linked.text == "A = 1\n"
    linked.text = "A = 2\n"
    assert source.read_text() == "A = 2\n"


def test_app_project_and_time(td: TouchDesigner, tmp_path: Path) -> None:
    assert (td.project.folder, td.app.version, td.app.osName) == (str(tmp_path), "2023", "Windows")
    assert TouchDesigner(tmp_path, build="legacy").app.version == "2021"
    td.frame(30)
    assert (td.absTime.frame, td.absTime.seconds) == (30, 0.5)
    with pytest.raises(TDError, match="read only"):
        td.absTime.frame = 3  # type: ignore[misc]
    with pytest.raises(UnknownTDName):
        td.project.folderPath  # type: ignore[attr-defined]  # noqa: B018


def test_start_initializes_extensions_and_calls_on_start(td: TouchDesigner, net: COMP) -> None:
    comp = net.create("baseCOMP", "comp")
    code(comp, "VoyageExt", EXTENSION)
    comp.par.ext0object = "op('./VoyageExt').module.VoyageExt(me)"
    starts = _recorder(
        net, "starts", "def onStart():\n    calls.append(parent().op('comp').extensions)\n", "executeDAT"
    )
    starts.par.start = True
    td.start()
    [[extension]] = starts.module.calls
    assert comp.ext.VoyageExt is extension and extension.inits == 1


def test_parent_shortcut_debug_and_pulses(
    td: TouchDesigner, net: COMP, capsys: pytest.CaptureFixture[str]
) -> None:
    comp = net.create("baseCOMP", "comp")
    comp.par.parentshortcut = "Voyage"
    dat = code(comp.create("baseCOMP", "inner"), "script", "found = parent.Voyage\ndebug('hello')\n")
    assert td.run_script(dat)["found"] is comp
    assert "hello (/project1/comp/inner/script line 2)" in capsys.readouterr().out
    with pytest.raises(UnknownTDName, match="Parent Shortcut 'Other'"):
        dat.parent.Other  # noqa: B018
    page = comp.appendCustomPage("P")
    reset, level = page.appendPulse("Reset")[0], page.appendFloat("Level")[0]
    td.press(reset)
    with pytest.raises(TDError, match="not a pulse"):
        td.press(level)
    level.pulse(0.5, frames=2)  # set, then restored two frames later
    assert level.eval() == 0.5
    td.frame(2)
    assert level.eval() == 0.0
    page.destroy()
    assert comp.customPages == [] and not reset.valid
