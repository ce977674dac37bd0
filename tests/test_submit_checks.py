"""``submit`` checks its input locally before uploading, against Voyage's documented limits,
and the simulator refuses what goes beyond the same limits (one source: ``_limits``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import jsonl
from tests.test_cli import api, assert_one_line_error, cli
from voyage_progress.cli import main
from voyage_progress.core import limits as _limits
from voyage_progress.core.inputs import check_batch_input, numbered_texts
from voyage_progress.simulator import Simulator, run_simulator

#: Nothing listens there: a check that were not local would end in "cannot reach".
NO_API = {"VOYAGE_API_KEY": "k", "VOYAGE_BASE_URL": "http://127.0.0.1:9/v1"}

#: ``submit`` run through ``main()`` on a file of this content (None: no file): exit code, stderr.
Submit = Callable[..., tuple[int, str]]


def line(custom_id: str, body: object) -> bytes:
    return json.dumps({"custom_id": custom_id, "body": body}).encode() + b"\n"


def words(count: int) -> str:
    return " ".join(["word"] * count)


GOOD = line("a", {"input": ["first"]}) + line("b", {"input": "second"})
TOO_MANY_INPUTS = b"".join(line(f"r{i}", {"input": ["t"] * 1000}) for i in range(100)) + line(
    "last", {"input": "t"}
)


@pytest.fixture
def run_submit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Submit:
    for name, value in NO_API.items():
        monkeypatch.setenv(name, value)

    def run(content: bytes | None, *options: str, name: str = "corpus.jsonl") -> tuple[int, str]:
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        code = main(["submit", str(path), *options])
        return code, capsys.readouterr().err

    return run


def assert_one_line(result: tuple[int, str], *words: str) -> None:
    code, err = result
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("voyage-progress: error: "), err
    assert "Traceback" not in err and "Errno" not in err and "cannot reach" not in err
    for word in words:
        assert word in lines[0], lines[0]


# -- a batch input file --------------------------------------------------------------------------


JSONL_MISTAKES = {
    "plain text": (b"a gesture\nanother gesture\n", ["corpus.jsonl line 1 is not JSON", "--texts"]),
    "empty": (b"", ["corpus.jsonl is empty"]),
    "blank lines only": (b"\n  \n\r\n", ["corpus.jsonl has only blank lines"]),
    "not UTF-8": (GOOD + b'{"custom_id": "c", "body": {"input": ["caf\xe9"]}}\n', ["line 3", "not UTF-8"]),
    "a byte order mark": (b"\xef\xbb\xbf" + GOOD, ["line 1", "byte order mark"]),
    "broken JSON": (GOOD + b'{"custom_id": "c", "body":\n', ["corpus.jsonl line 3: not valid JSON"]),
    "not an object": (b"[1, 2]\n", ["corpus.jsonl line 1: not a JSON object with custom_id and body"]),
    "no custom_id": (line("", {"input": ["x"]}), ["line 1: custom_id must be a non-empty string"]),
    "a custom_id twice": (GOOD + line("a", {"input": ["x"]}), ["line 3: custom_id 'a' is already on line 1"]),
    "no body": (b'{"custom_id": "a"}\n', ["line 1: body must be an object"]),
    "no input": (line("a", {"inputs": ["x"]}), ["line 1: body.input must be a string or a non-empty list"]),
    "too many texts": (
        GOOD + line("c", {"input": ["t"] * 1001}),
        ["line 3: body.input has 1,001 texts; at most 1,000 per request"],
    ),
    "too many inputs": (
        TOO_MANY_INPUTS,
        ["corpus.jsonl: 100,001 inputs in all; a batch takes at most 100,000"],
    ),
}


@pytest.mark.parametrize("mistake", list(JSONL_MISTAKES))
def test_a_bad_input_file_is_one_line_naming_the_file_and_line(run_submit: Submit, mistake: str) -> None:
    content, expected = JSONL_MISTAKES[mistake]
    assert_one_line(run_submit(content), *expected)


def test_tokens_are_refused_only_when_surely_over_the_models_limit(run_submit: Submit) -> None:
    over = line("a", {"input": [words(121)] * 1000})  # at least 121,000 tokens: one per word
    assert_one_line(
        run_submit(over, "--model", "voyage-3-large"),
        "corpus.jsonl line 1: body.input has at least 121,000 tokens; voyage-3-large takes at most 120,000",
    )
    at_limit = line("a", {"input": [words(120)] * 1000})
    assert check_batch_input(at_limit, "corpus.jsonl", model="voyage-3-large") == 1
    assert check_batch_input(over, "corpus.jsonl", model="voyage-3.5") == 1  # 320K for voyage-3.5
    # a text longer than the context may be truncated to it: it counts for at most 32,000
    assert check_batch_input(line("a", {"input": [words(40_000)] * 3}), "c", model="voyage-3-large") == 1


def test_the_other_endpoints_have_their_own_limits(run_submit: Submit) -> None:
    rerank = line("a", {"query": "q", "documents": ["d"] * 1001})
    assert_one_line(
        run_submit(rerank, "--endpoint", "/v1/rerank", "--model", "rerank-2.5"),
        "line 1: body.documents has 1,001 documents; at most 1,000 per request",
    )
    chunks = line("a", {"inputs": [["c"] * 1000] * 17})
    assert_one_line(
        run_submit(chunks, "--endpoint", "/v1/contextualizedembeddings"),
        "line 1: body.inputs has 17,000 chunks; at most 16,000 per request",
    )


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    run_submit: Submit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_limits, "MAX_FILE_BYTES", 100)
    assert_one_line(
        run_submit(jsonl(10)),
        "corpus.jsonl has",
        "bytes; a batch input file may have at most 100 (1 GB): split it",
    )


def test_a_missing_file_and_a_folder(run_submit: Submit, tmp_path: Path) -> None:
    assert_one_line(run_submit(None, name="nowhere.jsonl"), f"no such file: {tmp_path / 'nowhere.jsonl'}")
    (tmp_path / "folder").mkdir()
    assert_one_line(run_submit(None, name="folder"), f"{tmp_path / 'folder'} is a folder, not a file")


# -- plain texts (--texts) -----------------------------------------------------------------------

TEXT_MISTAKES = {
    "not UTF-8": (b"first\nsecond caf\xe9\n", [], ["notes.txt line 2: not UTF-8 text"]),
    "empty": (b"", [], ["notes.txt is empty"]),
    "blank lines only": (b"\n \n", [], ["notes.txt has only blank lines"]),
    "too many texts": (b"t\n" * 100_001, [], ["notes.txt has 100,001 texts; a batch takes at most 100,000"]),
    "too many tokens per request": (
        (words(121) + "\n").encode() * 1000,
        ["--per-request", "1000", "--model", "voyage-3-large"],
        ["notes.txt lines 1-1000, one request, have at least 121,000 tokens", "lower --per-request"],
    ),
    "another endpoint": (b"t\n", ["--endpoint", "/v1/rerank"], ["--texts makes /v1/embeddings requests"]),
}


@pytest.mark.parametrize("mistake", list(TEXT_MISTAKES))
def test_a_bad_text_file_is_one_line_naming_the_file_and_line(run_submit: Submit, mistake: str) -> None:
    content, options, expected = TEXT_MISTAKES[mistake]
    result = run_submit(content, "--texts", *options, name="notes.txt")
    assert_one_line(result, *expected)


@pytest.mark.parametrize("value", ["0", "1001", "many"])
def test_per_request_out_of_range_names_the_option(
    run_submit: Submit, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_submit(b"t\n", "--texts", "--per-request", value, name="notes.txt")
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "--per-request" in err and "between 1 and 1000" in err and "per_request" not in err


def test_texts_keep_their_line_numbers_and_lose_a_byte_order_mark() -> None:
    content = b"\xef\xbb\xbffirst\r\n\r\n  \nsecond\n"
    assert numbered_texts(content, "notes.txt") == [(1, "first"), (4, "second")]


# -- against the simulator: nothing is uploaded; the simulator holds to the same limits --------


async def test_a_bad_file_is_refused_before_anything_is_uploaded(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(GOOD + b"oops\n")
    run = await cli("submit", str(path), env=api(sim))
    assert_one_line_error(run, f"{path} line 3: not valid JSON")
    assert sim.stats.requests == 0


async def create(http: httpx.AsyncClient, content: bytes, model: str = "voyage-3.5") -> str:
    upload = await http.post("files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
    body = {
        "endpoint": "/v1/embeddings",
        "completion_window": "12h",
        "input_file_id": upload.json()["id"],
        "request_params": {"model": model},
    }
    return str((await http.post("batches", json=body)).json()["id"])


@pytest.mark.parametrize(
    ("content", "model", "error"),
    [
        (
            line("a", {"input": [words(121)] * 1000}),
            "voyage-3-large",
            {
                "code": "invalid_request",
                "line": 1,
                "message": "body.input has at least 121,000 tokens; voyage-3-large takes at most 120,000",
                "param": "body.input",
            },
        ),
        (
            TOO_MANY_INPUTS,
            "voyage-3.5",
            {
                "code": "invalid_request",
                "line": None,
                "message": "100,001 inputs in all; a batch takes at most 100,000",
                "param": None,
            },
        ),
        (
            GOOD + line("c", {"input": ["t"] * 1001}),
            "voyage-3.5",
            {
                "code": "invalid_request",
                "line": 3,
                "message": "body.input has 1,001 texts; at most 1,000 per request",
                "param": "body.input",
            },
        ),
    ],
)
async def test_the_simulator_fails_validation_beyond_the_same_limits(
    sim: Simulator, content: bytes, model: str, error: dict[str, object]
) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url + "/", headers={"Authorization": "Bearer k"}) as http:
        batch_id = await create(http, content, model)
    sim.advance(3600)
    batch = sim.batch(batch_id)
    assert batch["status"] == "failed" and batch["errors"]["data"] == [error]


async def test_the_simulator_accepts_a_batch_at_the_limits(sim: Simulator) -> None:
    content = b"".join(line(f"r{i}", {"input": ["t"] * 1000}) for i in range(100))
    async with httpx.AsyncClient(base_url=sim.base_url + "/", headers={"Authorization": "Bearer k"}) as http:
        batch_id = await create(http, content)
    sim.advance(3600)
    assert sim.batch(batch_id)["status"] == "completed"
    assert sim.batch(batch_id)["request_counts"]["total"] == 100


async def test_the_simulator_refuses_an_upload_over_the_size_limit() -> None:
    async with run_simulator(speed=0, max_file_bytes=100) as sim:
        async with httpx.AsyncClient(
            base_url=sim.base_url + "/", headers={"Authorization": "Bearer k"}
        ) as http:
            small = await http.post("files", files={"file": ("s.jsonl", GOOD)}, data={"purpose": "batch"})
            big = await http.post("files", files={"file": ("b.jsonl", jsonl(10))}, data={"purpose": "batch"})
    assert small.status_code == 200
    assert big.status_code == 413 and "at most 100 bytes" in big.json()["detail"]
