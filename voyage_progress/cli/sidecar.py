"""The sidecar's commands: watch (the sidecar itself), demo, and the namespace it sends."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _defaults as defaults
from ._common import (
    CommandError,
    Commands,
    base_url_hint,
    batch_id,
    destination,
    http_address,
    pair,
    port,
    positive,
    prefix,
    ttl,
)
from ._providers import add_provider_option, batch_refs, keyed_providers, open_providers

if TYPE_CHECKING:
    from ..outputs.terminal import SidecarView
    from ..providers import BatchRef, Provider
    from ..sidecar import SidecarConfig


def add_commands(commands: Commands) -> None:
    watch = commands.add("watch", _watch, "watch batches and send their progress as OSC (the sidecar)")
    watch.add_argument(
        "batch_ids",
        nargs="*",
        type=batch_id,
        metavar="BATCH_ID",
        help="batches to watch, of any provider: batch-… Voyage, batch_… OpenAI, msgbatch_… "
        "Anthropic, or PROVIDER:ID (or none: see --all-active)",
    )
    add_provider_option(watch, "whose batches the ids are, and whose --all-active watches")
    _sidecar_options(watch)
    watch.add_argument(
        "--all-active",
        action="store_true",
        help="also watch every in-flight batch of the organisation, including later ones: of "
        "--provider, or of every provider whose API key is set",
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
        type=positive,
        metavar="S",
        help="stop watching a batch S seconds after it ended (default: never; 3600 for --all-active)",
    )

    demo = commands.add(
        "demo", _demo, "run the simulator, a few batches and the sidecar: no API key needed", api=False
    )
    _sidecar_options(demo, api=False)
    demo.add_argument(
        "--speed", type=positive, default=30.0, help="simulated seconds per second (default: 30)"
    )
    demo.add_argument("--forever", action="store_true", help="keep creating batches until stopped (Ctrl+C)")

    td_export = commands.add(
        "td-export", _td_export, "write the TouchDesigner component's files into a folder", api=False
    )
    td_export.add_argument(
        "folder", type=Path, metavar="DIR", help="where to write them (created if missing)"
    )

    namespace = commands.add("namespace", _namespace, "print the OSC namespace", api=False)
    namespace.add_argument("--format", choices=["markdown", "json"], default="markdown")
    namespace.add_argument("--prefix", type=prefix, default=defaults.DEFAULT_OSC_PREFIX)


def _sidecar_options(parser: argparse.ArgumentParser, api: bool = True) -> None:
    osc = parser.add_argument_group("OSC output and control input")
    osc.add_argument(
        "--osc",
        action="append",
        type=destination,
        metavar="HOST:PORT",
        help="send OSC here (repeatable; broadcast and multicast addresses work; "
        f"default: {defaults.DEFAULT_OSC_HOST}:{defaults.DEFAULT_OSC_PORT})",
    )
    osc.add_argument(
        "--prefix",
        type=prefix,
        default=defaults.DEFAULT_OSC_PREFIX,
        help="address prefix (default: %(default)s)",
    )
    osc.add_argument(
        "--multicast-ttl", type=ttl, default=1, metavar="N", help="hops for multicast, 0-255 (default: 1)"
    )
    osc.add_argument(
        "--control-host",
        default=defaults.DEFAULT_CONTROL_HOST,
        help="address the control input listens on (default: %(default)s)",
    )
    osc.add_argument(
        "--control-port",
        type=port,
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
    http = parser.add_argument_group("HTTP: OSCQuery, the JSON stream and the dashboard")
    http.add_argument(
        "--http",
        type=http_address,
        metavar="HOST:PORT",
        help="where the HTTP server listens (default: "
        f"{defaults.DEFAULT_HTTP_HOST}:{defaults.DEFAULT_HTTP_PORT}, skipped if that port is taken); "
        "beyond loopback it needs --allow-peer",
    )
    http.add_argument("--no-http", action="store_true", help="no HTTP server")
    http.add_argument(
        "--no-mdns", action="store_true", help="do not announce OSCQuery on mDNS (only done beyond loopback)"
    )
    if api:
        _polling_options(parser)
    output = parser.add_argument_group("terminal output")
    output.add_argument("--no-display", action="store_true", help="log lines instead of the live view")
    output.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="log lines when not on a terminal or with --no-display (default: text)",
    )


def _polling_options(parser: argparse.ArgumentParser) -> None:
    polling = parser.add_argument_group("polling")
    polling.add_argument(
        "--poll-interval",
        type=positive,
        default=defaults.DEFAULT_POLL_INTERVAL,
        metavar="S",
        help="seconds between polls of a running batch (default: %(default)s)",
    )
    polling.add_argument(
        "--min-interval",
        type=positive,
        default=1.0,
        metavar="S",
        help="fastest polling, near a batch's end (default: %(default)s)",
    )
    polling.add_argument(
        "--max-interval",
        type=positive,
        default=60.0,
        metavar="S",
        help="slowest polling, while validating or after errors (default: %(default)s)",
    )


def _sidecar_config(args: argparse.Namespace, **watching: Any) -> SidecarConfig:
    """The sidecar's configuration from the command line, in one piece: the OSC and control
    options, the polling ones where the command has them, and what to watch."""
    from ..outputs.osc import Destination
    from ..sidecar import SidecarConfig
    from ..watcher import Intervals

    if hasattr(args, "poll_interval"):
        if not args.min_interval <= args.poll_interval <= args.max_interval:
            raise CommandError(
                f"polling needs --min-interval ({args.min_interval:g}) <= --poll-interval "
                f"({args.poll_interval:g}) <= --max-interval ({args.max_interval:g})"
            )
        watching["intervals"] = Intervals(args.poll_interval, args.min_interval, args.max_interval)
    http_host, http_port = args.http or (defaults.DEFAULT_HTTP_HOST, defaults.DEFAULT_HTTP_PORT)
    return SidecarConfig(
        destinations=args.osc or [Destination(defaults.DEFAULT_OSC_HOST, defaults.DEFAULT_OSC_PORT)],
        prefix=args.prefix,
        control_host=args.control_host,
        control_port=None if args.no_control else args.control_port,
        allowed_peers=args.allow_peer,
        allow_cancel=args.allow_cancel,
        multicast_ttl=args.multicast_ttl,
        outputs=("osc",) if args.no_http else ("osc", "oscquery", "web"),
        http_host=http_host,
        http_port=None if args.no_http else http_port,
        http_optional=args.http is None,
        mdns=not args.no_mdns,
        **watching,
    )


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
    from ..core.errors import TRANSIENT_ERRORS, AuthenticationError, PermissionDeniedError
    from ..providers import provider_title
    from ..sidecar import Sidecar
    from ._signals import stop_on_signals
    from .demo import say_where

    refs = batch_refs(args.batch_ids, args.provider)
    asked = _providers_asked(args, [ref.provider for ref in refs])
    config = _sidecar_config(
        args,
        batch_ids=[str(ref) for ref in refs],
        labels=dict(pair(item, "--label", "BATCH_ID=LABEL") for item in args.label),
        provider=args.provider or defaults.DEFAULT_PROVIDER,
        all_active=args.all_active,
        state_file=args.state_file,
        retire_after=args.retire_after or (3600.0 if args.all_active else None),
    )
    view = _view(args)
    # every provider with a key is opened too: a restored watch list or a control message may
    # name its batches (--all-active searches only those asked for)
    async with open_providers(args, asked, keyed_providers(), max_retries=2) as providers:
        answering = True
        for name in asked:
            whose = f"{provider_title(name)}: "
            try:
                with base_url_hint(providers[name]):
                    await providers[name].list_batches(limit=1)
            except (AuthenticationError, PermissionDeniedError) as exc:
                raise CommandError(f"{whose}the API refused the key: {exc}") from None
            except TRANSIENT_ERRORS as exc:  # a sidecar may start before the network: keep trying
                answering = False
                view.message(f"{whose}the API is not answering yet ({exc}); watching anyway, retrying")
        if answering and refs and not config.all_active:
            await _require_a_batch(providers, refs)
        polled = {name: providers[name] for name in asked} if args.all_active else providers
        stop = asyncio.Event()
        sidecar = Sidecar(config, polled, view)
        where = asyncio.create_task(say_where(sidecar, view))
        try:
            with stop_on_signals(stop), _control_port_free(), contextlib.closing(view):
                await sidecar.run(stop)
        finally:
            where.cancel()
    return 0


def _providers_asked(args: argparse.Namespace, of_ids: list[str]) -> list[str]:
    """The providers the command line asks for: those of the ids, and for ``--all-active`` the
    one ``--provider`` names or every one whose key is set; with none of these, the default."""
    asked = list(dict.fromkeys(of_ids))
    if args.all_active:
        searched = [args.provider] if args.provider else keyed_providers()
        if not searched:
            raise CommandError(
                f"no API key: set {defaults.API_KEY_ENV}, {defaults.OPENAI_API_KEY_ENV} or "
                f"{defaults.ANTHROPIC_API_KEY_ENV} (--all-active watches the batches of each provider "
                "whose key is set)"
            )
        asked += [name for name in searched if name not in asked]
    return asked or [args.provider or defaults.DEFAULT_PROVIDER]


async def _require_a_batch(providers: Mapping[str, Provider], refs: Sequence[BatchRef]) -> None:
    """Refuse to start with nothing to watch: when none of the batches given exists (a typo,
    another organisation's ids). One that exists is enough; the others then show as errors.
    When the API cannot tell just now, watching starts anyway."""
    from ..core.errors import TRANSIENT_ERRORS, NotFoundError

    for ref in refs:
        try:
            await providers[ref.provider].get_batch(ref.batch_id)
            return
        except NotFoundError:
            continue
        except TRANSIENT_ERRORS:
            return
    named = ", ".join(ref.batch_id for ref in refs)
    raise CommandError(f"no batch {named}: nothing to watch (or add --all-active)")


async def _demo(args: argparse.Namespace) -> int:
    from ._signals import stop_on_signals
    from .demo import run_demo

    config = _sidecar_config(args)
    stop = asyncio.Event()
    view = _view(args)
    with stop_on_signals(stop), _control_port_free(), contextlib.closing(view):
        return await run_demo(config, view, args.speed, args.forever, stop)


@contextlib.contextmanager
def _control_port_free() -> Iterator[None]:
    """A control or HTTP port in use, with the way out the command line adds to the listener's own."""
    from ..outputs._http import HttpPortInUse
    from ..outputs.osc import ControlPortInUse

    try:
        yield
    except ControlPortInUse as exc:
        raise CommandError(f"{exc}; or listen for none with --no-control") from None
    except HttpPortInUse as exc:
        raise CommandError(f"{exc} (is another sidecar running? pick another --http, or --no-http)") from None


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
