"""VoyageProgressExt: the component's extension, the glue between TouchDesigner and the model.

Why an extension: its promoted methods (``Progress()``, ``Watch()``, ``Reset()``...) are the
scripting interface of the component (``op('voyage_progress').Progress()``), and the callbacks
DATs stay one-liners that call into it.

Why the state lives in ``ownerComp.store``: an extension is re-created whenever its DAT is
edited or the extensions are re-initialised; what the sidecar said must survive that, so this
class keeps none of it in attributes. The sidecar process handle is the one exception (a
process cannot be stored): it is kept per component path at module level, and its pid in the
storage, so a re-initialised extension can still stop the sidecar it started.
"""

import os
import shlex
import signal
import subprocess
import sys
import time

STATE_KEY = "voyage_state"
PID_KEY = "voyage_sidecar_pid"
BAR_COLORS = {
    "running": (0.20, 0.55, 0.95),
    "complete": (0.25, 0.75, 0.35),
    "failed": (0.90, 0.30, 0.25),
    "offline": (0.45, 0.45, 0.45),
    "idle": (0.30, 0.30, 0.30),
}

_processes = {}  # component path -> subprocess.Popen started by it


class VoyageProgressExt:
    def __init__(self, ownerComp):
        self.ownerComp = ownerComp
        self.clock = time.monotonic

    # -- state and model -------------------------------------------------------------------------

    @property
    def model(self):
        return self.ownerComp.op("model").module

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
        self._fire(self.model.check_online(state, self.clock(), self.timeout))
        self.ownerComp.op("selected").cook(force=True)
        self.ownerComp.op("slots").cook(force=True)
        self._update_table("strings", self.model.table_rows(state))
        self._update_table("sidecar", self.model.sidecar_rows(state, self.clock(), self._port()))
        self._update_display(state)
        self.ownerComp.par.Running.val = self.SidecarRunning

    def SelectedChannels(self):
        return self.model.selected_channels(self.state, self.slot, self.clock(), self.timeout)

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
        process = _processes.get(self.ownerComp.path)
        return process is not None and process.poll() is None

    def StartSidecar(self):
        """Start ``Python Arguments`` (e.g. ``-m voyage_progress watch --all-active``) in the
        project folder, sending OSC to this component's port."""
        if self.SidecarRunning:
            return
        command = self._sidecar_command()
        flags = 0
        if sys.platform == "win32":  # its own console group, so Ctrl+Break can stop it cleanly
            flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
        process = subprocess.Popen(command, cwd=self._project_folder(), creationflags=flags)
        _processes[self.ownerComp.path] = process
        self.ownerComp.store(PID_KEY, process.pid)
        print(f"{self.ownerComp.path}: started the sidecar (pid {process.pid}): {' '.join(command)}")

    def StopSidecar(self, timeout=5.0):
        """Stop the sidecar this component started, cleanly (it announces its shutdown)."""
        process = _processes.pop(self.ownerComp.path, None)
        self.ownerComp.unstore(PID_KEY)
        if process is None or process.poll() is not None:
            return
        if sys.platform == "win32":
            process.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()

    def _sidecar_command(self):
        python = str(self.ownerComp.par.Python.eval()).strip() or "python"
        arguments = shlex.split(str(self.ownerComp.par.Arguments.eval()), posix=sys.platform != "win32")
        if "--osc" not in arguments:
            arguments += ["--osc", f"127.0.0.1:{int(self.ownerComp.par.Port.eval())}"]
        if "--control-port" not in arguments:
            arguments += ["--control-port", str(int(self.ownerComp.par.Controlport.eval()))]
        return [python, *arguments]

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
        label = self.ownerComp.op("display/label")
        text = shown["text"] + ("\n" + shown["detail"] if shown["detail"] else "")
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
