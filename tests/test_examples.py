"""Each example runs as a user runs it: no API key, so against its own simulator."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.osc_receiver import open_receiver

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(name: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOYAGE_")}
    env["VOYAGE_SIM_SPEED"] = "3000"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_gesture_library() -> None:
    out = run_example("gesture_library.py")
    lines = re.findall(r"Loading gestures: (\d+)/15 \((\d+)%\)", out)
    assert lines[-1] == ("15", "100")
    assert [int(done) for done, _ in lines] == sorted(int(done) for done, _ in lines)
    assert "Loaded 15 gestures, 1024 dimensions each." in out


def test_archetype_training_logs_every_ten_percent() -> None:
    out = run_example("archetype_training.py")
    assert re.findall(r"training corpus +(\d+)% embedded, ETA", out) == [str(p) for p in range(10, 101, 10)]
    assert "done: completed" in out


async def test_session_recording_sends_progress_and_the_completion_over_osc() -> None:
    receiver = await open_receiver()
    try:
        out = await asyncio.to_thread(run_example, "session_recording.py", f"127.0.0.1:{receiver.port}")
        await receiver.wait_for(lambda r: bool(r.events("complete")), timeout=5)
    finally:
        receiver.close()
    assert "2000 requests" in out and "session completed 2000/2000 (100.0%)" in out
    assert re.search(r"Session recording embedded: \d+ requests done, \d+ failed\.", out)
    assert receiver.last("/voyage/batch/0/label") == "session"
    assert receiver.last("/voyage/batch/0/is_complete") == 1
    percents = receiver.values("/voyage/batch/0/percent")
    assert len(percents) > 3 and percents == sorted(percents)


def test_openai_sdk_creates_with_request_params_and_reads_the_result() -> None:
    out = run_example("openai_sdk.py")
    batch_id = re.search(r"Created (batch-\w+): validating", out)
    assert batch_id, out
    assert re.search(r"Uploaded moods\.jsonl as file-\w+", out)
    percents = [int(p) for p in re.findall(r"moods \d+/\d+ \((\d+)%\)", out)]
    assert percents[-1] == 100 and percents == sorted(percents)
    assert f"Retrieved {batch_id[1]}: completed, among the 10 newest batches" in out
    assert "Embedded 12 moods, 512 dimensions each." in out  # the request_params reached the batch
