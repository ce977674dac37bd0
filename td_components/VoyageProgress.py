"""VoyageProgress builder: creates (or updates) the voyage_progress component and saves
VoyageProgress.tox.

Use: drag this file into a TouchDesigner network (it becomes a Text DAT), right-click it and
choose Run Script. A ``voyage_progress`` Base COMP appears next to it, and VoyageProgress.tox
in the project folder. Run it again after updating the files: the component is updated in
place and keeps your parameter values and your callbacks.

Why a builder: a .tox is a binary only TouchDesigner can write, so the component lives as text
(the .py files beside this one, the single source of its code) and is assembled here. With
LINK_FILES the code DATs stay linked to those files (edit them in your editor, TouchDesigner
reloads them); without, the code is embedded and the .tox stands alone.
"""

import json
import os

COMPONENT = "voyage_progress"
PAGE = "Voyage Progress"
SIDECAR_PAGE = "Sidecar"
TOX_NAME = "VoyageProgress.tox"
LINK_FILES = False
#: Written by ``voyage-progress td-export`` beside this file: the exporting environment's Python.
SIDECAR_CONFIG = "voyage_progress_sidecar.json"
FILES_FOLDER_KEY = "voyage_files_folder"

#: The component's DATs whose text comes from a file beside this one.
CODE = {
    "model": "voyage_progress_model.py",
    "VoyageProgressExt": "voyage_progress_ext.py",
    "launcher": "voyage_progress_launcher.py",
    "oscin_callbacks": "oscin_callbacks.py",
    "chop_callbacks": "chop_callbacks.py",
    "parexec": "parexec_callbacks.py",
    "frame": "frame_callbacks.py",
    "readme": "README.md",
}
#: Created from a template once, then the user's: never overwritten.
USER_CODE = {"callbacks": "user_callbacks.py"}

#: The sidecar's arguments: voyage-progress.pyz runs them with TouchDesigner's own Python.
DEFAULT_ARGUMENTS = "watch --all-active --state-file voyage_progress_state.json"
#: Defaults of earlier versions: a parameter still at one of them moves to the new default.
PREVIOUS_DEFAULTS = {
    "Python": ("python",),
    "Arguments": ("-m voyage_progress watch --all-active --state-file voyage_progress_state.json",),
}


def _source_folder():
    """The folder of this builder's file (TouchDesigner sets the DAT's File when a file is
    dropped), else ``td_components`` in the project folder."""
    candidates = []
    dropped = str(me.par.file.eval()).strip()  # noqa: F821 - TouchDesigner global
    if dropped:
        candidates.append(os.path.dirname(os.path.abspath(dropped)))
    candidates.append(os.path.join(str(project.folder), "td_components"))  # noqa: F821
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, CODE["model"])):
            return folder
    raise FileNotFoundError(
        "VoyageProgress: cannot find voyage_progress_model.py in "
        + " or ".join(candidates)
        + ": drag VoyageProgress.py from the td_components folder, keeping its files beside it"
    )


def _read(folder, filename):
    with open(os.path.join(folder, filename), encoding="utf-8") as handle:
        return handle.read()


def _sidecar_defaults(folder):
    """Python (empty: TouchDesigner's own) and Arguments; with the file ``td-export`` wrote, the
    Python that exported the files and its installed package (``-m voyage_progress``)."""
    path = os.path.join(folder, SIDECAR_CONFIG)
    if not os.path.isfile(path):
        return {"Python": "", "Arguments": DEFAULT_ARGUMENTS}
    with open(path, encoding="utf-8") as handle:
        exported = json.load(handle)
    return {"Python": str(exported["python"]), "Arguments": f"{exported['program']} {DEFAULT_ARGUMENTS}"}


# -- the network --------------------------------------------------------------------------------------


def _ensure(owner, optype, name, x, y):
    """The child ``name`` of type ``optype``, created if missing (or of another type)."""
    existing = owner.op(name)
    if existing is not None and existing.OPType != optype.__name__:
        existing.destroy()
        existing = None
    if existing is None:
        existing = owner.create(optype, name)
    existing.nodeX, existing.nodeY = x, y
    return existing


def _set(node, **values):
    for name, value in values.items():
        par = getattr(node.par, name)
        if isinstance(value, Expr):
            par.expr = value.text
        else:
            par.val = value


def _set_first(node, names, value):
    """Set the first of ``names`` the operator has (a parameter renamed between builds)."""
    for name in names:
        if node.pars(name):
            _set(node, **{name: value})
            return name
    print(f"VoyageProgress: {node.path} has none of {', '.join(names)}: left as it is")
    return None


def _try_set(node, **values):
    """Set what this build accepts (a unit menu whose tokens the docs do not list); say what not."""
    for name, value in values.items():
        try:
            _set(node, **{name: value})
        except Exception as exc:
            print(f"VoyageProgress: {node.path}: {name} = {value!r} not accepted ({exc}): left as it is")


class Expr:
    """A parameter value given as an expression."""

    def __init__(self, text):
        self.text = text


def _code(node, folder, filename):
    if LINK_FILES:
        node.par.file = os.path.join(folder, filename)
        node.par.syncfile = True
    else:
        node.par.syncfile = False
        node.par.file = ""
        node.text = _read(folder, filename)


def _connect(source, target):
    source.outputConnectors[0].connect(target)


def build_network(comp, folder):
    dat, chop = 0, -200
    oscin = _ensure(comp, oscinDAT, "oscin", 0, dat)  # noqa: F821 - operator types are TD globals
    _set(
        oscin,
        port=Expr("parent().par.Port"),
        protocol="msging",
        splitbundle=True,
        splitmessage=False,
        callbacks="oscin_callbacks",
        executeloc="callbacks",
        maxlines=20,
        clamp=True,
    )
    control = _ensure(comp, oscoutDAT, "control", 0, dat - 150)  # noqa: F821
    _set(
        control,
        address=Expr("parent().par.Sidecarhost"),
        port=Expr("parent().par.Controlport"),
        protocol="msging",
    )

    for index, name in enumerate(CODE):
        optype = {"parexec": parameterexecuteDAT, "frame": executeDAT}.get(name, textDAT)  # noqa: F821
        node = _ensure(comp, optype, name, 200 + 200 * (index % 4), dat - 150 * (index // 4))
        _code(node, folder, CODE[name])
    for name, filename in USER_CODE.items():
        node = comp.op(name)
        if node is None:
            node = _ensure(comp, textDAT, name, 200, dat - 300)  # noqa: F821
            node.text = _read(folder, filename)
    _set(
        comp.op("parexec"),
        op=Expr("parent()"),
        pars="*",
        onpulse=True,
        valuechange=False,
        custom=True,
        builtin=False,
        active=True,
    )
    _set(comp.op("frame"), framestart=True, start=True, exit=True, active=True)
    _ensure(comp, tableDAT, "sidecar_process", 250, chop - 450)  # noqa: F821 - filled by the extension
    _ensure(comp, textDAT, "sidecar_log", 250, chop - 600)  # noqa: F821

    selected = _ensure(comp, scriptCHOP, "selected", 0, chop)  # noqa: F821
    slots = _ensure(comp, scriptCHOP, "slots", 0, chop - 150)  # noqa: F821
    strings = _ensure(comp, tableDAT, "strings", 0, chop - 300)  # noqa: F821
    sidecar = _ensure(comp, tableDAT, "sidecar", 0, chop - 450)  # noqa: F821
    for node in (selected, slots):
        _set(node, callbacks="chop_callbacks")
    for source, name, optype, label in (
        (selected, "out_selected", outCHOP, "selected batch"),  # noqa: F821
        (slots, "out_slots", outCHOP, "every slot"),  # noqa: F821
        (strings, "out_strings", outDAT, "strings"),  # noqa: F821
        (sidecar, "out_sidecar", outDAT, "sidecar"),  # noqa: F821
    ):
        out = _ensure(comp, optype, name, 250, source.nodeY)
        _set(out, label=label)
        _connect(source, out)
    build_display(comp)


def build_display(comp):
    display = _ensure(comp, containerCOMP, "display", 500, -200)  # noqa: F821
    # "label" would be a sibling of the container; its own children are "./label"
    _set(display, w=420, h=90, top="./label", bgalpha=1.0, bgcolorr=0.08, bgcolorg=0.08, bgcolorb=0.1)
    bar = _ensure(display, rectangleTOP, "bar", 0, 0)  # noqa: F821
    _set(
        bar,
        outputresolution="custom",
        resolutionw=420,
        resolutionh=90,
        sizeunit="fraction",
        sizex=0.0,
        sizey=1.0,
        centerunit="fraction",
        centerx=-0.5,
        centery=0.0,
        justifyh="left",
        justifyv="center",
        fillalpha=1.0,
        bgcolorr=0.12,
        bgcolorg=0.12,
        bgcolorb=0.14,
        bgalpha=1.0,
    )
    label = _ensure(display, textTOP, "label", 200, 0)  # noqa: F821
    _set(
        label,
        outputresolution="useinput",
        text="waiting for the sidecar",
        fontsizex=18,
        fontautosize="fitiffat",
        wordwrap=True,
        fontcolorr=1.0,
        fontcolorg=1.0,
        fontcolorb=1.0,
        bgalpha=0.0,
    )
    _set_first(label, ("compoverinput", "combineinput"), True)  # renamed in 2025 builds
    _try_set(label, fontsizexunit="pixels")
    _connect(bar, label)
    comp.par.opviewer = "./display"
    comp.viewer = True


# -- the parameters --------------------------------------------------------------------------------------


def _page(comp, name=PAGE):
    for page in comp.customPages:
        if page.name == name:
            return page
    return comp.appendCustomPage(name)


def _par(comp, page, style, name, label, default=None, **props):
    """A custom parameter: created with its default, or, when it exists, left at the user's value
    (unless that is an earlier version's default); moved to ``page`` if it is on another one."""
    found = comp.pars(name)
    kept = None
    if found and found[0].page.name != page.name:  # an earlier version's layout
        if not found[0].isPulse and style != "Header":
            kept = found[0].eval()
        found[0].destroy()
        found = []
    if found:
        par = found[0]
        created = False
    else:
        par = getattr(page, "append" + style)(name, label=label)[0]
        created = True
    par.label = label
    for prop, value in props.items():
        setattr(par, prop, value)
    if default is not None:
        par.default = default
        if created:
            par.val = default if kept is None else kept
        if par.eval() in PREVIOUS_DEFAULTS.get(name, ()):
            par.val = default
    return par


def build_parameters(comp, version, sidecar_defaults):
    page = _page(comp)
    _par(
        comp,
        page,
        "Int",
        "Port",
        "Port",
        7450,
        min=1,
        max=65535,
        clampMin=True,
        clampMax=True,
        help="UDP port the sidecar sends to (its --osc)",
    )
    _par(comp, page, "Str", "Prefix", "OSC Prefix", "/voyage", help="the sidecar's --prefix")
    slots = [str(n) for n in range(16)]
    _par(
        comp,
        page,
        "StrMenu",
        "Batchslot",
        "Batch Slot",
        "latest",
        menuNames=["latest", *slots],
        menuLabels=["Latest", *slots],
        help="the batch of the first output: a slot, or the latest watched",
    )
    _par(
        comp,
        page,
        "Float",
        "Staletimeout",
        "Stale Timeout",
        5.0,
        min=0.5,
        max=60.0,
        clampMin=True,
        help="seconds without a heartbeat before the sidecar counts as offline",
    )
    _par(comp, page, "Pulse", "Reset", "Reset", help="forget what was received")
    _par(comp, page, "Header", "Watchheader", "Watch a Batch")
    _par(comp, page, "Str", "Batchid", "Batch Id", "", help="a batch for the sidecar to watch")
    _par(comp, page, "Str", "Label", "Label", "", help="its label (optional)")
    _par(comp, page, "Pulse", "Watch", "Watch", help="send /control/watch to the sidecar")
    _par(comp, page, "Pulse", "Refresh", "Refresh", help="ask the sidecar to poll now and resend everything")
    _par(comp, page, "Header", "Aboutheader", "About")
    version_par = _par(comp, page, "Str", "Version", "Version", version, readOnly=True)
    version_par.val = version
    _par(comp, page, "Pulse", "Help", "Help", help="open the README")
    build_sidecar_parameters(comp, sidecar_defaults)


def build_sidecar_parameters(comp, defaults):
    page = _page(comp, SIDECAR_PAGE)
    for old_header in comp.pars("Sidecarheader"):  # the section of earlier versions' first page
        old_header.destroy()
    _par(
        comp,
        page,
        "File",
        "Python",
        "Python",
        defaults["Python"],
        help="the Python to run the sidecar with; empty: TouchDesigner's own (app.pythonExecutable)",
    )
    _par(
        comp,
        page,
        "Str",
        "Arguments",
        "Arguments",
        defaults["Arguments"],
        help="the sidecar's arguments, run by voyage-progress.pyz (beside the project or these files), or"
        " starting with -m voyage_progress; --osc and --control-port follow Port and Control Port",
    )
    _par(
        comp,
        page,
        "File",
        "Keyfile",
        "Key File",
        "",
        help="a file holding the Voyage API key (else VOYAGE_API_KEY of TouchDesigner's environment);"
        " the key itself is never saved in the project",
    )
    _par(comp, page, "Str", "Sidecarhost", "Sidecar Host", "127.0.0.1", help="where the sidecar listens")
    _par(
        comp,
        page,
        "Int",
        "Controlport",
        "Control Port",
        7451,
        min=1,
        max=65535,
        clampMin=True,
        clampMax=True,
        help="its --control-port",
    )
    _par(comp, page, "Pulse", "Start", "Start", help="start the sidecar")
    _par(comp, page, "Pulse", "Stop", "Stop", help="stop the sidecar (through its control port)")
    _par(
        comp, page, "Toggle", "Running", "Running", False, readOnly=True, help="the sidecar started here runs"
    )
    page.sort("Python", "Arguments", "Keyfile", "Sidecarhost", "Controlport", "Start", "Stop", "Running")


def build_extension(comp):
    expression = "op('./VoyageProgressExt').module.VoyageProgressExt(me)"
    if not comp.pars("ext0object") and not comp.pars("extension1"):
        comp.seq.ext.numBlocks = 1  # a fresh COMP may have an Extension sequence without a block
    if comp.pars("ext0object"):
        _set(comp, ext0object=expression, ext0name="VoyageProgressExt", ext0promote=True)
    else:  # builds before the Extensions sequence
        _set(comp, extension1=expression, extname1="VoyageProgressExt", promoteextension1=True)
    comp.initializeExtensions()


def build():
    folder = _source_folder()
    owner = me.parent()  # noqa: F821 - TouchDesigner global
    comp = owner.op(COMPONENT)
    created = comp is None
    if created:
        comp = owner.create(baseCOMP, COMPONENT)  # noqa: F821
        comp.nodeX, comp.nodeY = me.nodeX + 250, me.nodeY  # noqa: F821
    comp.color = (0.15, 0.35, 0.6)
    comp.comment = "Voyage batch progress from the voyage-progress sidecar (OSC)."
    new_status = comp.op("sidecar_process") is None
    build_network(comp, folder)
    version = comp.op("model").module.VERSION
    build_parameters(comp, version, _sidecar_defaults(folder))
    comp.store(FILES_FOLDER_KEY, folder)
    build_extension(comp)
    if new_status:
        comp.OnStart()  # the sidecar table, as at the start of a session
    tox = comp.save(os.path.join(str(project.folder), TOX_NAME))  # noqa: F821
    print(f"VoyageProgress {version}: {'created' if created else 'updated'} {comp.path}, saved {tox}")
    return comp


build()
