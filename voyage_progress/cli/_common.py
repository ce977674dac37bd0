"""What every command of the command line shares: the exit codes, the one-line errors, the
parser, the API options and the argument types."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn

from .. import _defaults as defaults

if TYPE_CHECKING:
    from ..outputs.osc import Destination

PROG = "voyage-progress"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Run = Callable[[argparse.Namespace], Awaitable[int]]


class CommandError(Exception):
    """A problem to report in one line, then exit non-zero."""


class Parser(argparse.ArgumentParser):
    """argparse, with usage mistakes in one line instead of a usage block and a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Commands:
    """The subcommands of the parser; ``add`` makes one, with the API options unless ``api`` is
    false."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)

    def add(self, name: str, run: Run, help: str, api: bool = True) -> argparse.ArgumentParser:
        sub = self._commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        if api:
            _api_options(sub)
        return sub


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        help="the API's base URL, for --provider's API or the one provider the batches are of "
        f"(default: each provider's variable, ${defaults.BASE_URL_ENV}, ${defaults.OPENAI_BASE_URL_ENV}, "
        f"${defaults.ANTHROPIC_BASE_URL_ENV}, or its public API)",
    )
    parser.add_argument(
        "--timeout",
        type=positive,
        default=defaults.DEFAULT_TIMEOUT,
        help="seconds per HTTP request (default: %(default)s)",
    )
    budgets = ", ".join(f"{name} {rate:g}" for name, rate in defaults.MAX_REQUESTS_PER_SECOND.items())
    parser.add_argument(
        "--max-rps",
        type=positive,
        metavar="N",
        help="never more than N API requests in any second to each provider, retries included "
        f"(default: each provider's own, under its documented limits: {budgets})",
    )


# -- argument types ----------------------------------------------------------------------------


def positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value


def destination(text: str) -> Destination:
    from ..outputs.osc import Destination

    try:
        return Destination.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def prefix(text: str) -> str:
    if not text.startswith("/") or text.endswith("/") or any(c in text for c in " #*,?[]{}"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an OSC address prefix such as /voyage")
    return text


def limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 1 and 100")
    return value


def pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"--metadata {text!r}: expected KEY=VALUE")
    return key, value
