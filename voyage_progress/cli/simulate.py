"""``voyage-progress simulate``: the Voyage-compatible Batch API on this machine (or OpenAI's, or
Anthropic's, with ``--dialect``)."""

from __future__ import annotations

import argparse

from .. import _defaults as defaults
from ..core.peers import ADDRESS_IN_USE
from ._common import CommandError, Commands, non_negative, port

#: ``voyage_progress.simulator.DIALECTS``, named here so that ``--help`` does not load the
#: server (a test holds the two equal).
DIALECT_NAMES = ("voyage", "openai", "anthropic")


def add_commands(commands: Commands) -> None:
    sim = commands.add(
        "simulate",
        _simulate,
        "serve a Voyage-compatible Batch API on this machine (or OpenAI's or Anthropic's: --dialect)",
        api=False,
    )
    sim.add_argument(
        "--dialect",
        choices=DIALECT_NAMES,
        default="voyage",
        help="whose Batch API to speak: shapes, errors and headers (default: %(default)s)",
    )
    sim.add_argument(
        "--host", default=defaults.DEFAULT_SIMULATOR_HOST, help="address to listen on (default: %(default)s)"
    )
    sim.add_argument(
        "--port",
        type=port,
        default=defaults.DEFAULT_SIMULATOR_PORT,
        help="port (default: %(default)s; 0 picks one)",
    )
    sim.add_argument(
        "--speed", type=non_negative, default=1.0, help="simulated seconds per real second (default: 1)"
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


async def _simulate(args: argparse.Namespace) -> int:
    from ..simulator import SCENARIOS, Faults, Simulator, serve_forever

    if args.scenario not in SCENARIOS:
        raise CommandError(f"unknown scenario {args.scenario!r}; one of: {', '.join(SCENARIOS)}")
    faults = Faults.parse(args.faults) if args.faults else Faults()

    def ready(sim: Simulator) -> None:
        dialect = sim.dialect
        settings = f"speed {args.speed:g}x, faults: {faults.describe()}"
        print(f"{dialect.title} simulator at {sim.base_url}  ({settings})")
        key = "<the --api-key>" if args.api_key else "demo"  # a key is never printed
        print(f"  export {dialect.base_url_env}={sim.base_url} {dialect.key_env}={key}")
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
            dialect=args.dialect,
        )
    except OSError as exc:
        if exc.errno not in ADDRESS_IN_USE:
            raise
        raise CommandError(
            f"port {args.port} on {args.host} is in use (is another simulator running?): "
            "choose another with --port PORT, or --port 0 for any free one"
        ) from None
    return 0
