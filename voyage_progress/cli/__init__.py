"""The ``voyage-progress`` command: this module parses and runs; each group of commands is a
module of its own (``sidecar``: watch, demo, namespace; ``simulate``; ``batches``: status,
list, cancel, submit, results).

Every failure a user can cause (no key, a wrong id, a server that is down, a port in use) ends
in one line on stderr and a non-zero exit code, never a traceback.
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
    text = str(exc) if isinstance(exc, known) and str(exc) else f"{type(exc).__name__}: {exc}"
    print(f"{PROG}: error: {text}", file=sys.stderr)
    return EXIT_USAGE if isinstance(exc, PeerPolicyError) else EXIT_ERROR
