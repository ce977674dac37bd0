"""Any JSON as a batch object: the parser raises ``MalformedObjectError`` and nothing else, and an
object with a valid id goes all the way (the watcher's judgement, the progress event, the OSC
bundle, the JSON the command line prints) without raising."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_watcher import Clock, make_watcher
from voyage_progress import BatchJob, BatchStatus, MalformedObjectError
from voyage_progress._defaults import MAX_DATAGRAM
from voyage_progress.core.frame import Summary
from voyage_progress.core.models import _BATCH_FIELDS
from voyage_progress.core.text import is_batch_id
from voyage_progress.outputs.osc._codec import encode_bundle
from voyage_progress.outputs.osc._messages import batch_messages, summary_messages

#: Values that broke the parser once, or are near something that did.
TRICKY: list[Any] = [
    "inf",
    "-inf",
    "nan",
    "1e400",
    "9" * 400,
    int("9" * 400),
    -(2**63),
    2**31,
    1.5,
    -0.0,
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-02-30T00:00:00Z",
    -(10**20),
    10**20,
    "",
    "\x1b]52;c;eA==\x07",
    "[/]",
    "\ud800",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),  # what json.loads gives without NaN
    st.text(max_size=30),
    st.sampled_from(TRICKY),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=8,
)
statuses = st.one_of(st.sampled_from([status.value for status in BatchStatus]), json_values)
counts = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("total", "completed", "failed"), st.one_of(st.integers(0, 100), json_values))
)
errors = st.fixed_dictionaries(
    {
        "data": st.lists(
            st.fixed_dictionaries(
                {}, optional=dict.fromkeys(("code", "message", "line", "param"), json_values)
            )
        )
    }
)
ids = st.one_of(json_values, st.from_regex(r"[A-Za-z0-9_-]{1,128}", fullmatch=True))
batch_objects = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(_BATCH_FIELDS, scalars),
        "id": ids,
        "status": statuses,
        "request_counts": st.one_of(counts, json_values),
        "errors": st.one_of(errors, json_values),
        "metadata": st.one_of(st.dictionaries(st.text(max_size=10), json_values, max_size=4), json_values),
    },
)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.one_of(json_values, batch_objects))
def test_any_json_parses_or_raises_only_the_parse_error(data: Any) -> None:
    raw_id = data.get("id") if isinstance(data, dict) else None
    has_an_id = raw_id not in (None, "") and is_batch_id(raw_id if isinstance(raw_id, str) else str(raw_id))
    try:
        BatchJob.from_dict(data)
    except MalformedObjectError:
        assert not has_an_id
    else:
        assert has_an_id


@FUZZ
@given(batch_objects, st.from_regex(r"[A-Za-z0-9_-]{1,128}", fullmatch=True))
def test_a_batch_object_with_an_id_goes_all_the_way(data: dict[str, Any], batch_id: str) -> None:
    job = BatchJob.from_dict({**data, "id": batch_id})
    assert job.id == batch_id
    counts = job.request_counts
    assert all(0 <= n <= 2**31 - 1 for n in (counts.total, counts.completed, counts.failed))
    json.dumps(job.to_dict())

    watcher, _ = make_watcher(None, Clock())  # type: ignore[arg-type]  # nothing here polls
    batch = watcher.watch(batch_id)
    for _ in range(2):  # a first answer, and the same again judged against it
        watcher._apply_answer(batch, job)  # the inner step: the guard around it must not be needed
    snapshot = batch.snapshot()
    summary = Summary.of([snapshot])
    bundle = encode_bundle(batch_messages("/voyage", snapshot, 0.0) + summary_messages("/voyage", summary))
    assert len(bundle) <= MAX_DATAGRAM
