"""voyage_progress launcher: starting, watching and stopping the sidecar process.

Why its own module, with no TouchDesigner import: how a process starts, speaks and ends differs
between Windows and macOS, and all of it can be tested with real processes, without TouchDesigner.
The extension passes in what it reads from TouchDesigner (the Python to use, the folders to look
in, the ports) and keeps the handle in the component's storage.

Why nothing here blocks, but ``stop_now``: TouchDesigner runs Python on its main thread between
frames. The child's output is read by a thread into a bounded deque; whether it ended, and whether
a stop is overdue, is checked once a frame with ``poll``. Only at TouchDesigner's exit does
``stop_now`` wait, for two seconds at most.

Why a stop goes through the control port first: on Windows a child started without a console
cannot be sent Ctrl+C or Ctrl+Break (``GenerateConsoleCtrlEvent`` reaches only processes sharing
the caller's console, and TouchDesigner has none), and ``terminate()`` there is
``TerminateProcess``, which leaves no time to say goodbye. ``/voyage/control/shutdown`` works the
same everywhere; ``terminate`` is the fallback once it is overdue.

The handle is a plain dict of standard-library objects, so that an extension re-created with new
code (TouchDesigner recompiles the extension's module) still reads the handle of the old one.
"""

import collections
import os
import shlex
import subprocess
import sys
import threading

PYZ_NAME = "voyage-progress.pyz"
KEY_ENV = "VOYAGE_API_KEY"
#: Lines of the sidecar's output kept for the artist to read.
OUTPUT_LINES = 200
#: Seconds a stop through the control port may take (the sidecar stops within one) before terminate.
STOP_GRACE = 5.0
#: Seconds between terminate and kill.
KILL_GRACE = 3.0
#: Seconds TouchDesigner's exit waits for the sidecar to stop.
EXIT_GRACE = 2.0
#: Python options for the child: unbuffered (each line arrives when written) and UTF-8 output on
#: every platform (``-X utf8`` still works under ``-I``, where PYTHON* variables are ignored).
PYTHON_OPTIONS = ["-u", "-X", "utf8"]
#: Set in the child by TouchDesigner or a shell, they would point it at another Python's library.
INHERITED_PYTHON_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")
#: Win32 CREATE_NO_WINDOW: no console window pops up for the child (its output is read here).
CREATE_NO_WINDOW = 0x08000000


class LaunchError(Exception):
    """Why the sidecar cannot start, in one line for the artist."""


def split_arguments(text):
    """The Arguments parameter as a list: quotes group ("C:/Show Files/state.json"), backslashes
    are kept as they are (Windows paths), on every platform."""
    lexer = shlex.shlex(str(text), posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError as exc:
        raise LaunchError(f"Arguments: {exc} (a quote is not closed)") from None


def find_pyz(folders):
    """The first voyage-progress.pyz in ``folders``, or None."""
    for folder in folders:
        if folder:
            candidate = os.path.join(str(folder), PYZ_NAME)
            if os.path.isfile(candidate):
                return os.path.abspath(candidate)
    return None


def names_its_program(arguments):
    """Whether the arguments start with what to run (``-m voyage_progress`` or a .pyz/.py file)."""
    return bool(arguments) and (arguments[0] == "-m" or arguments[0].lower().endswith((".pyz", ".py")))


def sidecar_command(python, arguments, pyz_folders, osc_port, control_port):
    """The command line: ``python -u -X utf8 -I voyage-progress.pyz ARGUMENTS`` (the .pyz found in
    ``pyz_folders``), or ``python -u -X utf8 ARGUMENTS`` when the arguments name the program; with
    ``--osc`` and ``--control-port`` from the component unless the arguments set them."""
    python = os.path.expanduser(str(python).strip())
    if not python:
        raise LaunchError("no Python to run the sidecar: set the Python parameter")
    if not os.path.isabs(python):
        # CreateProcess would look in TouchDesigner's own folder first: name the file, not a command
        raise LaunchError(f"Python {python!r}: give the full path of a python executable")
    arguments = split_arguments(arguments)
    if names_its_program(arguments):
        program = ["-I"] if arguments[0].lower().endswith(".pyz") else []
    else:
        pyz = find_pyz(pyz_folders)
        if pyz is None:
            where = " or ".join(str(f) for f in pyz_folders if f)
            raise LaunchError(
                f"{PYZ_NAME} not found in {where}: put it there, or start Arguments with "
                "-m voyage_progress and set Python to a Python where voyage-progress is installed"
            )
        program = ["-I", pyz]
    if "--osc" not in arguments:
        arguments += ["--osc", f"127.0.0.1:{int(osc_port)}"]
    if "--control-port" not in arguments and "--no-control" not in arguments:
        arguments += ["--control-port", str(int(control_port))]
    return [python, *PYTHON_OPTIONS, *program, *arguments]


def read_key_file(path):
    """The API key in ``path`` (its first line, without spaces around it)."""
    path = str(path).strip()
    try:
        with open(path, encoding="utf-8-sig") as handle:
            key = handle.readline().strip()
    except FileNotFoundError:
        raise LaunchError(f"Key File {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LaunchError(f"Key File {path}: cannot read it ({exc.__class__.__name__})") from None
    if not key:
        raise LaunchError(f"Key File {path}: the file is empty")
    return key


def child_environment(environment, key_file=""):
    """TouchDesigner's environment without the variables that would send the child's Python to
    another library, with the key of ``key_file`` when one is named."""
    child = {k: v for k, v in environment.items() if k.upper() not in INHERITED_PYTHON_VARIABLES}
    if str(key_file).strip():
        child[KEY_ENV] = read_key_file(key_file)
    return child


def start(command, cwd, environment, now):
    """Start ``command``; the handle (a dict) of the running process."""
    flags = CREATE_NO_WINDOW if sys.platform == "win32" else 0
    try:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            creationflags=flags,
        )
    except OSError as exc:
        raise LaunchError(f"cannot start {command[0]}: {exc.strerror or exc}") from None
    output = collections.deque(maxlen=OUTPUT_LINES)
    reader = threading.Thread(target=_read, args=(process.stdout, output), daemon=True)
    reader.start()
    return {
        "process": process,
        "pid": process.pid,
        "output": output,
        "reader": reader,
        "command": command,
        "started_at": now,
        "stop_at": None,
        "terminated_at": None,
        "exit_code": None,
        "last_line": "",
    }


def _read(stream, output):
    """The reader thread: every line the child writes, until it closes its output."""
    try:
        for raw in iter(stream.readline, b""):
            output.append(raw.decode("utf-8", "replace").rstrip())
    except (OSError, ValueError):  # the pipe went away with the process
        pass
    finally:
        stream.close()


def take_output(handle):
    """The lines written since the last call."""
    output = handle["output"]
    lines = []
    while output:
        lines.append(output.popleft())
    for line in reversed(lines):
        if line.strip():
            handle["last_line"] = line.strip()
            break
    return lines


def running(handle):
    return handle is not None and handle["process"].poll() is None


def request_stop(handle, now):
    """Remember that a stop was asked for (the control message is the caller's): ``poll``
    terminates the process once it is overdue."""
    if handle["stop_at"] is None:
        handle["stop_at"] = now


def poll(handle, now):
    """Once a frame: the exit code once the process ended (None while it runs); terminate a stop
    that is overdue, kill a terminate that is."""
    process = handle["process"]
    code = process.poll()
    if code is not None:
        handle["exit_code"] = code
        return code
    if handle["terminated_at"] is not None:
        if now - handle["terminated_at"] >= KILL_GRACE:
            process.kill()
    elif handle["stop_at"] is not None and now - handle["stop_at"] >= STOP_GRACE:
        handle["terminated_at"] = now
        process.terminate()
    return None


def stop_now(handle, grace=EXIT_GRACE):
    """At TouchDesigner's exit (the control message already sent): wait ``grace`` seconds at most,
    then terminate, then kill."""
    process = handle["process"]
    request_stop(handle, handle["started_at"])
    for step in (None, process.terminate, process.kill):
        if step is not None:
            handle["terminated_at"] = handle["started_at"]
            step()
        try:
            handle["exit_code"] = process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def exit_report(handle):
    """``(state, error)`` once the process ended: a stop that was asked for is no error; an end
    nobody asked for is, with the last line it wrote (the sidecar says why in one line)."""
    code = handle["exit_code"]
    if handle["stop_at"] is not None:
        if handle["terminated_at"] is not None:
            return "stopped", f"did not stop within {STOP_GRACE:g} s: terminated"
        return "stopped", ""
    if code == 0:
        return "exited", ""
    return "exited", handle["last_line"] or f"the sidecar ended with exit code {code}"
