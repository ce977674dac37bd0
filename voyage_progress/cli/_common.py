"""What every command of the command line shares: the exit codes, the one-line errors, the
parser, the API options and what they open, and the argument types."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from .. import _defaults as defaults
from ..core import limits

if TYPE_CHECKING:
    from ..outputs.osc import Destination
    from ..providers import Provider

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
        "--base-url", help=f"the API's base URL (default: ${defaults.BASE_URL_ENV} or Voyage)"
    )
    parser.add_argument(
        "--timeout",
        type=positive,
        default=defaults.DEFAULT_TIMEOUT,
        help="seconds per HTTP request (default: %(default)s)",
    )
    parser.add_argument(
        "--max-rps",
        type=positive,
        default=defaults.DEFAULT_MAX_REQUESTS_PER_SECOND,
        metavar="N",
        help="never more than N API requests in any second, retries included (default: %(default)s)",
    )


# -- the API -----------------------------------------------------------------------------------


def open_api(args: argparse.Namespace, **options: Any) -> Provider:
    """The provider the API options name; a missing key or a bad URL said in one line."""
    from ..core.errors import MissingAPIKeyError
    from ..providers import open_provider

    try:
        return open_provider(
            defaults.DEFAULT_PROVIDER,
            base_url=args.base_url,
            timeout=args.timeout,
            max_requests_per_second=args.max_rps,
            **options,
        )
    except MissingAPIKeyError:
        raise CommandError(
            f"no API key: set {defaults.API_KEY_ENV} (the simulator takes any key, "
            f"e.g. {defaults.API_KEY_ENV}=demo)"
        ) from None
    except ValueError as exc:  # the base URL
        raise CommandError(f"{exc} (from --base-url or {defaults.BASE_URL_ENV})") from None


@contextlib.asynccontextmanager
async def known_batch(client: Provider, batch_id: str) -> AsyncIterator[None]:
    """A 404 for the batch said as "no batch ID", the same for every command."""
    from ..core.errors import NotFoundError

    try:
        yield
    except NotFoundError:
        await check_base_url(client)
        raise CommandError(f"no batch {batch_id}") from None


async def check_base_url(client: Provider) -> None:
    """Before saying that a batch does not exist: is the URL the API's? A base URL without its
    path (most often ``/v1``) answers 404 to every request, the list of batches included."""
    from ..core.errors import APIConnectionError, APIError, NotFoundError

    try:
        await client.list_batches(limit=1)
    except NotFoundError:
        raise _wrong_base_url(client.base_url) from None
    except (APIConnectionError, APIError):
        pass  # no answer either way: the batch's 404 stands


@contextlib.contextmanager
def base_url_hint(client: Provider) -> Iterator[None]:
    """A 404 for a list (batches, files) means the base URL is not the API's: say which to use."""
    from ..core.errors import NotFoundError

    try:
        yield
    except NotFoundError:
        raise _wrong_base_url(client.base_url) from None


def _wrong_base_url(url: str) -> CommandError:
    hint = f"did you mean {url}/v1?" if not url.endswith("/v1") else "is it the Batch API's URL?"
    return CommandError(
        f"{url} answers 404 Not Found to the API's paths: {hint} "
        f"(set it with --base-url or {defaults.BASE_URL_ENV})"
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


def http_address(text: str) -> tuple[str, int]:
    """``--http HOST:PORT``: IPv6 addresses in brackets (``[::1]:7452``); port 0 picks a free one."""
    host, colon, number = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""
    if not (colon and host and number.isascii() and number.isdigit() and int(number) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:7452")
    return host, int(number)


def prefix(text: str) -> str:
    if not text.startswith("/") or text.endswith("/") or any(c in text for c in " #*,?[]{}"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an OSC address prefix such as /voyage")
    return text


def ttl(text: str) -> int:
    return _whole(text, 0, 255)


def per_request(text: str) -> int:
    return _whole(text, 1, limits.MAX_TEXTS_PER_REQUEST)


def limit(text: str) -> int:
    return _whole(text, 1, 100)


def _whole(text: str, least: int, most: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if not least <= value <= most:
        raise argparse.ArgumentTypeError(f"{text!r} is not between {least} and {most}")
    return value


def batch_id(text: str) -> str:
    from ..core.text import check_batch_id

    try:
        return check_batch_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pair(text: str, option: str, form: str = "KEY=VALUE") -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"{option} {text!r}: expected {form}")
    return key, value
