"""Every batch in one sidecar: ``voyage-progress watch`` follows OpenAI and Anthropic batches, from
servers written from each provider's API reference (not the project's simulator), to their end
on OSC; one sidecar follows Voyage's, OpenAI's and Anthropic's at once; and what a user gets
wrong ends in one line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests import anthropic_reference, openai_reference
from tests.anthropic_reference import AnthropicReference
from tests.openai_reference import OpenAIReference
from tests.osc_receiver import OscReceiver, open_receiver
from tests.reference_server import serve
from tests.test_cli import assert_one_line_error, cli
from tests.test_operational_errors import FAST_POLLING, ended_ids, sidecar_process
from tests.test_watch_command import env_for
from voyage_progress import AnthropicBatchClient, OpenAIBatchClient
from voyage_progress.core.errors import ServerError
from voyage_progress.simulator import run_simulator

OPENAI_KEY = "sk-proj-reference-openai-key-0001"
ANTHROPIC_KEY = "sk-ant-api03-reference-anthropic-key-0001"
WATCH = [*FAST_POLLING, "--no-control", "--max-rps", "50", "--timeout", "2"]


@pytest.fixture
async def receiver() -> AsyncIterator[OscReceiver]:
    r = await open_receiver()
    yield r
    r.close()


@pytest.fixture
async def openai_api() -> AsyncIterator[tuple[OpenAIReference, str]]:
    server = OpenAIReference(OPENAI_KEY)
    async with serve(server.app) as url:
        yield server, url


@pytest.fixture
async def anthropic_api() -> AsyncIterator[tuple[AnthropicReference, str]]:
    server = AnthropicReference(ANTHROPIC_KEY)
    async with serve(server.app) as url:
        server.url = url
        yield server, url


def openai_env(url: str, key: str = OPENAI_KEY) -> dict[str, str]:
    return {**env_for(), "OPENAI_API_KEY": key, "OPENAI_BASE_URL": url + "/v1"}


def anthropic_env(url: str, key: str = ANTHROPIC_KEY) -> dict[str, str]:
    return {**env_for(), "ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": url}


def slot_of(receiver: OscReceiver, batch_id: str) -> int:
    return next(int(e[2]) for e in receiver.events("watch") if e[1] == batch_id)  # type: ignore[call-overload]


def final(receiver: OscReceiver, batch_id: str, name: str) -> object:
    return receiver.last(f"/voyage/batch/{slot_of(receiver, batch_id)}/{name}")


def ends(receiver: OscReceiver) -> dict[str, str]:
    return {
        str(e[1]): str(e[0])
        for e in receiver.events()
        if e[0] in ("complete", "failed", "cancelled", "expired")
    }


async def wait_ended(receiver: OscReceiver, *batch_ids: str) -> None:
    await receiver.wait_for(lambda r: set(batch_ids) <= set(ended_ids(r)), timeout=30)
    await asyncio.sleep(0.3)  # the bundles sent with the ends


async def test_watch_follows_openai_batches_to_their_end(
    openai_api: tuple[OpenAIReference, str], receiver: OscReceiver
) -> None:
    server, url = openai_api
    step = openai_reference.step
    server.add(
        "batch_done",
        10,
        step("validating"),
        step("in_progress"),
        step("in_progress", 4, 1),
        step("finalizing", 8, 2),
        step("completed", 8, 2),
    )
    server.add("batch_late", 10, step("in_progress", 3), step("in_progress", 6, 1), step("expired", 6, 1))
    args = ["--provider", "openai", "batch_done", "batch_late", "--osc", f"127.0.0.1:{receiver.port}"]
    async with sidecar_process(*args, *WATCH, env=openai_env(url)):
        await wait_ended(receiver, "batch_done", "batch_late")
    assert ends(receiver) == {"batch_done": "complete", "batch_late": "expired"}
    for batch_id in ("batch_done", "batch_late"):
        assert final(receiver, batch_id, "provider") == "openai"
        assert final(receiver, batch_id, "total") == 10
    assert [final(receiver, "batch_done", n) for n in ("status", "completed", "failed", "is_complete")] == [
        "completed",
        8,
        2,
        1,
    ]
    late = [final(receiver, "batch_late", n) for n in ("status", "completed", "failed", "is_failed", "eta")]
    assert late == ["expired", 6, 1, 1, -1.0]
    assert "expired" in str(final(receiver, "batch_late", "error"))
    assert all(headers["authorization"] == f"Bearer {OPENAI_KEY}" for _, _, headers in server.seen)


async def test_watch_follows_anthropic_batches_to_their_end(
    anthropic_api: tuple[AnthropicReference, str], receiver: OscReceiver
) -> None:
    server, url = anthropic_api
    step = anthropic_reference.step
    server.add(
        "msgbatch_01done",
        step("in_progress", processing=10),
        step("in_progress", processing=10),
        step("ended", succeeded=7, errored=3),
    )
    server.add(
        "msgbatch_01late",
        step("in_progress", processing=10),
        step("ended", succeeded=4, errored=1, expired=5),
    )
    server.add(
        "msgbatch_01stop",
        step("in_progress", processing=9),
        step("canceling", processing=9),
        step("ended", succeeded=2, canceled=7),
    )
    ids = ["msgbatch_01done", "msgbatch_01late", "msgbatch_01stop"]
    args = ["--provider", "anthropic", *ids, "--osc", f"127.0.0.1:{receiver.port}"]
    async with sidecar_process(*args, *WATCH, env=anthropic_env(url)):
        await wait_ended(receiver, *ids)
    # an ended batch: complete with its failures, expired with requests left, or cancelled
    assert ends(receiver) == dict(zip(ids, ["complete", "expired", "cancelled"], strict=True))
    figures = ("status", "total", "completed", "failed", "provider")
    assert [final(receiver, "msgbatch_01done", n) for n in figures] == ["completed", 10, 7, 3, "anthropic"]
    assert [final(receiver, "msgbatch_01late", n) for n in figures] == ["expired", 10, 4, 6, "anthropic"]
    assert [final(receiver, "msgbatch_01stop", n) for n in figures] == ["cancelled", 9, 2, 7, "anthropic"]
    assert final(receiver, "msgbatch_01done", "percent") == pytest.approx(100.0)
    statuses = [
        str(v) for v in receiver.values(f"/voyage/batch/{slot_of(receiver, 'msgbatch_01stop')}/status")
    ]
    assert "cancelling" in statuses  # canceling shows as the common model's cancelling
    assert all(
        headers["x-api-key"] == ANTHROPIC_KEY
        and headers["anthropic-version"] == "2023-06-01"
        and "authorization" not in headers
        for _, _, headers in server.seen
    )


async def test_one_sidecar_follows_every_provider(
    openai_api: tuple[OpenAIReference, str],
    anthropic_api: tuple[AnthropicReference, str],
    receiver: OscReceiver,
) -> None:
    (openai_server, openai_url), (anthropic_server, anthropic_url) = openai_api, anthropic_api
    openai_server.add(
        "batch_mixed", 5, openai_reference.step("in_progress", 2), openai_reference.step("completed", 5)
    )
    openai_server.add("custom-7", 3, openai_reference.step("completed", 3))  # no shape: said outright
    anthropic_server.add(
        "msgbatch_01mixed",
        anthropic_reference.step("in_progress", processing=4),
        anthropic_reference.step("ended", succeeded=4),
    )
    async with run_simulator(speed=200) as sim:
        voyage_id = sim.add_batch(6, "quick")
        env = {**openai_env(openai_url), **anthropic_env(anthropic_url)}
        env.update(VOYAGE_API_KEY="voyage-key", VOYAGE_BASE_URL=sim.base_url)
        ids = [voyage_id, "batch_mixed", "openai:custom-7", "msgbatch_01mixed"]
        async with sidecar_process(*ids, "--osc", f"127.0.0.1:{receiver.port}", *WATCH, env=env) as (_, done):
            await wait_ended(receiver, voyage_id, "batch_mixed", "custom-7", "msgbatch_01mixed")
    providers = {
        b: final(receiver, b, "provider") for b in (voyage_id, "batch_mixed", "custom-7", "msgbatch_01mixed")
    }
    assert providers == {
        voyage_id: "voyage",
        "batch_mixed": "openai",
        "custom-7": "openai",
        "msgbatch_01mixed": "anthropic",
    }
    assert set(ends(receiver).values()) == {"complete"}
    assert receiver.last("/voyage/all/active") == 0 and receiver.last("/voyage/all/total") == 6 + 5 + 3 + 4
    assert done[0].lines_with("slot", "anthropic", "msgbatch_01mixed completed 4/4")  # the log names it


async def test_one_provider_failing_leaves_the_others_watched(
    openai_api: tuple[OpenAIReference, str],
    anthropic_api: tuple[AnthropicReference, str],
    receiver: OscReceiver,
) -> None:
    (openai_server, openai_url), (anthropic_server, anthropic_url) = openai_api, anthropic_api
    openai_server.add(
        "batch_fine", 4, openai_reference.step("in_progress", 1), openai_reference.step("completed", 4)
    )
    anthropic_server.add("msgbatch_01down", anthropic_reference.step("in_progress", processing=2))
    anthropic_server.fail_next(529, "Overloaded", times=1000)
    env = {**openai_env(openai_url), **anthropic_env(anthropic_url)}
    args = ["batch_fine", "msgbatch_01down", "--osc", f"127.0.0.1:{receiver.port}", *WATCH]
    async with sidecar_process(*args, env=env):
        await receiver.wait_for(lambda r: "batch_fine" in ended_ids(r), timeout=30)
        await receiver.wait_for(
            lambda r: "anthropic: API unreachable: 529" in str(r.last("/voyage/sidecar/message")), timeout=10
        )
        assert receiver.last("/voyage/sidecar/api_ok") == 0
    assert "msgbatch_01down" not in ended_ids(receiver)


# -- what a user gets wrong: one line each --------------------------------------------------------


async def test_an_id_of_one_provider_given_to_another_is_one_line() -> None:
    run = await cli("watch", "--provider", "openai", "msgbatch_01abc", env=openai_env("http://127.0.0.1:9"))
    assert_one_line_error(run, "msgbatch_01abc", "Anthropic", "OpenAI", "openai:msgbatch_01abc")
    run = await cli("status", "--provider", "anthropic", "batch-7vT5tY", env=env_for())
    assert_one_line_error(run, "batch-7vT5tY", "Voyage", "Anthropic")


@pytest.mark.parametrize(
    ("batch_id", "variable"),
    [
        ("msgbatch_01abc", "ANTHROPIC_API_KEY"),
        ("batch_abc", "OPENAI_API_KEY"),
        ("batch-abc", "VOYAGE_API_KEY"),
    ],
)
async def test_a_missing_key_names_the_providers_variable(batch_id: str, variable: str) -> None:
    for command in ("watch", "status", "cancel"):
        run = await cli(command, batch_id, env=env_for())
        assert_one_line_error(run, "no API key", variable)


async def test_a_refused_key_in_each_providers_shape_is_one_line(
    openai_api: tuple[OpenAIReference, str], anthropic_api: tuple[AnthropicReference, str]
) -> None:
    (openai_server, openai_url), (anthropic_server, anthropic_url) = openai_api, anthropic_api
    openai_server.add("batch_x", 1, openai_reference.step("completed", 1))
    run = await cli("watch", "batch_x", "--no-control", env=openai_env(openai_url, key="sk-wrong-key-000000"))
    assert_one_line_error(run, "OpenAI", "refused the key", "401", "Incorrect API key provided")
    run = await cli("status", "msgbatch_01x", env=anthropic_env(anthropic_url, key="sk-ant-wrong-0000000"))
    assert_one_line_error(run, "401", "invalid x-api-key")
    anthropic_server.fail_next(403, "This API key cannot read message batches.")
    run = await cli("status", "msgbatch_01x", env=anthropic_env(anthropic_url))
    assert_one_line_error(run, "403", "cannot read message batches")


async def test_unknown_batches_and_passing_trouble_per_provider(
    openai_api: tuple[OpenAIReference, str], anthropic_api: tuple[AnthropicReference, str]
) -> None:
    (openai_server, openai_url), (anthropic_server, anthropic_url) = openai_api, anthropic_api
    run = await cli("status", "msgbatch_01nope", env=anthropic_env(anthropic_url))
    assert_one_line_error(run, "no batch msgbatch_01nope at Anthropic")
    run = await cli("cancel", "batch_nope", env=openai_env(openai_url))
    assert_one_line_error(run, "no batch batch_nope")

    # a 429 and a 5xx, in each provider's own shape, are retried: the command succeeds
    openai_server.add("batch_busy", 2, openai_reference.step("in_progress", 1))
    openai_server.fail_next(429, "Rate limit reached for requests")
    openai_server.fail_next(500, "The server had an error while processing your request.")
    run = await cli("status", "batch_busy", env=openai_env(openai_url))
    assert run.code == 0 and "batch_busy in_progress 1/2" in run.out, run.err
    anthropic_server.add("msgbatch_01busy", anthropic_reference.step("in_progress", processing=3))
    anthropic_server.fail_next(429, "Number of request tokens has exceeded your per-minute rate limit")
    anthropic_server.fail_next(529, "Overloaded")
    run = await cli("status", "msgbatch_01busy", "--max-rps", "50", env=anthropic_env(anthropic_url))
    assert run.code == 0 and "msgbatch_01busy in_progress 0/3" in run.out, run.err


async def test_cancel_and_list_for_each_provider(
    openai_api: tuple[OpenAIReference, str], anthropic_api: tuple[AnthropicReference, str]
) -> None:
    (openai_server, openai_url), (anthropic_server, anthropic_url) = openai_api, anthropic_api
    for number in range(3):
        openai_server.add(f"batch_{number}", 2, openai_reference.step("in_progress", 1))
        anthropic_server.add(f"msgbatch_01n{number}", anthropic_reference.step("in_progress", processing=2))
    env = {**openai_env(openai_url), **anthropic_env(anthropic_url)}
    run = await cli("cancel", "batch_1", env=env)
    assert run.code == 0 and run.out.strip() == "batch_1 cancelling", run.err
    run = await cli("cancel", "msgbatch_01n2", "--max-rps", "50", env=env)
    assert run.code == 0 and run.out.strip() == "msgbatch_01n2 cancelling", run.err

    run = await cli("list", "--provider", "anthropic", "--limit", "2", "--all", "--max-rps", "50", env=env)
    assert run.code == 0, run.err
    assert [line.split()[0] for line in run.out.splitlines()] == [
        "msgbatch_01n2",
        "msgbatch_01n1",
        "msgbatch_01n0",
    ]
    lists = [
        path for method, path, _ in anthropic_server.seen if method == "GET" and path.endswith("batches")
    ]
    assert len(lists) == 2  # paged with after_id
    run = await cli("list", "--provider", "openai", "--active", env=env)
    assert run.code == 0 and "batch_1" not in run.out and "batch_2" in run.out, run.err


def test_the_acceptance_servers_are_not_the_simulator() -> None:
    """The independence these tests rest on: the reference servers import nothing of the package."""
    for module in (openai_reference, anthropic_reference):
        with open(module.__file__ or "", encoding="utf-8") as source:
            assert "voyage_progress" not in source.read()


async def test_all_active_finds_the_batches_of_every_provider_with_a_key(
    openai_api: tuple[OpenAIReference, str],
    anthropic_api: tuple[AnthropicReference, str],
    receiver: OscReceiver,
) -> None:
    (openai_server, openai_url), (anthropic_server, anthropic_url) = openai_api, anthropic_api
    openai_server.add(
        "batch_found", 2, openai_reference.step("in_progress", 1), openai_reference.step("completed", 2)
    )
    openai_server.add("batch_old_done", 2, openai_reference.step("completed", 2))  # ended: not watched
    anthropic_server.add(
        "msgbatch_01found",
        *[anthropic_reference.step("in_progress", processing=3)] * 2,  # the first read: the key check
        anthropic_reference.step("ended", succeeded=3),
    )
    env = {**openai_env(openai_url), **anthropic_env(anthropic_url)}
    async with sidecar_process("--all-active", "--osc", f"127.0.0.1:{receiver.port}", *WATCH, env=env):
        await wait_ended(receiver, "batch_found", "msgbatch_01found")
    watched = {str(e[1]) for e in receiver.events("watch")}
    assert watched == {"batch_found", "msgbatch_01found"}
    assert final(receiver, "batch_found", "provider") == "openai"
    assert final(receiver, "msgbatch_01found", "provider") == "anthropic"


async def test_a_base_url_in_the_wrong_form_says_the_providers_form(
    anthropic_api: tuple[AnthropicReference, str],
) -> None:
    _, url = anthropic_api
    run = await cli("watch", "msgbatch_01x", "--no-control", env=anthropic_env(url + "/v1"))
    assert_one_line_error(run, f"did you mean {url}?", "no /v1", "ANTHROPIC_BASE_URL")
    run = await cli("list", "--provider", "openai", env=openai_env(url.replace("http://", "http://") + "/x"))
    assert run.code != 0 and "OPENAI_BASE_URL" in run.err


async def test_trouble_that_lasts_is_one_line_in_each_providers_shape(
    openai_api: tuple[OpenAIReference, str], anthropic_api: tuple[AnthropicReference, str]
) -> None:
    """A 429 that outlasts the retries ends the command in one line with the provider's own
    message; a 5xx is raised (after the retries) as one line with the status and that message."""
    (openai_server, openai_url), (anthropic_server, anthropic_url) = openai_api, anthropic_api
    openai_server.add("batch_busy", 2, openai_reference.step("in_progress", 1))
    openai_server.fail_next(429, "Rate limit reached for requests", times=5)
    run = await cli("status", "batch_busy", env=openai_env(openai_url))
    assert_one_line_error(run, "429", "Rate limit reached for requests")
    anthropic_server.add("msgbatch_01busy", anthropic_reference.step("in_progress", processing=3))
    anthropic_server.fail_next(
        429, "Number of request tokens has exceeded your per-minute rate limit", times=5
    )
    run = await cli("cancel", "msgbatch_01busy", "--max-rps", "50", env=anthropic_env(anthropic_url))
    assert_one_line_error(run, "429", "per-minute rate limit")

    cases = [
        (OpenAIBatchClient, openai_server, openai_url + "/v1", OPENAI_KEY, "batch_busy", 503),
        (AnthropicBatchClient, anthropic_server, anthropic_url, ANTHROPIC_KEY, "msgbatch_01busy", 529),
    ]
    for client_class, server, url, key, batch_id, status in cases:
        server.fail_next(status, "The service is overloaded; try again later")
        async with client_class(api_key=key, base_url=url, max_retries=0) as client:
            with pytest.raises(ServerError) as raised:
                await client.get_batch(batch_id)
        text = str(raised.value)
        assert "\n" not in text and str(status) in text and "overloaded; try again later" in text, text
