from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

import pytest

from voyage_progress import BatchJob, BatchStatus, FileObject, RequestCounts
from voyage_progress.core.models import PHASES, format_timestamp, parse_timestamp

API_FIELD_ORDER = [
    "id",
    "object",
    "endpoint",
    "errors",
    "input_file_id",
    "completion_window",
    "model",
    "status",
    "output_file_id",
    "error_file_id",
    "request_counts",
    "metadata",
    "created_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expected_completion_at",
    "cancelling_at",
    "cancelled_at",
]


def test_parses_the_documented_batch_list(voyage_responses: dict[str, Any]) -> None:
    completed, cancelled = (BatchJob.from_dict(b) for b in voyage_responses["list_batches"]["data"])

    assert completed.id == "batch-abc123"
    assert completed.status is BatchStatus.COMPLETED
    assert completed.model == "voyage-4-large"
    assert completed.request_counts == RequestCounts(total=2, completed=2, failed=0)
    assert completed.output_file_id == "file-hij789"
    assert completed.error_file_id is None
    assert completed.metadata == {"corpus": "company policies"}
    assert completed.created_at == datetime(2025, 11, 19, 2, 47, 42, 31781, tzinfo=UTC)
    assert completed.completed_at is not None and completed.completed_at.microsecond == 221885
    assert completed.failed_at is None

    assert cancelled.status is BatchStatus.CANCELLED
    assert cancelled.status.is_terminal and not cancelled.status.is_failure
    assert cancelled.cancelling_at is not None and cancelled.cancelled_at is not None
    assert cancelled.request_counts.processed == 2
    assert cancelled.request_counts.fraction == pytest.approx(0.2)


def test_serialises_back_in_the_api_field_order(voyage_responses: dict[str, Any]) -> None:
    raw = voyage_responses["cancelling"]
    job = BatchJob.from_dict(raw)

    assert list(job.to_dict()) == API_FIELD_ORDER
    assert job.to_dict() == raw


def test_parses_the_older_documented_format(voyage_responses: dict[str, Any]) -> None:
    job = BatchJob.from_dict(voyage_responses["in_progress_older_format"])

    assert job.status is BatchStatus.IN_PROGRESS
    assert job.created_at == datetime(2025, 1, 29, 13, 5, 5, tzinfo=UTC)
    assert job.request_counts.completed == 363
    assert job.model is None  # absent in that format
    assert job.extra["partial_finalizing_at"] is None  # unknown fields are kept, not rejected


def test_reads_older_cancel_spellings() -> None:
    job = BatchJob.from_dict(
        {
            "id": "b",
            "status": "cancelled",
            "canceling_at": "2025-01-01 00:00:00",
            "canceled_at": "2025-01-01 00:01:00",
        }
    )
    assert job.cancelling_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert job.cancelled_at == datetime(2025, 1, 1, 0, 1, tzinfo=UTC)
    assert "canceled_at" not in job.extra


def test_parses_files(voyage_responses: dict[str, Any]) -> None:
    uploaded = FileObject.from_dict(voyage_responses["upload_file"])
    assert (uploaded.id, uploaded.bytes, uploaded.purpose, uploaded.expires_at) == (
        "file_abc123",
        372783,
        "batch",
        None,
    )

    listed = [FileObject.from_dict(f) for f in voyage_responses["list_files"]["data"]]
    assert [f.purpose for f in listed] == ["batch", "batch-output"]
    assert listed[1].expires_at == datetime(2025, 12, 19, 7, 20, 59, 230081, tzinfo=UTC)
    assert (
        FileObject.from_dict(voyage_responses["list_files"]["data"][0]).to_dict()
        == (voyage_responses["list_files"]["data"][0])
    )


def test_tolerates_missing_null_empty_and_mistyped_fields() -> None:
    job = BatchJob.from_dict(
        {
            "id": "batch-x",
            "status": None,
            "error_file_id": "",
            "output_file_id": "",
            "request_counts": {"total": "12", "completed": None, "failed": -3},
            "metadata": None,
            "errors": "oops",
            "created_at": "not a date",
            "in_progress_at": 1732000000,
            "brand_new_field": {"a": 1},
        }
    )

    assert job.status is BatchStatus.UNKNOWN
    assert job.error_file_id is None and job.output_file_id is None
    assert job.request_counts == RequestCounts(total=12, completed=0, failed=0)
    assert job.metadata == {} and job.errors == ()
    assert job.created_at is None
    assert job.in_progress_at == datetime.fromtimestamp(1732000000, tz=UTC)
    assert job.extra == {"brand_new_field": {"a": 1}}


@pytest.mark.parametrize("data", [{}, {"id": ""}, {"id": None}, ["batch-x"], "batch-x"])
def test_rejects_only_objects_without_an_id(data: Any) -> None:
    with pytest.raises(ValueError):
        BatchJob.from_dict(data)


def test_validation_errors_become_one_message() -> None:
    job = BatchJob.from_dict(
        {
            "id": "b",
            "status": "failed",
            "errors": {
                "object": "list",
                "data": [
                    {"code": "invalid_request", "line": 3, "message": "bad input", "param": "body.input"},
                    {"code": "invalid_request", "line": 9, "message": "worse", "param": None},
                ],
            },
        }
    )
    assert job.errors[0].line == 3
    assert job.error_message == "invalid_request (line 3): bad input (+1 more)"


def test_unknown_status_keeps_the_raw_string() -> None:
    status = BatchStatus("paused_for_maintenance")

    assert status.value == "paused_for_maintenance"
    assert str(status) == "paused_for_maintenance" and f"{status}" == "paused_for_maintenance"
    assert not status.is_known and not status.is_terminal
    assert status.phase == PHASES.index(BatchStatus.UNKNOWN)
    assert pickle.loads(pickle.dumps(status)).value == "paused_for_maintenance"
    assert (
        BatchJob.from_dict({"id": "b", "status": "paused_for_maintenance"}).status.value
        == "paused_for_maintenance"
    )


def test_statuses_and_phases() -> None:
    assert [s.value for s in PHASES] == [
        "validating",
        "in_progress",
        "finalizing",
        "completed",
        "failed",
        "cancelling",
        "cancelled",
        "expired",
        "unknown",
    ]
    assert {s for s in BatchStatus if s.is_terminal} == {
        BatchStatus.COMPLETED,
        BatchStatus.FAILED,
        BatchStatus.CANCELLED,
        BatchStatus.EXPIRED,
    }
    assert BatchStatus.EXPIRED.is_failure and BatchStatus.FAILED.is_failure
    assert BatchStatus("expired") is BatchStatus.EXPIRED


def test_timestamps_round_trip_in_the_api_form() -> None:
    text = "2025-11-19T02:46:44.547607+00:00"
    assert format_timestamp(parse_timestamp(text)) == text
    assert parse_timestamp("2025-11-19T04:46:44+02:00") == parse_timestamp("2025-11-19T02:46:44Z")
    assert parse_timestamp(True) is None and parse_timestamp(float("nan")) is None
