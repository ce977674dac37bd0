"""Headless Chromium (Debian's ``chromium``), driven over the DevTools protocol on a WebSocket:
no browser download, no Node. Enough for a test to open a page, read it and take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.osc_receiver import require_tool

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class Page:
    """One tab: commands go to its session on the browser's DevTools connection."""

    def __init__(self, connection: ClientConnection, session: str) -> None:
        self._connection = connection
        self._session = session
        self._numbers = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._numbers)
        await self._connection.send(
            json.dumps({"id": number, "method": method, "params": params, "sessionId": self._session})
        )
        while True:  # events and answers share the connection: skip to ours
            message = json.loads(await self._connection.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """The value of ``expression`` once it is truthy."""
        async with asyncio.timeout(timeout):
            while True:
                value = await self.evaluate(expression)
                if value:
                    return value
                await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> Path:
        data = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(data["data"]))
        return path


@contextlib.asynccontextmanager
async def open_page(url: str, width: int = 420, height: int = 860) -> AsyncIterator[Page]:
    """A headless Chromium showing ``url`` at a phone's width."""
    chromium = require_tool("chromium")
    profile = tempfile.mkdtemp(prefix="voyage-chromium-")
    process = await asyncio.create_subprocess_exec(
        chromium,
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    drain: asyncio.Task[None] | None = None
    try:
        endpoint = await _devtools_endpoint(process)
        drain = asyncio.create_task(_drain(process))  # a full pipe would stall the browser
        async with connect(endpoint, max_size=64 * 1024 * 1024) as browser:
            target = await _browser_call(browser, "Target.createTarget", url="about:blank")
            attached = await _browser_call(
                browser, "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            page = Page(browser, attached["sessionId"])
            await page.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=True,
            )
            await page.call("Page.enable")
            await page.call("Page.navigate", url=url)
            yield page
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        if drain is not None:
            drain.cancel()
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_endpoint(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    async with asyncio.timeout(30):
        while True:
            line = (await process.stderr.readline()).decode(errors="replace")
            if not line:
                raise RuntimeError("chromium exited before it listened for DevTools")
            found = _LISTENING.search(line)
            if found:
                return found[1]


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stderr is not None
    while await process.stderr.read(65536):
        pass


async def _browser_call(connection: ClientConnection, method: str, **params: Any) -> dict[str, Any]:
    number = 10_000 + len(method)  # distinct from a page's numbers; one call at a time
    await connection.send(json.dumps({"id": number, "method": method, "params": params}))
    while True:
        message = json.loads(await connection.recv())
        if message.get("id") == number:
            result: dict[str, Any] = message["result"]
            return result
