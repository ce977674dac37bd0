"""VoyageProgressExt: the component's extension, the glue between TouchDesigner and the model.

Why an extension: its promoted methods (``Progress()``, ``Watch()``, ``Reset()``...) are the
scripting interface of the component (``op('voyage_progress').Progress()``), and the callbacks
DATs stay one-liners that call into it.

Why the state lives in ``ownerComp.store``: TouchDesigner re-creates an extension, and recompiles
its module, whenever its DAT is edited or the extensions are re-initialised (the builder does);
module globals and attributes start over then, storage does not. The sidecar's process handle
is stored there too. Both have a startup value of None (``storeStartupValue``): storage is saved
with the .toe and the .tox, and neither what the sidecar said (with ``time.monotonic()`` times,
whose zero is another one after a reboot) nor a process belongs in a file.
"""

import os
import time

STATE_KEY = "voyage_state"
PROCESS_KEY = "voyage_sidecar"
#: Where the builder found the component's files (the .pyz may be there).
FILES_FOLDER_KEY = "voyage_files_folder"
#: Kept by earlier versions; removed when met.
OLD_KEYS = ("voyage_sidecar_pid",)
BAR_COLORS = {
    "running": (0.20, 0.55, 0.95),
    "complete": (0.25, 0.75, 0.35),
    "failed": (0.90, 0.30, 0.25),
    "offline": (0.45, 0.45, 0.45),
    "idle": (0.30, 0.30, 0.30),
}
#: Rows of the ``sidecar_process`` table: what the sidecar process is doing, for the artist and for scripts.
STATUS_ROWS = ("state", "pid", "exit_code", "last_error", "command")


class VoyageProgressExt:
    def __init__(self, ownerComp):
        self.ownerComp = ownerComp
        self.clock = time.monotonic
        self._frame_pulse = (None, 0.0)  # (slot, completed_pulse) of this frame
        for key in (STATE_KEY, PROCESS_KEY):
            ownerComp.storeStartupValue(key, None)
        ownerComp.unstore(*OLD_KEYS)

    # -- state and model -------------------------------------------------------------------------

    @property
    def model(self):
        return self.ownerComp.op("model").module

    @property
    def launcher(self):
        return self.ownerComp.op("launcher").module

    @property
    def state(self):
        state = self.ownerComp.fetch(STATE_KEY, None, search=False)
        prefix = str(self.ownerComp.par.Prefix.eval()) or self.model.DEFAULT_PREFIX
        if state is None or state.get("prefix") != prefix:
            state = self.model.new_state(prefix)
            self.ownerComp.store(STATE_KEY, state)
        return state

    @property
    def slot(self):
        return self.model.selected_slot(self.state, self.ownerComp.par.Batchslot.eval())

    @property
    def timeout(self):
        return float(self.ownerComp.par.Staletimeout.eval())

    # -- called by the callbacks DATs -------------------------------------------------------------

    def ReceiveOSC(self, address, args, peer=None):
        """One OSC message from the OSC In DAT; ``peer`` is its sender, which tells two sidecars
        sending to this port apart."""
        self._fire(self.model.apply(self.state, address, list(args), self.clock(), _source(peer)))

    def OnFrame(self):
        """Once a frame: staleness, outputs, display, the sidecar process."""
        state = self.state
        now = self.clock()
        self._fire(self.model.check_online(state, now, self.timeout))
        self._watch_sidecar(now)
        slot = self.slot
        # the pulse is taken once a frame here, so every cook of this frame sees it
        taken = self.model.selected_channels(state, slot, now, self.timeout)["completed_pulse"]
        self._frame_pulse = (slot, taken)
        self.ownerComp.op("selected").cook(force=True)
        self.ownerComp.op("slots").cook(force=True)
        self._update_table("strings", self.model.table_rows(state))
        self._update_table("sidecar", self.model.sidecar_rows(state, self.clock(), self._port()))
        self._update_display(state)
        running = self.SidecarRunning
        if self.ownerComp.par.Running.eval() != running:
            self.ownerComp.par.Running.val = running

    def OnStart(self):
        """The project opened: nothing of a previous session's sidecar is shown."""
        self._clear_sidecar_status()

    def OnExit(self):
        """TouchDesigner quits: the sidecar this component started stops with it."""
        handle = self._handle()
        if self.launcher.running(handle):
            self._control("shutdown", [])
            self.launcher.stop_now(handle)

    def SelectedChannels(self):
        channels = self.model.selected_channels(
            self.state, self.slot, self.clock(), self.timeout, consume_pulse=False
        )
        slot, pulse = self._frame_pulse
        channels["completed_pulse"] = pulse if slot == self.slot else 0.0
        return channels

    def SlotChannels(self):
        return self.model.slot_channels(self.state)

    def OnPulse(self, par):
        """A pulse parameter of the component was pressed."""
        actions = {
            "Reset": self.Reset,
            "Watch": self.Watch,
            "Start": self.StartSidecar,
            "Stop": self.StopSidecar,
            "Help": self.OpenHelp,
            "Refresh": self.Refresh,
        }
        action = actions.get(par.name)
        if action is not None:
            action()

    # -- promoted: for scripts ----------------------------------------------------------------------

    def Batch(self, slot=None):
        """The batch in ``slot`` (default: the one shown) as a dict, or None."""
        return self.model.batch(self.state, self.slot if slot is None else slot)

    def Progress(self, slot=None):
        """0-1 for the batch in ``slot`` (default: the one shown)."""
        found = self.Batch(slot)
        return float(found["progress"]) if found else 0.0

    def Percent(self, slot=None):
        found = self.Batch(slot)
        return float(found["percent"]) if found else 0.0

    def Eta(self, slot=None):
        """Seconds left, -1 when unknown."""
        found = self.Batch(slot)
        return float(found["eta"]) if found else -1.0

    def Status(self, slot=None):
        found = self.Batch(slot)
        return found["status"] if found else ""

    @property
    def Warning(self):
        """What is wrong with who sends to this port (two sidecars at once), or ''."""
        return self.model.warning(self.state, self.clock(), self._port())

    @property
    def Online(self):
        """Heartbeats are arriving from a running sidecar."""
        return not self.model.is_stale(self.state, self.clock(), self.timeout)

    def Watch(self, batch_id=None, label=None):
        """Ask the sidecar to watch a batch (default: the Batch Id parameter)."""
        batch_id = str(batch_id if batch_id is not None else self.ownerComp.par.Batchid.eval()).strip()
        label = str(label if label is not None else self.ownerComp.par.Label.eval())
        if not batch_id:
            print(f"{self.ownerComp.path}: set Batch Id before pressing Watch")
            return
        values = [batch_id, label] if label else [batch_id]
        self._control("watch", values)

    def Unwatch(self, batch_id):
        self._control("unwatch", [str(batch_id)])

    def Refresh(self):
        self._control("refresh", [])

    def Reset(self):
        """Forget everything received; the sidecar's next full state fills it in again."""
        self.model.reset(self.state)
        self.ownerComp.op("strings").clear()

    # -- the sidecar process ------------------------------------------------------------------------

    @property
    def SidecarRunning(self):
        """The sidecar started here runs."""
        return self.launcher.running(self._handle())

    @property
    def SidecarStatus(self):
        """The ``sidecar_process`` table as a dict: state, pid, exit_code, last_error, command."""
        table = self.ownerComp.op("sidecar_process")
        return {name: table[name, 1].val if table[name, 1] is not None else "" for name in STATUS_ROWS}

    def StartSidecar(self):
        """Start the sidecar in the project folder, sending OSC to this component's port: with
        TouchDesigner's own Python and voyage-progress.pyz by default (see ``Python`` and
        ``Arguments``). Why it cannot start is shown on the display and in the ``sidecar_process`` table."""
        if self.SidecarRunning:
            return
        launcher = self.launcher
        self._clear_sidecar_status()
        try:
            command = self._sidecar_command()
            environment = launcher.child_environment(os.environ, self._key_file())
            handle = launcher.start(command, self._project_folder(), environment, self.clock())
        except launcher.LaunchError as exc:
            self._set_status(state="failed to start", last_error=str(exc))
            print(f"{self.ownerComp.path}: the sidecar cannot start: {exc}")
            return
        self.ownerComp.store(PROCESS_KEY, handle)
        shown = " ".join(command)
        self._set_status(state="running", pid=str(handle["pid"]), command=shown)
        print(f"{self.ownerComp.path}: started the sidecar (pid {handle['pid']}): {shown}")

    def StopSidecar(self):
        """Ask the sidecar to stop through its control port (it says goodbye on OSC); the one
        started here is terminated if it has not ended a few seconds later. Never waits."""
        self._control("shutdown", [])
        handle = self._handle()
        if self.launcher.running(handle):
            self.launcher.request_stop(handle, self.clock())
            self._set_status(state="stopping")

    def _handle(self):
        return self.ownerComp.fetch(PROCESS_KEY, None, search=False)

    def _key_file(self):
        """The Key File parameter, a relative path taken from the project folder."""
        path = str(self.ownerComp.par.Keyfile.eval()).strip()
        if path and not os.path.isabs(path) and self._project_folder():
            path = os.path.join(self._project_folder(), path)
        return path

    def _sidecar_command(self):
        comp = self.ownerComp
        python = str(comp.par.Python.eval()).strip() or getattr(app, "pythonExecutable", "")  # noqa: F821
        return self.launcher.sidecar_command(
            python,
            comp.par.Arguments.eval(),
            [self._project_folder(), comp.fetch(FILES_FOLDER_KEY, "", search=False)],
            comp.par.Port.eval(),
            comp.par.Controlport.eval(),
        )

    def _watch_sidecar(self, now):
        """Once a frame: the sidecar's new output into ``sidecar_log``, its end into the table."""
        handle = self._handle()
        if handle is None:
            if self.SidecarStatus["state"] in ("running", "stopping"):  # saved in a .toe or .tox
                self._clear_sidecar_status()
            return
        launcher = self.launcher
        self._append_log(launcher.take_output(handle))
        code = launcher.poll(handle, now)
        if code is None:
            return
        self._append_log(launcher.take_output(handle))
        state, error = launcher.exit_report(handle)
        self.ownerComp.unstore(PROCESS_KEY)
        self._set_status(state=state, exit_code=str(code), last_error=error)
        if error:
            print(f"{self.ownerComp.path}: the sidecar ended: {error}")

    def _append_log(self, lines):
        if not lines:
            return
        log = self.ownerComp.op("sidecar_log")
        kept = (log.text.splitlines() + lines)[-self.launcher.OUTPUT_LINES :]
        log.text = "\n".join(kept) + "\n"

    def _set_status(self, **values):
        table = self.ownerComp.op("sidecar_process")
        if table.numRows != len(STATUS_ROWS) or table.numCols != 2:
            table.setSize(len(STATUS_ROWS), 2)
            for row, name in enumerate(STATUS_ROWS):
                table[row, 0] = name
        for name, value in values.items():
            table[name, 1] = value

    def _clear_sidecar_status(self):
        self._set_status(**{name: "" for name in STATUS_ROWS})
        self._set_status(state="not started")
        self.ownerComp.op("sidecar_log").text = ""

    def _project_folder(self):
        folder = str(project.folder)  # noqa: F821 - a TouchDesigner global
        return folder if os.path.isdir(folder) else None

    # -- outputs ------------------------------------------------------------------------------------

    def _update_table(self, name, rows):
        table = self.ownerComp.op(name)
        if table.numRows != len(rows) or table.numCols != len(rows[0]):
            table.setSize(len(rows), len(rows[0]))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if table[r, c].val != value:
                    table[r, c] = value

    def _port(self):
        return int(self.ownerComp.par.Port.eval())

    def _update_display(self, state):
        shown = self.model.display(state, self.slot, self.clock(), self.timeout, self._port())
        error = self.SidecarStatus["last_error"]
        detail = f"sidecar: {error}" if error and not self.Online else shown["detail"]
        label = self.ownerComp.op("display/label")
        text = shown["text"] + ("\n" + detail if detail else "")
        if label.par.text.eval() != text:
            label.par.text = text
        bar = self.ownerComp.op("display/bar")
        bar.par.sizex = shown["progress"]
        red, green, blue = BAR_COLORS.get(shown["color"], BAR_COLORS["idle"])
        bar.par.fillcolorr, bar.par.fillcolorg, bar.par.fillcolorb = red, green, blue

    def _control(self, kind, values):
        prefix = self.state["prefix"]
        self.ownerComp.op("control").sendOSC(f"{prefix}/control/{kind}", values)

    def _fire(self, events):
        """Call the user's callbacks DAT; a failing callback is reported, never fatal."""
        if not events:
            return
        callbacks = self.ownerComp.op("callbacks")
        module = callbacks.module if callbacks is not None else None
        for name, info in events:
            function = getattr(module, name, None)
            if function is None:
                continue
            try:
                function(self.ownerComp, info)
            except Exception as exc:  # the user's code must not stop the component
                print(f"{self.ownerComp.path}: {name} failed: {exc!r}")

    def OpenHelp(self):
        """The component's README (embedded in the ``readme`` DAT) in a viewer window."""
        self.ownerComp.op("readme").openViewer()


def _source(peer):
    """The sender of an OSC In DAT message as ``address:port``; None when it is not known."""
    address, port = getattr(peer, "address", None), getattr(peer, "port", None)
    return None if address is None or port is None else f"{address}:{port}"
