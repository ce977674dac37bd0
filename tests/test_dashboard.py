"""The dashboard in a real browser (headless Chromium): it loads, shows the sidecar's batches,
follows them live over the JSON stream, and reconnects by itself after a sidecar restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import Any

from tests.chromium import open_page
from tests.hub import running_hub
from voyage_progress.simulator import run_simulator

CARDS = "[...document.querySelectorAll('article.batch')]"
SCREENSHOT_DIR = os.environ.get("VOYAGE_PROGRESS_SCREENSHOTS")


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_dashboard_shows_the_batches_live_and_survives_a_restart(tmp_path: Path) -> None:
    port = free_tcp_port()
    async with run_simulator(speed=0) as sim:
        ids = [
            sim.add_batch(800, "normal", label="corpus"),
            sim.add_batch(400, "partial_failures", label="archive"),
            sim.add_batch(50, "fail_validation", label="broken input"),
        ]
        labels = dict(zip(ids, ["corpus", "archive", "broken input"], strict=True))
        hub_settings: dict[str, Any] = {"batch_ids": ids, "labels": labels, "http_port": port}
        restart = contextlib.AsyncExitStack()
        await restart.enter_async_context(running_hub(sim, **hub_settings))
        async with open_page(f"http://127.0.0.1:{port}/ui") as page:
            shown = await page.wait_for(f"{CARDS}.length === 3 && {CARDS}.map(c => c.dataset.id)")
            assert shown == ids
            labels_shown = await page.evaluate(f"{CARDS}.map(c => c.querySelector('.label').textContent)")
            assert labels_shown == ["corpus", "archive", "broken input"]
            # one provider: nothing to tell apart, so the cards do not name it
            assert await page.evaluate(f"{CARDS}.every(c => c.querySelector('.provider').hidden)")
            assert await page.evaluate("document.getElementById('health').dataset.state") == "ok"

            sim.advance(90)  # live: the first batch moves without a reload
            await page.wait_for(
                f"(p => p > 0 && p < 100)(parseFloat({CARDS}[0].querySelector('.percent').textContent))"
            )
            sim.advance(60)  # a rate needs a second count
            await page.wait_for(f"{CARDS}[0].querySelector('.rate').textContent.endsWith('/s')")
            await page.wait_for(f"{CARDS}[0].querySelector('.eta').textContent.includes('s')")
            assert await page.evaluate(f"{CARDS}[2].dataset.kind") == "fail"
            if SCREENSHOT_DIR:
                await page.screenshot(Path(SCREENSHOT_DIR) / "dashboard.png")

            await restart.aclose()  # the sidecar stops: the page says so and keeps trying
            await page.wait_for("document.body.dataset.connected === 'false'")
            assert await page.evaluate("document.getElementById('health').dataset.state") == "down"
            sim.advance(3600)
            async with running_hub(sim, **hub_settings):  # back on the same port
                await page.wait_for("document.body.dataset.connected === 'true'", timeout=15)
                await page.wait_for(f"{CARDS}[0].dataset.kind === 'done'")
                assert await page.evaluate(f"{CARDS}[0].querySelector('.percent').textContent") == "100.0 %"
                await page.screenshot(tmp_path / "after-restart.png")
        await asyncio.sleep(0)


async def test_the_cards_name_each_batchs_provider_when_the_batches_are_of_several() -> None:
    port = free_tcp_port()
    async with run_simulator(speed=0) as voyage, run_simulator(speed=0, dialect="openai") as openai:
        ids = [voyage.add_batch(10), openai.add_batch(10)]
        async with (
            running_hub(voyage, beside={"openai": openai}, batch_ids=ids, http_port=port),
            open_page(f"http://127.0.0.1:{port}/ui") as page,
        ):
            await page.wait_for(f"{CARDS}.length === 2")
            shown = await page.evaluate(
                f"{CARDS}.map(c => [c.dataset.id, c.querySelector('.provider').hidden,"
                " c.querySelector('.provider').textContent])"
            )
            if SCREENSHOT_DIR:
                await page.screenshot(Path(SCREENSHOT_DIR) / "dashboard-providers.png")
    assert shown == [[ids[0], False, "voyage"], [ids[1], False, "openai"]]
