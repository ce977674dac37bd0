"""A strict fake of TouchDesigner's Python API, to test the code in ``td_components/`` without
TouchDesigner.

Strict: every operator type, parameter, menu token and API member the code uses must be in the
reference data (``tests/tdfake/td_reference``, see :mod:`tests.tdfake.reference`); anything else raises
:class:`UnknownTDName`. Documented API the fake leaves out raises :class:`NotModeled`; what TouchDesigner
itself refuses raises :class:`TDError`.

Use::

    td = TouchDesigner(tmp_path)                      # or build="legacy" / "2025", windows_processes=True
    builder = td.load_text_dat("td_components/VoyageProgress.py")   # a Text DAT in /project1
    td.run_script(builder)                            # TouchDesigner's "Run Script"
    comp = td.op("/project1/voyage_progress")
    td.deliver_osc(comp.op("oscin"), "/voyage/batch/0/progress", [0.5])
    td.frame()                                        # Execute DATs' onFrameStart, delayed runs
    comp.op("out_selected")["progress"].eval(); td.describe(comp); comp.save("x.tox")

Test helpers are methods of the session or ``fake_*`` members; everything else is TouchDesigner API.

Assumed TouchDesigner behaviour (not settled by the reference data; keep in td_components/QUIRKS.md):

- Extensions: the Object parameter (``ext0object``; legacy ``extension1``) is a Python expression evaluated
  with the COMP's globals (``me`` is the COMP); an empty Name means the class name; only block 0 (legacy:
  slot 1) is modeled; Promote exposes capitalized members (get, call, set); ``onDestroyTD()``/``onInitTD()``
  are called when defined. Extensions initialize only through ``initializeExtensions()``, the
  ``reinitextensions`` pulse and ``session.start()`` (Init Extensions On Start assumed on), never because
  their DAT or parameters changed. Initializing recompiles the modules of the COMP's DATs ("Recompile all
  extension objects", COMP Extensions page): their module globals run anew. In build "2025" a fresh COMP's
  Extension sequence has no block until ``seq.ext.numBlocks = 1`` (unverified, see common_pages.json).
- Parameter Execute DATs fire synchronously at the change (TouchDesigner: once per frame), only when the
  evaluated value changed, not for expression results that change because another parameter did, and not
  re-entrantly. ``onValueChange`` gets ``(par, prev)`` with two parameters, ``(par, val, prev)`` with three
  or ``*args``. Setting a Pulse parameter's value pulses it.
- Values: Int rounds floats; Int/Float accept numeric strings; Toggle accepts numbers and "0"/"1"/
  "True"/"False"; a complete Menu accepts its token strings only (indexes through ``menuIndex``); a StrMenu
  accepts any string; custom Int/Float clamp when set (clampMin/clampMax); a fresh custom Menu takes its
  first name when ``menuNames`` is set. Built-in defaults by style (Toggle False, Int 0, Float 0.0, complete
  Menu its first token, strings ""; None when the style is unknown) except ``reference.ASSUMED_DEFAULTS``.
- Menus: when operators.json has no complete token list but a family page lists the tokens (textTOP
  ``alignx``), the page's list is enforced; two complete lists are merged.
- ``appendCustomPage`` with an existing name returns that page; ``append*(replace=True)`` recreates the
  parameter with defaults at the end of the page; only ``appendInt``/``appendFloat`` take ``size``.
- Paths: ``op()`` from a COMP relative to its inside, from other operators relative to their network.
  Operator parameters resolve from the network their owner is in, a COMP's included ("If you refer to
  another node in the same network, you can just put the node name", Network Path page); a COMP names its
  own children ``./name``. A wrong family fails at ``eval()``. Operator names are letters, digits and
  underscores; renaming onto a sibling's name fails. ``fetch`` without a default raises KeyError for a
  missing key.
- Storage: saving (``save()``, ``describe()``, ``session.reopen()``) keeps each stored value, or its startup
  value (``storeStartupValue``); a value that cannot be pickled and has no startup value cannot be saved
  (TDError). ``reopen()`` is saving, quitting (``onExit``) and opening again: storage as saved, every DAT
  module and extension created anew, then ``start()``.
- ``run()`` (td module) always waits: no delay runs at the next ``frame()`` before the frame advances,
  ``delayFrames=n`` n frames later, milliseconds count as frames at 60 fps; ``dat.run()`` without a delay
  runs at once. ``frame()``: previous frame's runs, advance, due runs, onFrameStart, onFrameEnd.
- Cooking is explicit: a Script CHOP cooks on ``cook()`` only and refuses changes outside ``onCook``
  unless ``modoutsidecook`` is on; Out/Null CHOPs and DATs show their input 0; other operators carry no
  data. ``chop[name]`` is None when missing.
- DATs: table edits need a Table (or Script) DAT, ``text`` needs a Text, execute-type, Table or Script DAT;
  table text is tab-separated rows ending in newlines; with Sync to File the file is loaded when set or
  changed on disk and edits are written back; relative files are in ``project.folder``.
- OSC In DAT: one row per message ("address arg ..." or columns with splitmessage), at most 100 rows, or
  ``maxlines`` with Clamp Output (0 unlimited); ``message`` is the row text, ``bytes`` the message's OSC
  bytes, ``timeStamp`` ``absTime.seconds``; bundles need Split Bundle into Messages on.
- OSC Out DAT: each value list must be a list or tuple; nothing is sent while not Active; UDP only; one
  datagram per message unless ``asBundle`` (timetag "immediately"); Infinitum is not modeled.
- Wiring: an output connected to an operator takes its first free input; families must match and both
  operators be in one network; a COMP's connectors are its in/out operators from top to bottom.
- Setting an unknown attribute on any TouchDesigner object fails; a destroyed operator fails on access.
- The session: ``/`` is a Base COMP holding a ``/project1`` Container COMP; app 2023.12370 (legacy
  2021.16410, "2025" 2025.32280) on Windows; ``app.pythonExecutable`` is the Python running the tests (a
  CPython >= 3.11 like TouchDesigner's); ``load_text_dat`` sets File but not Sync to File; DAT modules are
  not importable by ``import`` (use ``mod`` or ``op(...).module``). With ``windows_processes=True`` DAT code
  gets Windows' ``sys.platform``, ``subprocess.Popen`` flags and signals (:mod:`tests.tdfake.windows`).
"""

from .errors import NotModeled, TDError, UnknownTDName
from .ops import (
    CHOP,
    COMP,
    DAT,
    MAT,
    OP,
    OPERATOR_CLASSES,
    SOP,
    TOP,
    Cell,
    Channel,
    Connector,
    PanelCOMP,
    Peer,
    Sequence,
    SequenceCollection,
)
from .params import Page, Par, ParCollection, ParGroup, ParMode
from .reference import ASSUMED_DEFAULTS, DOCUMENTED_ELSEWHERE, FAMILY_PAGES, README_DOCUMENTED
from .session import MOD, TD_GLOBALS, AbsTime, App, OPFinder, Project, Run, TouchDesigner

__all__ = [
    "ASSUMED_DEFAULTS",
    "CHOP",
    "COMP",
    "DAT",
    "DOCUMENTED_ELSEWHERE",
    "FAMILY_PAGES",
    "MAT",
    "MOD",
    "OP",
    "OPERATOR_CLASSES",
    "README_DOCUMENTED",
    "SOP",
    "TD_GLOBALS",
    "TOP",
    "AbsTime",
    "App",
    "Cell",
    "Channel",
    "Connector",
    "NotModeled",
    "OPFinder",
    "Page",
    "PanelCOMP",
    "Par",
    "ParCollection",
    "ParGroup",
    "ParMode",
    "Peer",
    "Project",
    "Run",
    "Sequence",
    "SequenceCollection",
    "TDError",
    "TouchDesigner",
    "UnknownTDName",
]
