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


# -- the API -----------------------------------------------------------------------------------


#: ``open_api``'s base URL when none is given: the one of ``--base-url``.
_FROM_ARGS = object()


def budget(args: argparse.Namespace, provider: str) -> float:
    """Requests per second for ``provider``: ``--max-rps``, else its own default."""
    if args.max_rps is not None:
        return float(args.max_rps)
    return defaults.MAX_REQUESTS_PER_SECOND.get(provider, defaults.DEFAULT_MAX_REQUESTS_PER_SECOND)


def open_api(
    args: argparse.Namespace,
    provider: str = defaults.DEFAULT_PROVIDER,
    *,
    base_url: object = _FROM_ARGS,
    **options: Any,
) -> Provider:
    """``provider``'s API, with the API options (its own request budget; ``--base-url`` unless
    ``base_url`` is given); a missing key or a bad URL said in one line that names the
    provider's variable."""
    from ..core.errors import MissingAPIKeyError
    from ..providers import open_provider

    try:
        return open_provider(
            provider,
            base_url=args.base_url if base_url is _FROM_ARGS else base_url,
            timeout=args.timeout,
            max_requests_per_second=budget(args, provider),
            **options,
        )
    except MissingAPIKeyError as exc:
        raise CommandError(
            f"no API key for {exc.provider}: set {exc.variable} (the simulator takes any key, "
            f"e.g. {exc.variable}=demo)"
        ) from None
    except ValueError as exc:  # the base URL
        raise CommandError(
            f"{exc} (from --base-url or {_provider_attribute(provider, 'base_url_env')})"
        ) from None


def _provider_attribute(provider: str, name: str) -> str:
    """One of a provider class's settings (its variables, its default URL) by the provider's name."""
    from ..core.registry import load
    from ..providers import PROVIDERS

    if provider not in PROVIDERS:
        return ""
    return str(getattr(load(PROVIDERS, provider, "provider"), name, "") or "")


@contextlib.asynccontextmanager
async def known_batch(client: Provider, batch_id: str) -> AsyncIterator[None]:
    """A 404 for the batch said as "no batch ID", the same for every command."""
    from ..core.errors import NotFoundError

    try:
        yield
    except NotFoundError:
        await check_base_url(client)
        raise CommandError(
            no_batch(batch_id, str(getattr(client, "name", defaults.DEFAULT_PROVIDER)))
        ) from None


def no_batch(batch_id: str, provider: str, *, named: bool = False) -> str:
    """What every command says of a batch the API does not know: the provider is named when it
    is not Voyage (the default), or when ``named`` (a command about several providers' batches)."""
    from ..providers import provider_title

    whose = f" at {provider_title(provider)}" if named or provider != defaults.DEFAULT_PROVIDER else ""
    return f"no batch {batch_id}{whose}"


async def check_base_url(client: Provider) -> None:
    """Before saying that a batch does not exist: is the URL the API's? A base URL with the
    wrong path (most often without ``/v1``, or with it for Anthropic's) answers 404 to every
    request, the list of batches included."""
    from ..core.errors import APIConnectionError, APIError, NotFoundError

    try:
        await client.list_batches(limit=1)
    except NotFoundError:
        raise _wrong_base_url(client) from None
    except (APIConnectionError, APIError):
        pass  # no answer either way: the batch's 404 stands


@contextlib.contextmanager
def base_url_hint(client: Provider) -> Iterator[None]:
    """A 404 for a list (batches, files) means the base URL is not the API's: say which to use."""
    from ..core.errors import NotFoundError

    try:
        yield
    except NotFoundError:
        raise _wrong_base_url(client) from None


def _wrong_base_url(client: Provider) -> CommandError:
    """What to do about a base URL that is not the provider's API, as its official SDK takes it:
    with ``/v1`` (Voyage, OpenAI) or without (Anthropic)."""
    url = client.base_url
    wanted = str(getattr(type(client), "default_base_url", defaults.DEFAULT_BASE_URL))
    variable = str(getattr(type(client), "base_url_env", defaults.BASE_URL_ENV))
    if wanted.endswith("/v1") and not url.endswith("/v1"):
        hint = f"did you mean {url}/v1?"
    elif not wanted.endswith("/v1") and url.endswith("/v1"):
        hint = f"did you mean {url.removesuffix('/v1')}? (this API's base URL has no /v1)"
    else:
        hint = "is it the Batch API's URL?"
    return CommandError(
        f"{url} answers 404 Not Found to the API's paths: {hint} (set it with --base-url or {variable})"
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
    """A batch id, or ``provider:ID`` (whose provider it is comes later: see ``_providers``)."""
    from ..core.text import check_batch_ref

    try:
        return check_batch_ref(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pair(text: str, option: str, form: str = "KEY=VALUE") -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"{option} {text!r}: expected {form}")
    return key, value
