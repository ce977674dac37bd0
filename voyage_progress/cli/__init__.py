"""The ``voyage-progress`` command: this module parses and runs; each group of commands is a
module of its own (``sidecar``: watch, demo, td-export, namespace; ``simulate``; ``batches``:
status, list, cancel, submit, results).

Every failure a user can cause (no key, a wrong id or URL, a bad input file, a port in use)
ends in one line on stderr that names the option, file or batch at fault, and a non-zero exit
code, never a traceback. A server that cannot be reached ends every command so, but ``watch``,
which keeps retrying: a sidecar may well start before the network is up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .. import _defaults as defaults
from .._version import __version__
from . import batches, sidecar, simulate
from ._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, PROG, CommandError, Commands, Parser

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = asyncio.run(args.run(args))
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # one line, whatever went wrong
        return _report(exc)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Live progress of Voyage AI batch jobs, as OSC for TouchDesigner and any media tool.",
        epilog=f"The API key comes from {defaults.API_KEY_ENV}; the API's URL from --base-url or "
        f"{defaults.BASE_URL_ENV} (default {defaults.DEFAULT_BASE_URL}).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = Commands(parser)
    for group in (sidecar, simulate, batches):
        group.add_commands(commands)
    return parser


def _report(exc: BaseException) -> int:
    from ..core.errors import VoyageProgressError
    from ..core.peers import PeerPolicyError

    known = (CommandError, VoyageProgressError, ValueError, OSError)
    if isinstance(exc, OSError) and exc.strerror:  # the system's words, without "[Errno N]"
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    elif isinstance(exc, known) and str(exc):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    print(f"{PROG}: error: {text}", file=sys.stderr)
    return EXIT_USAGE if isinstance(exc, PeerPolicyError) else EXIT_ERROR
