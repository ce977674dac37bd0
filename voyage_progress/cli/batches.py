"""The commands that talk to the Batch API directly: status, list and cancel (for every provider),
submit and results (Voyage's)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _defaults as defaults
from ..core import limits
from ._common import (
    EXIT_ERROR,
    PROG,
    CommandError,
    Commands,
    base_url_hint,
    batch_id,
    check_base_url,
    known_batch,
    limit,
    no_batch,
    open_api,
    pair,
    per_request,
    positive,
)
from ._providers import add_provider_option, batch_refs, open_providers, provider_names

if TYPE_CHECKING:
    from ..core.models import BatchJob
    from ..providers.voyage import VoyageBatchClient


def add_commands(commands: Commands) -> None:
    status = commands.add("status", _status, "show batches' status and progress")
    status.add_argument("batch_ids", nargs="+", type=batch_id, metavar="BATCH_ID")
    status.add_argument("--json", action="store_true", help="print the batch objects as JSON")
    add_provider_option(status, "whose batches they are")

    listing = commands.add("list", _list, "list the organisation's batches, newest first")
    listing.add_argument(
        "--provider",
        choices=provider_names(),
        default=defaults.DEFAULT_PROVIDER,
        help="whose batches to list (default: %(default)s)",
    )
    listing.add_argument("--limit", type=limit, default=20, help="batches per page, 1-100 (default: 20)")
    listing.add_argument("--all", action="store_true", help="every page, not only the first")
    listing.add_argument("--active", action="store_true", help="only batches still in flight")
    listing.add_argument("--json", action="store_true", help="print the batch objects as JSON lines")

    cancel = commands.add("cancel", _cancel, "cancel a batch (while validating or in progress)")
    cancel.add_argument("batch_id", type=batch_id, metavar="BATCH_ID")
    add_provider_option(cancel, "whose batch it is")

    _submit_parser(commands.add("submit", _submit, "upload an input file and start a batch"))

    results = commands.add("results", _results, "download a finished batch's output and error files")
    results.add_argument("batch_id", type=batch_id, metavar="BATCH_ID")
    results.add_argument(
        "--output", "-o", type=Path, help="where to write the output JSONL (default: BATCH_ID_output.jsonl)"
    )
    results.add_argument(
        "--errors", type=Path, help="where to write the error JSONL (default: BATCH_ID_errors.jsonl)"
    )


def _submit_parser(submit: argparse.ArgumentParser) -> None:
    submit.add_argument(
        "input",
        type=Path,
        metavar="INPUT",
        help="a Voyage batch input .jsonl, or with --texts a text file with one input per line",
    )
    submit.add_argument("--texts", action="store_true", help="INPUT holds plain texts, one per line")
    submit.add_argument(
        "--per-request",
        type=per_request,
        default=1,
        metavar="N",
        help=f"with --texts: texts per request, 1-{limits.MAX_TEXTS_PER_REQUEST} (default: 1)",
    )
    submit.add_argument("--model", default=defaults.DEFAULT_MODEL, help="model (default: %(default)s)")
    submit.add_argument(
        "--endpoint", default=defaults.DEFAULT_ENDPOINT, help="endpoint (default: %(default)s)"
    )
    submit.add_argument("--input-type", choices=["query", "document"], help="input_type request parameter")
    submit.add_argument("--output-dimension", type=int, help="output_dimension request parameter")
    submit.add_argument(
        "--output-dtype", help="output_dtype request parameter (float, int8, uint8, binary, ubinary)"
    )
    submit.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE", help="metadata pair (repeatable)"
    )
    submit.add_argument("--wait", action="store_true", help="show progress until the batch ends")
    submit.add_argument(
        "--poll-interval",
        type=positive,
        default=defaults.DEFAULT_POLL_INTERVAL,
        help="seconds between polls with --wait (default: %(default)s)",
    )


def _client(args: argparse.Namespace) -> VoyageBatchClient:
    """Voyage's client, for the commands only Voyage's API has (its files: submit, results)."""
    from ..providers.voyage import VoyageBatchClient

    client = open_api(args)
    if not isinstance(client, VoyageBatchClient):
        raise CommandError("this command works with the Voyage provider only")
    return client


async def _status(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from ..core.errors import NotFoundError
    from ..core.events import BatchProgressEvent
    from ..core.frame import BatchSnapshot
    from ..outputs.table import describe

    refs = batch_refs(args.batch_ids, args.provider)
    names = list(dict.fromkeys(ref.provider for ref in refs))
    missing: set[str] = set()
    async with open_providers(args, names) as providers:
        for ref in refs:
            client = providers[ref.provider]
            try:
                job = await client.get_batch(ref.batch_id)
            except NotFoundError:
                if ref.provider not in missing:
                    await check_base_url(client)
                print(
                    f"{PROG}: error: {no_batch(ref.batch_id, ref.provider, named=len(names) > 1)}",
                    file=sys.stderr,
                )
                missing.add(ref.provider)
                continue
            if args.json:
                print(json.dumps({**job.to_dict(), "provider": ref.provider}))
            else:
                event = BatchProgressEvent.from_job(job, datetime.now(UTC))
                whose = f"{ref.provider} " if len(names) > 1 else ""
                print(whose + describe(BatchSnapshot.of(job.id, -1, event=event, provider=ref.provider)))
    return EXIT_ERROR if missing else 0


async def _list(args: argparse.Namespace) -> int:
    from ..core.text import clean_label, clean_text
    from ..providers._client import iter_batches

    async with open_providers(args, [args.provider]) as providers:
        client = providers[args.provider]
        pages = None if args.all else 1
        shown = 0
        with base_url_hint(client):
            async for job in iter_batches(client, limit=args.limit, max_pages=pages):
                if args.active and not job.status.is_in_flight:
                    continue
                shown += 1
                if args.json:
                    print(json.dumps({**job.to_dict(), "provider": args.provider}))
                    continue
                counts = job.request_counts
                created = job.created_at.strftime("%Y-%m-%d %H:%M") if job.created_at else "-"
                label = clean_label(job.metadata.get("label") or job.metadata.get("sim_scenario") or "")
                progress = f"{counts.processed:>6}/{counts.total:<6}"
                print(f"{job.id}  {clean_text(job.status.value):<11} {progress} {created}  {label}".rstrip())
        if not shown and not args.json:
            print("no batches" + (" in flight" if args.active else ""))
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    (ref,) = batch_refs([args.batch_id], args.provider)
    async with open_providers(args, [ref.provider]) as providers:
        client = providers[ref.provider]
        async with known_batch(client, ref.batch_id):
            job = await client.cancel_batch(ref.batch_id)
    print(f"{job.id} {job.status.value}")
    return 0


async def _submit(args: argparse.Namespace) -> int:
    metadata = dict(pair(item, "--metadata") for item in args.metadata)
    content = await asyncio.to_thread(_input_file, args)
    params = {
        "input_type": args.input_type,
        "output_dimension": args.output_dimension,
        "output_dtype": args.output_dtype,
    }
    async with _client(args) as client:
        with base_url_hint(client):
            file = await client.upload_file(content, filename=args.input.with_suffix(".jsonl").name)
        job = await client.create_batch(
            file.id,
            model=args.model,
            endpoint=args.endpoint,
            request_params={k: v for k, v in params.items() if v is not None},
            metadata=metadata,
        )
        print(job.id)
        if not args.wait:
            return 0
        final = await _show_progress(client, job.id, args.poll_interval)
    return 0 if final.status.value == "completed" else EXIT_ERROR


def _input_file(args: argparse.Namespace) -> bytes:
    """The batch input file to upload, checked against Voyage's limits first: a mistake is
    found here, in a second, instead of after an upload and a failed validation."""
    from ..core.inputs import check_batch_input, check_texts, jsonl_from_texts, numbered_texts

    path: Path = args.input
    if args.texts and args.endpoint != defaults.DEFAULT_ENDPOINT:
        raise CommandError(f"--texts makes {defaults.DEFAULT_ENDPOINT} requests, not {args.endpoint}")
    content = _read_input(path)
    if not args.texts:
        check_batch_input(content, str(path), args.endpoint, args.model)
        return content
    texts = numbered_texts(content, str(path))
    check_texts(texts, str(path), args.per_request, args.model)
    return jsonl_from_texts((text for _, text in texts), args.per_request)


def _read_input(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise CommandError(f"{path} is a folder, not a file")
        size = path.stat().st_size
        if size > limits.MAX_FILE_BYTES:
            raise CommandError(
                f"{path} has {size:,} bytes; a batch input file may have at most "
                f"{limits.MAX_FILE_BYTES:,} (1 GB): split it"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except PermissionError:
        raise CommandError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


async def _show_progress(client: VoyageBatchClient, batch_id: str, poll_interval: float) -> BatchJob:
    from ..outputs.table import ProgressView

    with ProgressView(sys.stderr) as view:
        return await client.wait_for_batch_completion_with_progress(batch_id, view.update, poll_interval)


async def _results(args: argparse.Namespace) -> int:
    from ..providers import provider_title

    (ref,) = batch_refs([args.batch_id], None)
    if ref.provider != defaults.DEFAULT_PROVIDER:
        whose = provider_title(ref.provider)
        raise CommandError(
            f"results downloads Voyage's output and error files; {ref.batch_id} is {whose}'s: "
            f"read its results with {whose}'s own tools"
        )
    batch_id = ref.batch_id
    async with _client(args) as client:
        async with known_batch(client, batch_id):
            job = await client.get_batch(batch_id)
        if not job.status.is_terminal:
            raise CommandError(f"batch {batch_id} is {job.status.value}; its results come once it has ended")
        if not job.output_file_id and not job.error_file_id:
            raise CommandError(f"batch {batch_id} ({job.status.value}) has no output or error file")
        # Named after the id asked for, never the one in the answer: a server's id is not a path.
        stem = _file_stem(batch_id)
        for file_id, path, what in (
            (job.output_file_id, args.output or Path(f"{stem}_output.jsonl"), "output"),
            (job.error_file_id, args.errors or Path(f"{stem}_errors.jsonl"), "errors"),
        ):
            if file_id:
                try:
                    await client.download_file_to(file_id, path)
                except OSError as exc:
                    raise CommandError(f"cannot write {what} to {path}: {exc.strerror or exc}") from None
                lines = await asyncio.to_thread(_count_lines, path)
                print(f"{what}: {lines} lines -> {path}")
    return 0


def _file_stem(batch_id: str) -> str:
    """A batch id as the start of a file name on any system: only ``[A-Za-z0-9._-]``, no
    leading dot, at most 100 characters."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in batch_id)
    return safe.lstrip(".")[:100] or "batch"


def _count_lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
