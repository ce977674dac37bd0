"""The provider plug-in point: each provider's object mapped to the common model, ids routed to
their provider, keys read from each provider's variable, and a sidecar that keeps each watched
batch's provider through control messages and restarts."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from voyage_progress import AnthropicBatchClient, MissingAPIKeyError, OpenAIBatchClient, VoyageBatchClient
from voyage_progress.core.commands import Command, CommandKind
from voyage_progress.core.models import BatchJob, BatchStatus, RequestCounts
from voyage_progress.providers import PROVIDERS, BatchRef, open_provider, parse_batch_ref, provider_of_id
from voyage_progress.providers.anthropic import job_from_message_batch
from voyage_progress.sidecar import Intervals, Sidecar, SidecarConfig
from voyage_progress.simulator import run_simulator

CREATED = "2024-08-20T18:37:24.100435Z"


def quiet_config(**fields: Any) -> SidecarConfig:
    """A sidecar with no outputs but its (silent) view, polling fast."""
    return SidecarConfig(outputs=(), control_port=None, intervals=Intervals(0.05, 0.02, 0.5), **fields)


def message_batch(status: str, cancel: bool = False, **tallies: int) -> dict[str, Any]:
    return {
        "id": "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {
            name: tallies.get(name, 0)
            for name in ("processing", "succeeded", "errored", "canceled", "expired")
        },
        "ended_at": "2024-08-21T02:00:00Z" if status == "ended" else None,
        "created_at": CREATED,
        "expires_at": "2024-08-21T18:37:24.100435Z",
        "archived_at": None,
        "cancel_initiated_at": "2024-08-20T19:00:00Z" if cancel else None,
        "results_url": None,
    }


@pytest.mark.parametrize(
    ("batch", "status", "counts"),
    [
        (message_batch("in_progress", processing=10), BatchStatus.IN_PROGRESS, (10, 0, 0)),
        (message_batch("canceling", cancel=True, processing=10), BatchStatus.CANCELLING, (10, 0, 0)),
        (message_batch("ended", succeeded=10), BatchStatus.COMPLETED, (10, 10, 0)),
        # errored requests: complete with failures, as a Voyage batch completes
        (message_batch("ended", succeeded=7, errored=3), BatchStatus.COMPLETED, (10, 7, 3)),
        (message_batch("ended", succeeded=4, errored=1, expired=5), BatchStatus.EXPIRED, (10, 4, 6)),
        (message_batch("ended", cancel=True, succeeded=2, canceled=8), BatchStatus.CANCELLED, (10, 2, 8)),
        (message_batch("paused", processing=3), BatchStatus("paused"), (3, 0, 0)),
    ],
)
def test_a_message_batch_as_the_common_model(
    batch: dict[str, Any], status: BatchStatus, counts: tuple[int, int, int]
) -> None:
    job = job_from_message_batch(batch)
    assert job.status == status and job.status.value == status.value
    assert job.request_counts == RequestCounts(*counts)
    assert job.created_at == datetime(2024, 8, 20, 18, 37, 24, 100435, tzinfo=UTC)
    assert job.deadline == job.expires_at == datetime(2024, 8, 21, 18, 37, 24, 100435, tzinfo=UTC)
    assert job.object == "message_batch" and not job.malformed
    ended = datetime(2024, 8, 21, 2, tzinfo=UTC)
    assert (job.completed_at, job.cancelled_at, job.expired_at) == tuple(
        ended if status is s else None
        for s in (BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.EXPIRED)
    )
    if batch["cancel_initiated_at"]:
        assert job.cancelling_at == datetime(2024, 8, 20, 19, tzinfo=UTC)


def test_a_broken_message_batch_is_malformed_not_progress() -> None:
    broken = {**message_batch("ended", succeeded=2), "request_counts": {"succeeded": "2", "errored": -1}}
    del broken["processing_status"]
    job = job_from_message_batch(broken)
    assert job.status is BatchStatus.UNKNOWN
    assert job.malformed == ("status", "request_counts.succeeded", "request_counts.errored")
    with pytest.raises(ValueError, match="no id"):
        job_from_message_batch({"type": "message_batch"})


def test_an_openai_batch_parses_as_it_comes() -> None:
    job = BatchJob.from_dict(
        {
            "id": "batch_abc123",
            "object": "batch",
            "status": "expired",
            "created_at": 1711471533,
            "expires_at": 1711557933,
            "expired_at": 1711557933,
            "request_counts": {"total": 100, "completed": 95, "failed": 1},
        }
    )
    assert job.status is BatchStatus.EXPIRED and job.status.is_failure and not job.malformed
    assert job.deadline == job.expired_at == datetime.fromtimestamp(1711557933, UTC)
    assert job.to_dict()["expired_at"] == "2024-03-27T16:45:33.000000+00:00"
    voyage = BatchJob.from_dict({"id": "batch-x", "status": "completed", "completion_window": "12h"})
    assert "expires_at" not in voyage.to_dict()  # Voyage's objects keep their own fields
    assert voyage.deadline is None


@pytest.mark.parametrize(
    ("text", "provider", "ref"),
    [
        (
            "batch-7vT5tYo5G6MNA3N1PMKrgMqNMErVVkmBNJq9U",
            None,
            BatchRef("voyage", "batch-7vT5tYo5G6MNA3N1PMKrgMqNMErVVkmBNJq9U"),
        ),
        ("batch_abc123", None, BatchRef("openai", "batch_abc123")),
        (
            "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
            None,
            BatchRef("anthropic", "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF"),
        ),
        ("custom-7", None, BatchRef("voyage", "custom-7")),  # no shape: the default
        ("custom-7", "openai", BatchRef("openai", "custom-7")),
        ("openai:batch-looks-like-voyage", "anthropic", BatchRef("openai", "batch-looks-like-voyage")),
        ("batch_abc123", "openai", BatchRef("openai", "batch_abc123")),
    ],
)
def test_an_id_names_its_provider(text: str, provider: str | None, ref: BatchRef) -> None:
    assert parse_batch_ref(text, provider or "voyage", asked=provider is not None) == ref
    assert str(ref) == f"{ref.provider}:{ref.batch_id}"


@pytest.mark.parametrize(
    ("text", "provider", "words"),
    [
        ("msgbatch_01abc", "openai", ["Anthropic's", "not as OpenAI's", "openai:msgbatch_01abc"]),
        ("batch_abc", "voyage", ["OpenAI's", "not as Voyage's", "voyage:batch_abc"]),
        ("gemini:batches/1", None, ["unknown provider 'gemini'", "voyage, openai, anthropic"]),
        ("openai:", None, ["invalid batch id 'openai:'"]),
        ("batch_a/b", None, ["invalid batch id", "letters, digits"]),
    ],
)
def test_an_id_of_another_provider_or_none_is_one_line(
    text: str, provider: str | None, words: list[str]
) -> None:
    with pytest.raises(ValueError) as refused:
        parse_batch_ref(text, provider or "voyage", asked=provider is not None)
    assert "\n" not in str(refused.value) and all(word in str(refused.value) for word in words)


class FourthProvider:
    """What a fourth provider's module declares to have its ids known by their shape."""

    name, title, id_prefix = "fourth", "Fourth", "job_"


def test_a_fourth_provider_is_a_module_and_a_line(monkeypatch: pytest.MonkeyPatch) -> None:
    assert provider_of_id("msgbatch_x") == "anthropic"  # the longest prefix that fits
    assert provider_of_id("job_1") is None
    monkeypatch.setitem(PROVIDERS, "fourth", "tests.test_providers:FourthProvider")
    assert parse_batch_ref("job_1") == BatchRef("fourth", "job_1")
    assert isinstance(open_provider("fourth"), FourthProvider)
    with pytest.raises(ValueError, match="shaped as Fourth's batch ids are"):
        parse_batch_ref("job_1", "openai", asked=True)


@pytest.mark.parametrize(
    ("client", "variable"),
    [
        (VoyageBatchClient, "VOYAGE_API_KEY"),
        (OpenAIBatchClient, "OPENAI_API_KEY"),
        (AnthropicBatchClient, "ANTHROPIC_API_KEY"),
    ],
)
def test_a_missing_key_names_the_providers_variable(
    client: type[VoyageBatchClient], variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VOYAGE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, "set" if name != variable else " ")
    with pytest.raises(MissingAPIKeyError, match=f"set {variable}"):
        client()


def test_base_urls_as_each_official_sdk_takes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    assert OpenAIBatchClient().base_url == "https://api.openai.com/v1"
    assert AnthropicBatchClient().base_url == "https://api.anthropic.com"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    assert AnthropicBatchClient().base_url == "http://127.0.0.1:9"
    assert (
        repr(AnthropicBatchClient())
        == "AnthropicBatchClient(base_url='http://127.0.0.1:9', api_key=<hidden>)"
    )


async def obey(sidecar: Sidecar, command: Command) -> None:
    """A control command, as the control port hands it over: what it leaves to do, awaited."""
    rest = sidecar._command(command)
    if rest is not None:
        await rest


async def test_a_sidecar_keeps_each_batchs_provider(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    async with (
        run_simulator(speed=0, dialect="voyage") as voyage,
        run_simulator(speed=0, dialect="openai") as openai,
        run_simulator(speed=0, dialect="anthropic") as anthropic,
    ):
        clients = {
            "voyage": VoyageBatchClient(api_key="k", base_url=voyage.base_url),
            "openai": OpenAIBatchClient(api_key="k", base_url=openai.base_url),
            "anthropic": AnthropicBatchClient(api_key="k", base_url=anthropic.base_url),
        }
        ids = {
            name: sim.add_batch(4, "quick")
            for name, sim in zip(clients, (voyage, openai, anthropic), strict=True)
        }
        config = quiet_config(batch_ids=[ids["voyage"], ids["openai"]], state_file=state_file)
        sidecar = Sidecar(config, clients)
        await sidecar.start()
        await obey(sidecar, Command(CommandKind.WATCH, f"anthropic:{ids['anthropic']}", "", ("127.0.0.1", 1)))
        await obey(sidecar, Command(CommandKind.WATCH, "gemini:batches/1", "", ("127.0.0.1", 1)))  # ignored
        await obey(sidecar, Command(CommandKind.CANCEL, ids["openai"], "", ("127.0.0.1", 1)))
        watched = {b.batch_id: b.provider for b in sidecar.watcher.batches.values()}
        await sidecar.shutdown()
        assert openai.batch(ids["openai"])["status"] == "cancelling"  # routed to OpenAI's API
        for client in clients.values():
            await client.aclose()
    assert watched == {batch_id: name for name, batch_id in ids.items()}
    saved = json.loads(state_file.read_text())["batches"]
    assert {entry["id"]: entry["provider"] for entry in saved} == watched

    async with VoyageBatchClient(api_key="k") as voyage_only:  # no OpenAI or Anthropic key now
        restarted = Sidecar(quiet_config(state_file=state_file), {"voyage": voyage_only})
        await restarted.start()
        errors = {b.batch_id: b.error for b in restarted.watcher.batches.values()}
        await restarted.shutdown()
    assert errors[ids["openai"]] == "no openai key: its batches are not polled"
    assert errors[ids["voyage"]] is None


async def test_a_state_file_from_before_providers_loads_as_voyage(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text(
        json.dumps({"version": 1, "batches": [{"id": "batch-old", "slot": 2, "label": "old"}]})
    )
    async with run_simulator(speed=0) as sim:
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url) as client:
            sidecar = Sidecar(quiet_config(state_file=state_file), {"voyage": client, "openai": client})
            await sidecar.start()
            restored = sidecar.watcher.batches["batch-old"]
            await asyncio.sleep(0)
            await sidecar.shutdown()
    assert (restored.provider, restored.slot, restored.label) == ("voyage", 2, "old")
    assert json.loads(state_file.read_text())["batches"][0]["provider"] == "voyage"


def test_a_search_for_in_flight_batches_keeps_to_each_providers_window() -> None:
    """A batch of a 24-hour window may still run after Voyage's twelve hours have passed."""
    from datetime import timedelta

    from voyage_progress.watcher import _in_flight_at_most

    windows = {
        cls: _in_flight_at_most(cls) for cls in (VoyageBatchClient, OpenAIBatchClient, AnthropicBatchClient)
    }
    assert windows == {
        VoyageBatchClient: timedelta(hours=13),
        OpenAIBatchClient: timedelta(hours=25),
        AnthropicBatchClient: timedelta(hours=25),
    }
    assert _in_flight_at_most(object()) == timedelta(hours=13)  # a provider with no window of its own
