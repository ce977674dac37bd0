"""The API key never leaves the process: not on OSC, not in stdout or stderr (text or JSON
logs), not in the state file, not in any error. Real processes run with a distinctive key, and
every byte they emit is searched for it: against the simulator with heavy faults, with a wrong
key, against a port where nothing listens, and against a hostile server that echoes the key's
header back in every answer, error or malformed 200, as is and escaped (as a Python ``repr``,
JSON, a URL, HTML). Each provider's key is checked, in its own header: ``Authorization:
Bearer`` for Voyage and OpenAI, ``x-api-key`` for Anthropic. A key that cannot be sent as one
header line (a key file of two lines) is refused before anything is sent, by every command.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from tests.conftest import FAST_RETRIES
from tests.osc_receiver import OscReceiver, open_receiver
from tests.test_watch_command import env_for, free_udp_port
from voyage_progress import AnthropicBatchClient, InvalidAPIKeyError, OpenAIBatchClient, VoyageBatchClient

KEY = "vp-SECRET-3f9a1c7e-do-not-leak"
WRONG_KEY = "vp-WRONGKEY-8b2e5d04-nope"
#: The simulator runs with --api-key KEY, and then /_sim needs it too.
STEERING_HEADERS = {"Authorization": f"Bearer {KEY}"}
FAULTS = (
    "500=0.1,502=0.05,503=0.05,drop=0.05,429=0.05,429-bare=0.05,malformed=0.05,truncated=0.05,"
    "slow=0.02,slow-seconds=2"
)
POLLING = ["--poll-interval", "0.2", "--min-interval", "0.1", "--max-interval", "1", "--timeout", "1"]
#: A piece of a key this long is a leak too (an error text cut in the middle of the key).
PIECE = 12


def pieces(secret: str) -> set[bytes]:
    return {secret[i : i + PIECE].encode() for i in range(len(secret) - PIECE + 1)}


FORBIDDEN = pieces(KEY) | pieces(WRONG_KEY) | {f"Bearer {KEY}".encode(), f"x-api-key: {KEY}".encode()}
#: A key (still one line of printable ASCII) whose escaped forms differ from the key itself.
ODD_KEY = 'vp-ODD/9c4e+"quoted" back\\slash%41&<tag>=end'

#: Each provider: its key and base URL variables, what its base URL ends in, an id of its shape.
PROVIDERS = {
    "voyage": ("VOYAGE_API_KEY", "VOYAGE_BASE_URL", "/v1", "batch-x"),
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1", "batch_x"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "", "msgbatch_x"),
}
CLIENTS = {"voyage": VoyageBatchClient, "openai": OpenAIBatchClient, "anthropic": AnthropicBatchClient}


def escaped_forms(secret: str) -> set[str]:
    """The key as libraries quote it: Python, the bytes of a header, JSON, URLs, HTML."""
    return {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        html.escape(secret),
    }


ODD_FORBIDDEN = {piece for form in escaped_forms(ODD_KEY) for piece in pieces(form)}


@dataclass
class Captured:
    """Everything the code under test emitted, each piece named by where it came from."""

    emitted: list[tuple[str, bytes]] = field(default_factory=list)
    receivers: list[OscReceiver] = field(default_factory=list)

    def add(self, where: str, data: bytes | str) -> None:
        self.emitted.append((where, data.encode() if isinstance(data, str) else data))

    def add_file(self, path: Path) -> None:
        if path.exists():
            self.add(str(path.name), path.read_bytes())

    def text(self, where: str) -> str:
        return b"".join(data for name, data in self.emitted if name == where).decode(errors="replace")

    def assert_no_key(self, forbidden: set[bytes] = FORBIDDEN) -> None:
        """Every piece captured, and every OSC datagram received so far."""
        datagrams = [("an OSC datagram", data) for r in self.receivers for _at, data in r.datagrams]
        assert self.emitted, "nothing was captured"
        for where, data in [*self.emitted, *datagrams]:
            for piece in forbidden:
                at = data.find(piece)
                assert at < 0, f"{where} shows the key: ...{data[max(0, at - 80) : at + 60]!r}..."


@pytest.fixture
def captured() -> Captured:
    return Captured()


@pytest.fixture
async def receiver(captured: Captured) -> AsyncIterator[OscReceiver]:
    r = await open_receiver()
    captured.receivers.append(r)
    yield r
    r.close()


# -- processes, with every byte they write kept -------------------------------------------------


@dataclass
class Run:
    process: asyncio.subprocess.Process
    out: Path
    err: Path


@contextlib.asynccontextmanager
async def started(
    name: str, *args: str, env: dict[str, str], folder: Path, captured: Captured, stdout_pipe: bool = False
) -> AsyncIterator[Run]:
    """``python -m voyage_progress ARGS``, its output in files (a full pipe would block it),
    stopped with SIGINT at the end if still running, and its output captured."""
    out, err = folder / f"{name}.stdout", folder / f"{name}.stderr"
    with out.open("wb") as out_file, err.open("wb") as err_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "voyage_progress",
            *args,
            stdout=asyncio.subprocess.PIPE if stdout_pipe else out_file,
            stderr=err_file,
            env=env,
        )
    try:
        yield Run(proc, out, err)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if stdout_pipe and proc.stdout is not None:
            out.write_bytes(await proc.stdout.read())
        captured.add(f"{name} stdout", out.read_bytes())
        captured.add(f"{name} stderr", err.read_bytes())


async def finished(
    name: str, *args: str, env: dict[str, str], folder: Path, captured: Captured
) -> tuple[int, str, str]:
    """Run a command to its end: its exit code, stdout and stderr."""
    async with started(name, *args, env=env, folder=folder, captured=captured) as run:
        code = await asyncio.wait_for(run.process.wait(), 60)
    return code, run.out.read_text(), run.err.read_text()


def api_env(base_url: str, key: str = KEY, provider: str = "voyage") -> dict[str, str]:
    key_env, url_env, _suffix, _id = PROVIDERS[provider]
    env = env_for()
    env.update({key_env: key, url_env: base_url})
    return env


def provider_url(base_url: str, provider: str) -> str:
    """A base URL as the provider's variable takes it (``/v1`` or not)."""
    return base_url.removesuffix("/v1") + PROVIDERS[provider][2]


@dataclass
class SimulatorProcess:
    base_url: str

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    async def add_batch(self, requests: int = 20, scenario: str = "quick") -> str:
        async with httpx.AsyncClient(headers=STEERING_HEADERS) as http:
            answer = await http.post(
                f"{self.root}/_sim/batches", json={"requests": requests, "scenario": scenario}
            )
        return str(answer.json()["id"])

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(headers=STEERING_HEADERS) as http:
            return dict((await http.get(f"{self.root}/_sim/stats")).json())


@contextlib.asynccontextmanager
async def simulator(*args: str, folder: Path, captured: Captured) -> AsyncIterator[SimulatorProcess]:
    """``voyage-progress simulate --api-key KEY ...`` as its own process."""
    command = ["simulate", "--port", "0", "--api-key", KEY, "--seed", "3", *args]
    async with started(
        "simulate", *command, env=env_for(), folder=folder, captured=captured, stdout_pipe=True
    ) as run:
        assert run.process.stdout is not None
        first = await asyncio.wait_for(run.process.stdout.readline(), 20)
        captured.add("simulate stdout", first)
        yield SimulatorProcess(first.decode().split()[3])


def watch_args(receiver: OscReceiver, *batch_ids: str, state: Path) -> list[str]:
    osc = f"127.0.0.1:{receiver.port}"
    return [
        "watch",
        *batch_ids,
        "--osc",
        osc,
        "--no-control",
        "--no-display",
        "--state-file",
        str(state),
        *POLLING,
    ]


# -- against the simulator --------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_watching_through_heavy_faults(
    provider: str, tmp_path: Path, captured: Captured, receiver: OscReceiver
) -> None:
    state = tmp_path / "state.json"
    faults = ["--faults", FAULTS, "--dialect", provider]
    async with simulator("--speed", "25", *faults, folder=tmp_path, captured=captured) as sim:
        batch_ids = [await sim.add_batch() for _ in range(3)]
        args = [*watch_args(receiver, *batch_ids, state=state), "--log-format", "json", "--max-rps", "50"]
        env = api_env(sim.base_url, provider=provider)
        async with started("watch", *args, env=env, folder=tmp_path, captured=captured) as run:
            await receiver.wait_for(
                lambda r: {e[1] for e in r.events("complete")} == set(batch_ids), timeout=30
            )
            await asyncio.sleep(0.3)  # a few more polls: ended batches are still announced
        stats = await sim.stats()
    assert run.process.returncode == 0
    captured.add_file(state)
    captured.assert_no_key()
    assert sum(stats["faults"].values()) >= 1, stats  # the error paths did run
    assert all(json.loads(line) for line in captured.text("watch stdout").splitlines())
    assert json.loads(state.read_text())  # the state file was written


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_wrong_key(provider: str, tmp_path: Path, captured: Captured, receiver: OscReceiver) -> None:
    async with simulator("--dialect", provider, folder=tmp_path, captured=captured) as sim:
        batch_id = await sim.add_batch()
        env = api_env(sim.base_url, WRONG_KEY, provider)
        watched, listed = await asyncio.gather(
            finished(
                "watch",
                *watch_args(receiver, batch_id, state=tmp_path / "s.json"),
                env=env,
                folder=tmp_path,
                captured=captured,
            ),
            finished("list", "list", "--provider", provider, env=env, folder=tmp_path, captured=captured),
        )
    for code, _out, err in (watched, listed):
        assert code == 1 and "401" in err and "invalid" in err
    captured.assert_no_key()


async def test_an_unreachable_api(tmp_path: Path, captured: Captured, receiver: OscReceiver) -> None:
    state = tmp_path / "state.json"
    env = api_env(f"http://127.0.0.1:{free_udp_port()}/v1")
    async with started(
        "watch", *watch_args(receiver, "batch-x", state=state), env=env, folder=tmp_path, captured=captured
    ):
        await receiver.wait_for(
            lambda r: str(r.last("/voyage/sidecar/message", "")).startswith("API unreachable"), timeout=20
        )
    captured.add_file(state)
    captured.assert_no_key()
    assert "cannot reach" in captured.text("watch stdout")


# -- against a hostile server -----------------------------------------------------------------

#: What the hostile server can answer; each echoes the Authorization header and the key.
ANSWERS = (
    "401", "403", "404", "429", "500", "502",
    "500-text", "500-error", "400-list", "404-long",
    "200-html", "200-array", "200-no-id", "200-echo",
    "status-line", "header-line",
)  # fmt: skip
#: Answers that echo the key in every escaped form too.
ESCAPED = ("500-forms", "404-forms", "200-forms")


class Hostile(BaseHTTPRequestHandler):
    """Answers by the plan named in the URL (``/RUN/PLAN/v1/...``, PLAN answers joined by
    ``+``): the n-th request of a run gets the plan's n-th answer, round and round."""

    server: HostileServer

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _, run, plan, *_ = self.path.split("/", 3)
        answers = plan.split("+")
        answer = answers[self.server.count(run) % len(answers)]
        key_header = self.headers.get("x-api-key")  # Anthropic's key; the others' as Bearer
        auth = f"Key {key_header}" if key_header else self.headers.get("Authorization", "")
        echo = f"you sent Authorization: {auth} - your key is {auth.partition(' ')[2]}"
        if answer in ("status-line", "header-line"):
            head = (
                f"HTTP/1.1 2OO {auth}\r\n\r\n"
                if answer == "status-line"
                else f"HTTP/1.1 200 OK\r\nX-{auth}\r\n\r\n"
            )
            self.wfile.write(head.encode())
            self.close_connection = True
            return
        status = int(answer[:3])
        kind, body = _hostile_body(answer, echo, auth)
        if answer.endswith("-forms"):
            kind, body = _escaped_body(answer, auth)
        self.send_response(status, f"Denied {auth}" if status >= 400 else "OK")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)


def _hostile_body(answer: str, echo: str, auth: str) -> tuple[str, bytes]:
    key = auth.partition(" ")[2]
    if answer == "500-text":
        return "text/plain", echo.encode()
    if answer == "200-html":
        return "application/json", f"<html><body>{echo}</body></html>".encode()
    body: object = {"detail": echo}
    if answer == "500-error":
        body = {"error": {"message": echo}}
    elif answer == "400-list":
        body = {"detail": [{"msg": echo, "loc": ["header", key]}]}
    elif answer == "404-long":
        body = {"detail": "." * 285 + key + " " + echo}  # the key where an error text is cut short
    elif answer == "200-array":
        body = [auth, key]
    elif answer == "200-no-id":
        body = {"object": "batch", "status": auth, "metadata": {"k": key}, "data": [{"status": auth}]}
    elif answer == "200-echo":
        body = _echoing_batch(auth, key, echo)
    return "application/json", json.dumps(body).encode()


def _escaped_body(answer: str, auth: str) -> tuple[str, bytes]:
    key = auth.partition(" ")[2]
    forms = " | ".join(sorted(escaped_forms(key)))
    if answer == "500-forms":
        return "text/plain", f"refused {forms} ({auth!r})".encode()
    if answer == "404-forms":
        return "application/json", json.dumps({"detail": f"no batch for {forms}"}).encode()
    body = _echoing_batch(auth, key, forms)  # JSON: the key escaped as a JSON string
    body["metadata"] = {f"form-{i}": form for i, form in enumerate(sorted(escaped_forms(key)))}
    return "application/json", json.dumps(body).encode()


def _echoing_batch(auth: str, key: str, echo: str) -> dict[str, object]:
    """A batch object, or a page of them, readable enough to be shown, with the key inside."""
    batch = {
        "id": "batch-echo",
        "object": "batch",
        "status": auth,
        "metadata": {"label": key},
        "request_counts": {"total": 10, "completed": 3, "failed": 1},
        "errors": {"object": "list", "data": [{"code": key, "message": echo, "line": 1}]},
    }
    return {**batch, "data": [batch, {**batch, "id": key}], "has_more": False, "filename": key, "bytes": 1}


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Hostile)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, run: str) -> int:
        with self._lock:
            self._counts[run] += 1
            return self._counts[run] - 1

    def requests(self, base_url: str) -> int:
        with self._lock:
            return self._counts[base_url.split("/")[3]]

    def base_url(self, *plan: str) -> str:
        """A fresh run of ``plan``: its own count of requests."""
        return f"http://127.0.0.1:{self.server_address[1]}/{uuid.uuid4().hex[:8]}/{'+'.join(plan)}/v1"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def inspect_error(captured: Captured, what: str, error: BaseException) -> None:
    captured.add(f"str of {what}", str(error))
    captured.add(f"repr of {what}", repr(error))
    captured.add(f"traceback of {what}", "".join(traceback.format_exception(error)))
    captured.add(f"attributes of {what}", repr(vars(error)))


def client_calls(
    client: VoyageBatchClient | OpenAIBatchClient | AnthropicBatchClient, shown: list[object]
) -> dict[str, Callable[[], Awaitable[object]]]:
    batch_calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get_batch": lambda: client.get_batch("batch-x"),
        "list_batches": lambda: client.list_batches(),
        "cancel_batch": lambda: client.cancel_batch("batch-x"),
        "wait_for_batch": lambda: client.wait_for_batch_completion_with_progress(
            "batch-x", shown.append, poll_interval=0.01, max_wait=0.3
        ),
    }
    if not isinstance(client, VoyageBatchClient):
        return batch_calls
    return {
        **batch_calls,
        "create_batch": lambda: client.create_batch("file-x", model="voyage-3.5"),
        "upload_file": lambda: client.upload_file(b"{}\n", filename="x.jsonl"),
        "list_files": lambda: client.list_files(),
        "get_file": lambda: client.get_file("file-x"),
        "delete_file": lambda: client.delete_file("file-x"),
        "delete_files": lambda: client.delete_files(["file-x"]),
        "download_file": lambda: client.download_file("file-x"),
    }


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("answer", ANSWERS)
async def test_the_client_against_a_server_echoing_the_key(
    hostile: HostileServer, answer: str, provider: str, captured: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="voyage_progress")
    shown: list[object] = []
    base_url = provider_url(hostile.base_url(answer), provider)
    async with CLIENTS[provider](api_key=KEY, base_url=base_url, retry_policy=FAST_RETRIES) as client:
        captured.add("repr of the client", repr(client))
        for name, call in client_calls(client, shown).items():
            try:
                shown.append(await call())
            except Exception as error:
                inspect_error(captured, name, error)
    for value in shown:
        captured.add("a value returned", repr(value))
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        captured.add(f"log record of {record.name}", formatter.format(record))
    captured.assert_no_key()


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("answer", ESCAPED)
async def test_the_key_is_redacted_in_every_escaped_form(
    hostile: HostileServer, answer: str, provider: str, captured: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    """A key with a quote, a backslash, a slash, a plus, a percent, a space: its JSON, Python,
    URL and HTML forms all differ from it, and none may show, whichever header carries it."""
    caplog.set_level(logging.DEBUG, logger="voyage_progress")
    shown: list[object] = []
    base_url = provider_url(hostile.base_url(answer), provider)
    async with CLIENTS[provider](api_key=ODD_KEY, base_url=base_url, retry_policy=FAST_RETRIES) as client:
        for name, call in client_calls(client, shown).items():
            try:
                shown.append(await call())
            except Exception as error:
                inspect_error(captured, name, error)
    for value in shown:
        captured.add("a value returned", repr(value))
        captured.add("a value returned, as JSON", json.dumps(getattr(value, "to_dict", dict)(), default=str))
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        captured.add(f"log record of {record.name}", formatter.format(record))
    captured.assert_no_key(ODD_FORBIDDEN)
    assert hostile.requests(client.base_url) >= len(client_calls(client, []))


#: A key file of two lines, read with ``$(cat key.txt)``.
TWO_LINE_KEY = f"{KEY}\nvp-SECOND-LINE-0c1d"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("bad", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\u00e9", "\u2028"])
def test_a_key_that_cannot_be_one_header_line_is_refused(bad: str, provider: str) -> None:
    with pytest.raises(InvalidAPIKeyError) as raised:
        CLIENTS[provider](api_key=f"{KEY}{bad}more", base_url="http://127.0.0.1:9/v1")
    message = str(raised.value)
    assert isinstance(raised.value, ValueError) and "\n" not in message
    assert f"({PROVIDERS[provider][0]} or api_key=)" in message  # where this provider's key comes from
    assert f"character {len(KEY) + 1} of {len(KEY) + 5}" in message
    assert not any(piece.decode() in message for piece in FORBIDDEN)


@pytest.mark.parametrize(
    ("provider", "command"),
    [
        ("voyage", ["status", "batch-x"]),
        ("voyage", ["list"]),
        ("voyage", ["cancel", "batch-x"]),
        ("voyage", ["results", "batch-x"]),
        ("voyage", ["submit", "input.jsonl"]),
        ("voyage", ["watch", "batch-x", "--no-control", "--no-display", "--osc", "127.0.0.1:9"]),
        ("openai", ["status", "batch_x"]),
        ("openai", ["list", "--provider", "openai"]),
        ("anthropic", ["cancel", "msgbatch_x"]),
        ("anthropic", ["watch", "msgbatch_x", "--no-control", "--no-display", "--osc", "127.0.0.1:9"]),
    ],
    ids=lambda value: value if isinstance(value, str) else value[0],
)
async def test_every_command_refuses_a_key_of_two_lines(
    hostile: HostileServer, provider: str, command: list[str], tmp_path: Path, captured: Captured
) -> None:
    """In one line that says why, without the key, and before anything is sent (the header
    would be refused, quoted escaped, and retried for ever as "API unreachable")."""
    (tmp_path / "input.jsonl").write_text('{"custom_id": "a", "body": {"input": ["x"]}}\n')
    command = [str(tmp_path / arg) if arg == "input.jsonl" else arg for arg in command]
    base_url = provider_url(hostile.base_url("200-echo"), provider)
    env = api_env(base_url, TWO_LINE_KEY, provider=provider)
    async with started(command[0], *command, env=env, folder=tmp_path, captured=captured) as run:
        code = await asyncio.wait_for(run.process.wait(), 20)
    err = run.err.read_text()
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"voyage-progress: error: the API key ({PROVIDERS[provider][0]} or api_key=)"), err
    assert "line break at character 31" in err
    captured.assert_no_key()
    assert hostile.requests(base_url) == 0


#: Plans for the commands: answers they retry (backoff, then ``Retry-After: 0``), then one that ends them.
COMMAND_PLANS = (
    ("200-html", "500", "429", "429", "401"),
    ("200-array", "500-text", "429", "429", "404-long"),
    ("200-no-id", "500-error", "429", "429", "status-line"),
    ("header-line", "400-list"),
    ("200-echo",),
)


@pytest.mark.parametrize(
    ("provider", "command"),
    [
        ("voyage", ["status", "batch-x"]),
        ("voyage", ["list"]),
        ("voyage", ["cancel", "batch-x"]),
        ("openai", ["status", "batch_x"]),
        ("anthropic", ["status", "msgbatch_x"]),
        ("anthropic", ["list", "--provider", "anthropic"]),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
async def test_commands_against_a_server_echoing_the_key(
    hostile: HostileServer, provider: str, command: list[str], tmp_path: Path, captured: Captured
) -> None:
    runs = [
        finished(
            f"{command[0]}-{i}",
            *command,
            "--max-rps",
            "50",
            env=api_env(provider_url(hostile.base_url(*plan), provider), provider=provider),
            folder=tmp_path,
            captured=captured,
        )
        for i, plan in enumerate(COMMAND_PLANS)
    ]
    results = await asyncio.gather(*runs)
    captured.assert_no_key()
    errors = [err for code, _out, err in results if code != 0]
    assert len(errors) >= 3 and all(e.count("\n") == 1 for e in errors), errors  # one line each
    assert all("Traceback" not in err for _code, _out, err in results)


#: For ``watch``: its first check of the key (it retries twice, then watches anyway), then the polls.
WATCH_PLANS = {
    "get": (
        *("500", "200-html", "429", "401", "200-array", "status-line", "200-no-id", "500-text"),
        *("200-echo", "header-line", "500-error", "404-long"),  # a 404 ends the polling of a batch
    ),
    "list": (
        *("502", "200-no-id", "429", "200-echo", "401", "403", "500", "200-html", "200-array"),
        *("404-long", "200-echo", "400-list"),
    ),
}


@pytest.mark.parametrize(
    ("provider", "polls"), [("voyage", "get"), ("voyage", "list"), ("openai", "list"), ("anthropic", "get")]
)
async def test_watch_against_a_server_echoing_the_key(
    hostile: HostileServer,
    provider: str,
    polls: str,
    tmp_path: Path,
    captured: Captured,
    receiver: OscReceiver,
) -> None:
    """One batch is polled by ``GET /batches/{id}``, two by the list."""
    plan = WATCH_PLANS[polls]
    base_url = provider_url(hostile.base_url(*plan), provider)
    state = tmp_path / "state.json"
    shaped = PROVIDERS[provider][3]
    batch_ids = [shaped] if polls == "get" else [shaped, shaped + "y"]
    args = [*watch_args(receiver, *batch_ids, state=state), "--max-interval", "0.3", "--max-rps", "50"]
    env = api_env(base_url, provider=provider)
    async with started("watch", *args, env=env, folder=tmp_path, captured=captured):
        deadline = time.monotonic() + 8
        while hostile.requests(base_url) < len(plan) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # what the last answer makes it show
    captured.add_file(state)
    captured.assert_no_key()
    assert hostile.requests(base_url) >= len(plan), "the watch did not get every answer"
    assert receiver.datagrams and "Traceback" not in captured.text("watch stderr")


def test_the_keys_cannot_be_mistaken_for_each_other() -> None:
    assert not pieces(KEY) & pieces(WRONG_KEY)
    assert not any(piece in b"[redacted] Bearer Authorization" for piece in FORBIDDEN)
