"""The ``voyage-progress`` command.

Every failure a user can cause (no key, a wrong id or URL, a bad input file, a port in use)
ends in one line on stderr that names the option, file or batch at fault, and a non-zero exit
code, never a traceback. A server that cannot be reached ends every command so, but ``watch``,
which keeps retrying: a sidecar may well start before the network is up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .. import _defaults as defaults
from .._version import __version__
from ..core import limits

if TYPE_CHECKING:
    from ..outputs.osc._sender import Destination
    from ..outputs.terminal import SidecarView
    from ..providers.voyage import VoyageBatchClient
    from ..sidecar._sidecar import SidecarConfig

PROG = "voyage-progress"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Command = Callable[[argparse.Namespace], Awaitable[int]]


class CommandError(Exception):
    """A problem to report in one line, then exit non-zero."""


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


class _Parser(argparse.ArgumentParser):
    """argparse, with usage mistakes in one line instead of a usage block and a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Live progress of Voyage AI batch jobs, as OSC for TouchDesigner and any media tool.",
        epilog=f"The API key comes from {defaults.API_KEY_ENV}; the API's URL from --base-url or "
        f"{defaults.BASE_URL_ENV} (default {defaults.DEFAULT_BASE_URL}).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, run: Command, help: str, api: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        if api:
            sub.add_argument(
                "--base-url", help=f"the API's base URL (default: ${defaults.BASE_URL_ENV} or Voyage)"
            )
            sub.add_argument(
                "--timeout",
                type=_positive,
                default=defaults.DEFAULT_TIMEOUT,
                help="seconds per HTTP request (default: %(default)s)",
            )
            sub.add_argument(
                "--max-rps",
                type=_positive,
                default=defaults.DEFAULT_MAX_REQUESTS_PER_SECOND,
                metavar="N",
                help="never more than N API requests in any second, retries included (default: %(default)s)",
            )
        return sub

    watch = command("watch", _watch, "watch batches and send their progress as OSC (the sidecar)")
    watch.add_argument(
        "batch_ids",
        nargs="*",
        type=_batch_id,
        metavar="BATCH_ID",
        help="batches to watch (or none: see --all-active)",
    )
    _sidecar_options(watch)
    watch.add_argument(
        "--all-active",
        action="store_true",
        help="also watch every in-flight batch of the organisation, including later ones",
    )
    watch.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="BATCH_ID=LABEL",
        help="a label shown for a batch (repeatable)",
    )
    watch.add_argument(
        "--state-file", type=Path, help="keep the watch list in this file and resume it after a restart"
    )
    watch.add_argument(
        "--retire-after",
        type=_positive,
        metavar="S",
        help="stop watching a batch S seconds after it ended (default: never; 3600 for --all-active)",
    )

    demo = command(
        "demo", _demo, "run the simulator, a few batches and the sidecar: no API key needed", api=False
    )
    _sidecar_options(demo, api=False)
    demo.add_argument(
        "--speed", type=_positive, default=30.0, help="simulated seconds per second (default: 30)"
    )
    demo.add_argument("--forever", action="store_true", help="keep creating batches until stopped (Ctrl+C)")

    td_export = command(
        "td-export", _td_export, "write the TouchDesigner component's files into a folder", api=False
    )
    td_export.add_argument(
        "folder", type=Path, metavar="DIR", help="where to write them (created if missing)"
    )

    namespace = command("namespace", _namespace, "print the OSC namespace", api=False)
    namespace.add_argument("--format", choices=["markdown", "json"], default="markdown")
    namespace.add_argument("--prefix", type=_prefix, default=defaults.DEFAULT_OSC_PREFIX)

    sim = command("simulate", _simulate, "serve a Voyage-compatible Batch API on this machine", api=False)
    sim.add_argument(
        "--host", default=defaults.DEFAULT_SIMULATOR_HOST, help="address to listen on (default: %(default)s)"
    )
    sim.add_argument(
        "--port",
        type=_port,
        default=defaults.DEFAULT_SIMULATOR_PORT,
        help="port (default: %(default)s; 0 picks one)",
    )
    sim.add_argument(
        "--speed", type=_non_negative, default=1.0, help="simulated seconds per real second (default: 1)"
    )
    sim.add_argument(
        "--faults",
        default="",
        help="fault rates, e.g. 503=0.1,drop=0.05,429=0.1,slow=0.01 (see docs/SIMULATOR.md)",
    )
    sim.add_argument(
        "--scenario", default="normal", help="scenario of batches whose metadata names none (default: normal)"
    )
    sim.add_argument("--api-key", help="accept only this key (default: any non-empty key)")
    sim.add_argument(
        "--allow-peer",
        action="append",
        default=[],
        metavar="IP",
        help="also serve this address (repeatable; needed to listen beyond loopback)",
    )
    sim.add_argument(
        "--seed", type=int, default=0, help="seed for ids, rate profiles and faults (default: 0)"
    )

    status = command("status", _status, "show batches' status and progress")
    status.add_argument("batch_ids", nargs="+", type=_batch_id, metavar="BATCH_ID")
    status.add_argument("--json", action="store_true", help="print the batch objects as JSON")

    listing = command("list", _list, "list the organisation's batches, newest first")
    listing.add_argument("--limit", type=_limit, default=20, help="batches per page, 1-100 (default: 20)")
    listing.add_argument("--all", action="store_true", help="every page, not only the first")
    listing.add_argument("--active", action="store_true", help="only batches still in flight")
    listing.add_argument("--json", action="store_true", help="print the batch objects as JSON lines")

    cancel = command("cancel", _cancel, "cancel a batch (while validating or in progress)")
    cancel.add_argument("batch_id", type=_batch_id, metavar="BATCH_ID")

    submit = command("submit", _submit, "upload an input file and start a batch")
    submit.add_argument(
        "input",
        type=Path,
        metavar="INPUT",
        help="a Voyage batch input .jsonl, or with --texts a text file with one input per line",
    )
    submit.add_argument("--texts", action="store_true", help="INPUT holds plain texts, one per line")
    submit.add_argument(
        "--per-request",
        type=_per_request,
        default=1,
        metavar="N",
        help=f"with --texts: texts per request, 1-{limits.MAX_TEXTS_PER_REQUEST} (default: 1)",
    )
    submit.add_argument("--model", default=defaults.DEFAULT_MODEL, help="model (default: %(default)s)")
    submit.add_argument(
        "--endpoint", default=defaults.DEFAULT_ENDPOINT, help="endpoint (default: %(default)s)"
    )
    submit.add_argument("--input-type", choices=["query", "document"], help="input_type request parameter")
    submit.add_argument("--output-dimension", type=int, help="output_dimension request parameter")
    submit.add_argument(
        "--output-dtype", help="output_dtype request parameter (float, int8, uint8, binary, ubinary)"
    )
    submit.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE", help="metadata pair (repeatable)"
    )
    submit.add_argument("--wait", action="store_true", help="show progress until the batch ends")
    submit.add_argument(
        "--poll-interval",
        type=_positive,
        default=defaults.DEFAULT_POLL_INTERVAL,
        help="seconds between polls with --wait (default: %(default)s)",
    )

    results = command("results", _results, "download a finished batch's output and error files")
    results.add_argument("batch_id", type=_batch_id, metavar="BATCH_ID")
    results.add_argument(
        "--output", "-o", type=Path, help="where to write the output JSONL (default: BATCH_ID_output.jsonl)"
    )
    results.add_argument(
        "--errors", type=Path, help="where to write the error JSONL (default: BATCH_ID_errors.jsonl)"
    )
    return parser


def _sidecar_options(parser: argparse.ArgumentParser, api: bool = True) -> None:
    osc = parser.add_argument_group("OSC output and control input")
    osc.add_argument(
        "--osc",
        action="append",
        type=_destination,
        metavar="HOST:PORT",
        help="send OSC here (repeatable; broadcast and multicast addresses work; "
        f"default: {defaults.DEFAULT_OSC_HOST}:{defaults.DEFAULT_OSC_PORT})",
    )
    osc.add_argument(
        "--prefix",
        type=_prefix,
        default=defaults.DEFAULT_OSC_PREFIX,
        help="address prefix (default: %(default)s)",
    )
    osc.add_argument(
        "--multicast-ttl", type=_ttl, default=1, metavar="N", help="hops for multicast, 0-255 (default: 1)"
    )
    osc.add_argument(
        "--control-host",
        default=defaults.DEFAULT_CONTROL_HOST,
        help="address the control input listens on (default: %(default)s)",
    )
    osc.add_argument(
        "--control-port",
        type=_port,
        default=defaults.DEFAULT_CONTROL_PORT,
        help="control input port (default: %(default)s)",
    )
    osc.add_argument("--no-control", action="store_true", help="do not listen for control messages")
    osc.add_argument(
        "--allow-peer",
        action="append",
        default=[],
        metavar="IP",
        help="accept control messages from this address (needed to listen beyond loopback)",
    )
    osc.add_argument("--allow-cancel", action="store_true", help="obey /control/cancel")
    if api:
        polling = parser.add_argument_group("polling")
        polling.add_argument(
            "--poll-interval",
            type=_positive,
            default=defaults.DEFAULT_POLL_INTERVAL,
            metavar="S",
            help="seconds between polls of a running batch (default: %(default)s)",
        )
        polling.add_argument(
            "--min-interval",
            type=_positive,
            default=1.0,
            metavar="S",
            help="fastest polling, near a batch's end (default: %(default)s)",
        )
        polling.add_argument(
            "--max-interval",
            type=_positive,
            default=60.0,
            metavar="S",
            help="slowest polling, while validating or after errors (default: %(default)s)",
        )
    output = parser.add_argument_group("terminal output")
    output.add_argument("--no-display", action="store_true", help="log lines instead of the live view")
    output.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="log lines when not on a terminal or with --no-display (default: text)",
    )


# -- argument types ----------------------------------------------------------------------------


def _positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _non_negative(text: str) -> float:
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


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value


def _destination(text: str) -> Destination:
    from ..outputs.osc._sender import Destination

    try:
        return Destination.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _prefix(text: str) -> str:
    if not text.startswith("/") or text.endswith("/") or any(c in text for c in " #*,?[]{}"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an OSC address prefix such as /voyage")
    return text


def _ttl(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 255")
    return value


def _per_request(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= limits.MAX_TEXTS_PER_REQUEST:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 1 and {limits.MAX_TEXTS_PER_REQUEST}")
    return value


def _batch_id(text: str) -> str:
    from ..core.text import check_batch_id

    try:
        return check_batch_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 1 and 100")
    return value


# -- commands ----------------------------------------------------------------------------------


def _client(args: argparse.Namespace, **options: Any) -> VoyageBatchClient:
    from ..core.errors import MissingAPIKeyError
    from ..providers.voyage import VoyageBatchClient

    try:
        return VoyageBatchClient(
            base_url=args.base_url, timeout=args.timeout, max_requests_per_second=args.max_rps, **options
        )
    except MissingAPIKeyError:
        raise CommandError(
            f"no API key: set {defaults.API_KEY_ENV} (the simulator takes any key, "
            f"e.g. {defaults.API_KEY_ENV}=demo)"
        ) from None
    except ValueError as exc:  # the base URL
        raise CommandError(f"{exc} (from --base-url or {defaults.BASE_URL_ENV})") from None


@contextlib.asynccontextmanager
async def _known_batch(client: VoyageBatchClient, batch_id: str) -> AsyncIterator[None]:
    """A 404 for the batch said as "no batch ID", the same for every command."""
    from ..core.errors import NotFoundError

    try:
        yield
    except NotFoundError:
        await _check_base_url(client)
        raise CommandError(f"no batch {batch_id}") from None


async def _check_base_url(client: VoyageBatchClient) -> None:
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
def _base_url_hint(client: VoyageBatchClient) -> Iterator[None]:
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


async def _status(args: argparse.Namespace) -> int:
    from datetime import datetime

    from ..core.errors import NotFoundError
    from ..core.events import BatchProgressEvent
    from ..outputs.table import describe

    missing = 0
    async with _client(args) as client:
        for batch_id in args.batch_ids:
            try:
                job = await client.get_batch(batch_id)
            except NotFoundError:
                if not missing:
                    await _check_base_url(client)
                print(f"{PROG}: error: no batch {batch_id}", file=sys.stderr)
                missing += 1
                continue
            if args.json:
                print(json.dumps(job.to_dict()))
            else:
                print(describe(BatchProgressEvent.from_job(job, datetime.now(UTC))))
    return EXIT_ERROR if missing else 0


async def _list(args: argparse.Namespace) -> int:
    from ..core.models import BatchStatus
    from ..core.text import clean_label, clean_text

    in_flight = {
        BatchStatus.VALIDATING,
        BatchStatus.IN_PROGRESS,
        BatchStatus.FINALIZING,
        BatchStatus.CANCELLING,
    }
    async with _client(args) as client:
        pages = None if args.all else 1
        shown = 0
        with _base_url_hint(client):
            async for job in client.iter_batches(limit=args.limit, max_pages=pages):
                if args.active and job.status not in in_flight:
                    continue
                shown += 1
                if args.json:
                    print(json.dumps(job.to_dict()))
                    continue
                counts = job.request_counts
                created = job.created_at.strftime("%Y-%m-%d %H:%M") if job.created_at else "-"
                label = clean_label(job.metadata.get("label") or job.metadata.get("sim_scenario") or "")
                progress = f"{counts.processed:>6}/{counts.total:<6}"
                print(f"{job.id}  {clean_text(job.status.value):<11} {progress} {created}  {label}".rstrip())
        if not shown and not args.json:
            print("no batches" + (" in flight" if args.active else ""))
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    async with _client(args) as client, _known_batch(client, args.batch_id):
        job = await client.cancel_batch(args.batch_id)
    print(f"{job.id} {job.status.value}")
    return 0


async def _submit(args: argparse.Namespace) -> int:
    metadata = dict(_pair(item, "--metadata") for item in args.metadata)
    content = await asyncio.to_thread(_input_file, args)
    params = {
        "input_type": args.input_type,
        "output_dimension": args.output_dimension,
        "output_dtype": args.output_dtype,
    }
    async with _client(args) as client:
        with _base_url_hint(client):
            file = await client.upload_file(content, filename=args.input.with_suffix(".jsonl").name)
        job = await client.create_batch(
            file.id,
            model=args.model,
            endpoint=args.endpoint,
            request_params={k: v for k, v in params.items() if v is not None},
            metadata=metadata,
        )
        print(job.id)
        if not args.wait:
            return 0
        final = await _show_progress(client, job.id, args.poll_interval)
    return 0 if final.status.value == "completed" else EXIT_ERROR


def _input_file(args: argparse.Namespace) -> bytes:
    """The batch input file to upload, checked against Voyage's limits first: a mistake is
    found here, in a second, instead of after an upload and a failed validation."""
    from ..core.inputs import check_batch_input, check_texts, jsonl_from_texts, numbered_texts

    path: Path = args.input
    if args.texts and args.endpoint != defaults.DEFAULT_ENDPOINT:
        raise CommandError(f"--texts makes {defaults.DEFAULT_ENDPOINT} requests, not {args.endpoint}")
    content = _read_input(path)
    if not args.texts:
        check_batch_input(content, str(path), args.endpoint, args.model)
        return content
    texts = numbered_texts(content, str(path))
    check_texts(texts, str(path), args.per_request, args.model)
    return jsonl_from_texts((text for _, text in texts), args.per_request)


def _read_input(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise CommandError(f"{path} is a folder, not a file")
        size = path.stat().st_size
        if size > limits.MAX_FILE_BYTES:
            raise CommandError(
                f"{path} has {size:,} bytes; a batch input file may have at most "
                f"{limits.MAX_FILE_BYTES:,} (1 GB): split it"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except PermissionError:
        raise CommandError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


async def _show_progress(client: VoyageBatchClient, batch_id: str, poll_interval: float) -> Any:
    from ..outputs.table import ProgressView

    with ProgressView(sys.stderr) as view:
        return await client.wait_for_batch_completion_with_progress(batch_id, view.update, poll_interval)


async def _results(args: argparse.Namespace) -> int:
    batch_id = args.batch_id
    async with _client(args) as client:
        async with _known_batch(client, batch_id):
            job = await client.get_batch(batch_id)
        if not job.status.is_terminal:
            raise CommandError(f"batch {batch_id} is {job.status.value}; its results come once it has ended")
        if not job.output_file_id and not job.error_file_id:
            raise CommandError(f"batch {batch_id} ({job.status.value}) has no output or error file")
        # Named after the id asked for, never the one in the answer: a server's id is not a path.
        stem = _file_stem(batch_id)
        for file_id, path, what in (
            (job.output_file_id, args.output or Path(f"{stem}_output.jsonl"), "output"),
            (job.error_file_id, args.errors or Path(f"{stem}_errors.jsonl"), "errors"),
        ):
            if file_id:
                try:
                    await client.download_file_to(file_id, path)
                except OSError as exc:
                    raise CommandError(f"cannot write {what} to {path}: {exc.strerror or exc}") from None
                lines = await asyncio.to_thread(_count_lines, path)
                print(f"{what}: {lines} lines -> {path}")
    return 0


def _file_stem(batch_id: str) -> str:
    """A batch id as the start of a file name on any system: only ``[A-Za-z0-9._-]``, no
    leading dot, at most 100 characters."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in batch_id)
    return safe.lstrip(".")[:100] or "batch"


def _count_lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))


async def _simulate(args: argparse.Namespace) -> int:
    from ..simulator import SCENARIOS, Faults, Simulator, serve_forever

    if args.scenario not in SCENARIOS:
        raise CommandError(f"unknown scenario {args.scenario!r}; one of: {', '.join(SCENARIOS)}")
    faults = Faults.parse(args.faults) if args.faults else Faults()

    def ready(sim: Simulator) -> None:
        print(f"Voyage simulator at {sim.base_url}  (speed {args.speed:g}x, faults: {faults.describe()})")
        key = "<the --api-key>" if args.api_key else "demo"  # a key is never printed
        print(f"  export {defaults.BASE_URL_ENV}={sim.base_url} {defaults.API_KEY_ENV}={key}")
        print("  Ctrl+C to stop", flush=True)

    try:
        await serve_forever(
            args.host,
            args.port,
            speed=args.speed,
            faults=faults,
            api_key=args.api_key,
            seed=args.seed,
            scenario=args.scenario,
            ready=ready,
            allowed_peers=args.allow_peer,
        )
    except OSError as exc:
        from ..outputs.osc._control import _ADDRESS_IN_USE

        if exc.errno not in _ADDRESS_IN_USE:
            raise
        raise CommandError(
            f"port {args.port} on {args.host} is in use (is another simulator running?): "
            "choose another with --port PORT, or --port 0 for any free one"
        ) from None
    return 0


def _sidecar_config(args: argparse.Namespace) -> SidecarConfig:
    from ..outputs.osc._sender import Destination
    from ..sidecar._sidecar import SidecarConfig
    from ..watcher import Intervals

    config = SidecarConfig(
        destinations=args.osc or [Destination(defaults.DEFAULT_OSC_HOST, defaults.DEFAULT_OSC_PORT)],
        prefix=args.prefix,
        control_host=args.control_host,
        control_port=None if args.no_control else args.control_port,
        allowed_peers=args.allow_peer,
        allow_cancel=args.allow_cancel,
        multicast_ttl=args.multicast_ttl,
    )
    if hasattr(args, "poll_interval"):
        if not args.min_interval <= args.poll_interval <= args.max_interval:
            raise CommandError(
                f"polling needs --min-interval ({args.min_interval:g}) <= --poll-interval "
                f"({args.poll_interval:g}) <= --max-interval ({args.max_interval:g})"
            )
        config.intervals = Intervals(args.poll_interval, args.min_interval, args.max_interval)
    return config


def _view(args: argparse.Namespace) -> SidecarView:
    import logging

    from ..outputs.terminal import SidecarView

    live = sys.stdout.isatty() and not args.no_display
    view = SidecarView("live" if live else args.log_format)
    package = logging.getLogger("voyage_progress")
    package.addHandler(view.log_handler())
    package.propagate = False
    return view


async def _watch(args: argparse.Namespace) -> int:
    from ..core.errors import AuthenticationError, PermissionDeniedError
    from ..providers.progress import TRANSIENT_ERRORS
    from ..sidecar._sidecar import Sidecar
    from ._signals import stop_on_signals

    config = _sidecar_config(args)
    config.batch_ids = list(dict.fromkeys(args.batch_ids))
    config.labels = dict(_pair(item, "--label", "BATCH_ID=LABEL") for item in args.label)
    config.all_active = args.all_active
    config.state_file = args.state_file
    config.retire_after = args.retire_after or (3600.0 if args.all_active else None)
    view = _view(args)
    async with _client(args, max_retries=2) as client:
        try:
            with _base_url_hint(client):
                await client.list_batches(limit=1)
        except (AuthenticationError, PermissionDeniedError) as exc:
            raise CommandError(f"the API refused the key: {exc}") from None
        except TRANSIENT_ERRORS as exc:  # a sidecar may start before the network: keep trying
            view.message(f"the API is not answering yet ({exc}); watching anyway, retrying")
        else:
            if config.batch_ids and not config.all_active:
                await _require_a_batch(client, config.batch_ids)
        stop = asyncio.Event()
        with stop_on_signals(stop), _control_port_free(config), contextlib.closing(view):
            await Sidecar(config, client, view).run(stop)
    return 0


async def _require_a_batch(client: VoyageBatchClient, batch_ids: list[str]) -> None:
    """Refuse to start with nothing to watch: when none of the batches given exists (a typo,
    another organisation's ids). One that exists is enough; the others then show as errors.
    When the API cannot tell just now, watching starts anyway."""
    from ..core.errors import NotFoundError
    from ..providers.progress import TRANSIENT_ERRORS

    for batch_id in batch_ids:
        try:
            await client.get_batch(batch_id)
            return
        except NotFoundError:
            continue
        except TRANSIENT_ERRORS:
            return
    raise CommandError(f"no batch {', '.join(batch_ids)}: nothing to watch (or add --all-active)")


async def _demo(args: argparse.Namespace) -> int:
    from ._signals import stop_on_signals
    from .demo import run_demo

    config = _sidecar_config(args)
    stop = asyncio.Event()
    view = _view(args)
    with stop_on_signals(stop), _control_port_free(config), contextlib.closing(view):
        return await run_demo(config, view, args.speed, args.forever, stop)


@contextlib.contextmanager
def _control_port_free(config: SidecarConfig) -> Iterator[None]:
    """A control port that another program holds, said with both ways out."""
    try:
        yield
    except OSError as exc:
        from ..outputs.osc._control import _ADDRESS_IN_USE

        if exc.errno not in _ADDRESS_IN_USE or config.control_port is None:
            raise
        host, port = config.control_host, config.control_port
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise CommandError(
            f"control port {where} is in use (is another sidecar running?): "
            "choose another with --control-port PORT, or listen for none with --no-control"
        ) from None


async def _td_export(args: argparse.Namespace) -> int:
    from .td_export import export

    written = export(args.folder)
    builder = args.folder / "VoyageProgress.py"
    print(f"wrote {len(written)} files to {args.folder}; in TouchDesigner, drag {builder} into a network,")
    print("right-click it and choose Run Script (td_components' README.md tells the rest).")
    return 0


async def _namespace(args: argparse.Namespace) -> int:
    from ..outputs.osc._namespace import render_json, render_markdown

    print(render_json(args.prefix) if args.format == "json" else render_markdown(args.prefix), end="")
    return 0


def _pair(text: str, option: str, form: str = "KEY=VALUE") -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"{option} {text!r}: expected {form}")
    return key, value
