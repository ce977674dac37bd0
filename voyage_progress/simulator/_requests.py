"""Reading a request's parts the way every dialect does, with the error a provider would give."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ._store import ApiProblem

__all__ = ["file_too_large", "int_param", "json_body"]


async def json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise ApiProblem(400, "The request body is not valid JSON.") from None


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiProblem(400, f"{name} must be an integer.") from None
    if not low <= value <= high:
        raise ApiProblem(400, f"{name} must be between {low} and {high}.")
    return value


def file_too_large(max_file_bytes: int) -> ApiProblem:
    return ApiProblem(413, f"The file is too large: at most {max_file_bytes} bytes per file.")
