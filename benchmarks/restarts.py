"""Crash and restart: the sidecar killed twenty times at random moments, each time started again
on the same state file, while thirty batches of three providers end one after another.

What runs, and how it is judged.

- Three simulators run as their own processes, one per provider (``--dialect voyage``,
  ``openai``, ``anthropic``; Voyage's at speed 600, the others at the speed that fits their
  longer window in the same time), without faults, holding thirty batches, each provider's in
  turn, whose work takes from one minute to four simulated hours
  (``metadata["sim_processing"]``, log-uniform, seeded), so their ends fall all through the run.
- Life 1 of the sidecar is ``python -m voyage_progress watch <the ids> --state-file F
  --poll-interval 0.3 --min-interval 0.1 --max-interval 2 --no-control --no-display --osc
  127.0.0.1:<port 1>`` (every provider's key and base URL in its environment). It is killed
  (SIGKILL; TerminateProcess on Windows: nothing of it runs after) after a random 0.3–2.5 s,
  which is often before it has even finished starting. Every later life is the same command
  without the ids, so it knows the batches, and whose each one is, only from the state file,
  and sends to a port of its own: every datagram is known to come from one life.
- After the twentieth kill, life 21 runs until every batch's end has arrived (in any life), and
  is stopped as Ctrl+C would.
- After each kill the state file is read: it must be whole JSON naming every batch, each with
  its provider.

Reported: kills; lives that said (``/sidecar/watching``) they watch every batch, of those that
sent anything; batches whose end arrived at least once, and whose end agrees with the API;
duplicate ends within one life (target 0); ends sent again by a later life although they had
arrived at least ``SAVED_WITHIN`` (a quarter second) before their life was killed (target 0:
an end that is out is saved at once, in milliseconds, and a restarted sidecar must not send it
again); all ends sent again (a kill in the milliseconds between the send and the save: allowed,
that is what "at least once" costs); the state file damaged after a kill (target 0); and the
TouchDesigner model, fed every life's messages in order, firing each batch's end callback
exactly once.

``python -m benchmarks.restarts [--quick]`` prints the table; ``--quick`` kills 5 times.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks._capture import END_STATUS, Capture
from benchmarks._processes import SimulatorControl, child, interrupt
from benchmarks._providers import dialect_of, ends_by_provider, sidecar_env, simulators, truth
from benchmarks._report import Result, table

NAME = "restarts"
API_KEY = "restart-key"
SPEED = 600.0
OPTIONS = [
    "--poll-interval", "0.3", "--min-interval", "0.1", "--max-interval", "2",
    "--no-control", "--no-display",
]  # fmt: skip
TD_MODEL = Path(__file__).parent.parent / "td_components" / "voyage_progress_model.py"
#: Seconds after which an end that arrived is surely in the state file: its save starts once the
#: datagram is out and takes milliseconds; a kill later than this must not make it sent again.
SAVED_WITHIN = 0.25


@dataclass(frozen=True)
class Plan:
    kills: int = 20
    batches: int = 30
    seed: int = 7
    life_seconds: tuple[float, float] = (0.3, 2.5)


FULL = Plan()
QUICK = Plan(kills=5, batches=10)


@dataclass
class Outcome:
    plan: Plan
    ids: list[str]
    lives: list[Capture]
    #: When each killed life was killed (monotonic time), in order.
    killed_at: list[float] = field(default_factory=list)
    truth: dict[str, str] = field(default_factory=dict)
    damaged_states: int = 0
    last_exit: int | None = None
    seconds: float = 0.0

    def ends_per_life(self) -> list[Counter[str]]:
        return [Counter(batch_id for _, batch_id in life.events()) for life in self.lives]

    def reported(self) -> dict[str, str]:
        ends: dict[str, str] = {}
        for life in self.lives:
            for kind, batch_id in life.events():
                ends.setdefault(batch_id, kind)
        return ends

    def sent_again(self) -> tuple[int, int]:
        """Ends a later life sent again: in all, and those that had arrived at least
        ``SAVED_WITHIN`` before a kill (so were saved, or should have been)."""
        again = remembered = 0
        for number, life in enumerate(self.lives):
            earlier = list(zip(self.lives[:number], self.killed_at, strict=False))
            for batch_id in {b for _, b in life.events()}:
                arrivals = [
                    killed - seen.first_end_at[batch_id]
                    for seen, killed in earlier
                    if batch_id in seen.first_end_at
                ]
                again += bool(arrivals)
                remembered += any(ahead >= SAVED_WITHIN for ahead in arrivals)
        return again, remembered


def create_batches(sims: dict[str, SimulatorControl], plan: Plan) -> dict[str, str]:
    """The batches' ids, and each one's provider."""
    rng = random.Random(plan.seed)
    ids = {}
    for number in range(plan.batches):
        scenario = rng.choice(["normal"] * 6 + ["partial_failures", "cancel", "fail_validation", "stall"])
        processing = math.exp(rng.uniform(math.log(60), math.log(4 * 3600)))
        dialect = dialect_of(number)
        created = sims[dialect].create_batches(
            1, rng.randint(15, 2000), scenario, sim_processing=f"{processing:.0f}"
        )
        ids.update(dict.fromkeys(created, dialect))
    return ids


def _kill(process: subprocess.Popen[str]) -> None:
    process.kill()  # SIGKILL on POSIX, TerminateProcess on Windows
    process.wait()


def _state_whole(state: Path, ids: dict[str, str]) -> bool:
    """After a kill: the state file is whole JSON that names every batch and its provider (or
    is not written yet)."""
    if not state.exists():
        return True
    try:
        saved = {entry["id"]: entry["provider"] for entry in json.loads(state.read_text())["batches"]}
    except (ValueError, KeyError, TypeError):
        return False
    return saved == ids


def restarts(plan: Plan) -> Outcome:
    rng = random.Random(plan.seed)
    with tempfile.TemporaryDirectory() as folder, simulators(speed=SPEED, api_key=API_KEY) as sims:
        state = Path(folder) / "state.json"
        providers = create_batches(sims, plan)
        ids = list(providers)
        outcome = Outcome(plan, ids, [])
        env = sidecar_env(os.environ, sims, API_KEY)
        started = time.monotonic()
        for life in range(plan.kills + 1):
            capture = Capture()
            outcome.lives.append(capture)
            args = [sys.executable, "-m", "voyage_progress", "watch", *(ids if life == 0 else []), *OPTIONS]
            args += ["--state-file", str(state), "--osc", f"127.0.0.1:{capture.port}"]
            with child(f"sidecar (life {life + 1})", args, subprocess.DEVNULL, env) as sidecar:
                if life < plan.kills:
                    time.sleep(rng.uniform(*plan.life_seconds))
                    outcome.killed_at.append(time.monotonic())
                    _kill(sidecar.process)
                    outcome.damaged_states += not _state_whole(state, providers)
                else:
                    _run_out(outcome, sidecar.process)
            time.sleep(0.1)  # the last datagrams of this life are read before its socket closes
            capture.close()
        outcome.seconds = time.monotonic() - started
        outcome.truth = {batch_id: batch["status"] for batch_id, batch in truth(sims, API_KEY).items()}
    return outcome


def _run_out(outcome: Outcome, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    """The last life: until every end has arrived, then a Ctrl+C."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and set(outcome.reported()) < set(outcome.ids):
        time.sleep(0.2)
    time.sleep(0.5)
    outcome.last_exit = interrupt(process)


def load_td_model() -> ModuleType:
    spec = importlib.util.spec_from_file_location("voyage_progress_model", TD_MODEL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def td_callbacks(lives: list[Capture]) -> tuple[Counter[str], int]:
    """The end callbacks the TouchDesigner model fires per batch, and the restarts it notices,
    fed every life's messages in the order the lives ran."""
    model = load_td_model()
    state: dict[str, Any] = model.new_state()
    fired: Counter[str] = Counter()
    for life in lives:
        for address, args in life.snapshot():
            for name, info in model.apply(state, address, args, time.monotonic()):
                if name in model.END_CALLBACKS.values():
                    fired[str(info["id"])] += 1
    return fired, int(state["restarts"])


def rows(outcome: Outcome) -> list[Result]:
    n, kills = len(outcome.ids), outcome.plan.kills
    per_life = outcome.ends_per_life()
    duplicates = sum(count - 1 for ends in per_life for count in ends.values() if count > 1)
    again, remembered = outcome.sent_again()
    reported = outcome.reported()
    by_provider, each_ended = ends_by_provider(outcome.ids, reported)
    agree = sum(1 for b, kind in reported.items() if END_STATUS.get(kind) == outcome.truth.get(b))
    spoke = [life for life in outcome.lives if life.latest("watching") is not None]
    complete_lists = sum(1 for life in spoke if life.latest("watching") == n)
    fired, noticed = td_callbacks(outcome.lives)
    before_last = len({b for ends in per_life[:-1] for b in ends})
    td_exact = sum(1 for b in outcome.ids if fired[b] == 1)

    def row(metric: str, ours: str, target: str = "-", met: bool | None = None) -> Result:
        return Result(NAME, metric, ours, "-", "-", target, met)

    return [
        row(f"SIGKILLs, each followed by a restart on the same state file ({n} batches of 3 providers)",
            f"{kills} in {outcome.seconds:.0f} s"),
        row("lives that resumed every batch, of those that sent anything", f"{complete_lists}/{len(spoke)}",
            "all", complete_lists == len(spoke) and bool(spoke)),
        row("batches whose end arrived at least once", f"{len(reported)}/{n}", f"{n}/{n}",
            len(reported) == n),
        row("batches whose end arrived, by provider", by_provider, "all of each", each_ended),
        row("ends that agree with the API's final status", f"{agree}/{n}", f"{n}/{n}", agree == n),
        row("duplicate ends within one sidecar life", str(duplicates), "0", duplicates == 0),
        row("ends sent by lives that were then killed (the rest by the last life)", f"{before_last}/{n}"),
        row(f"ends sent again by a later life, though out {SAVED_WITHIN} s before the kill (so saved)",
            str(remembered), "0", remembered == 0),
        row("ends sent again by a later life, in all (killed between sending and saving)", str(again)),
        row("state file damaged after a kill", str(outcome.damaged_states), "0", outcome.damaged_states == 0),
        row("TouchDesigner model: batches whose end callback fired exactly once", f"{td_exact}/{n}",
            f"{n}/{n}", td_exact == n),
        row("TouchDesigner model: restarts noticed (epoch changes) / lives that spoke",
            f"{noticed}/{len(spoke)}", "lives - 1", noticed == len(spoke) - 1),
        row("exit code of the last life after Ctrl+C", str(outcome.last_exit), "0", outcome.last_exit == 0),
    ]  # fmt: skip


def run(quick: bool) -> list[Result]:
    return rows(restarts(QUICK if quick else FULL))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="restarts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 kills, 10 batches")
    parser.add_argument("--kills", type=int)
    parser.add_argument("--seed", type=int, default=FULL.seed)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    plan = Plan(args.kills or plan.kills, plan.batches, args.seed, plan.life_seconds)
    results = rows(restarts(plan))
    print(table(results))
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
