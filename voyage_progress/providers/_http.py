"""What every provider's client does over HTTP, whatever the API: send a request and retry what
is safe to retry, keep within the request budget, sort failures into typed errors, keep the key
out of everything, and create without creating twice.

The key is sent in a header and nowhere else. Wherever it comes back as is (a body, a reason
phrase, a broken status line), it is replaced before anyone sees it: a proxy or a server that
echoes the header must not put the key into errors, logs, OSC or files.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from .._version import __version__
from ..core.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from ._budget import RequestBudget
from .retry import RetryPolicy, parse_retry_after

__all__ = ["HttpAPI", "Sleep", "parse_object", "validated_base_url"]

logger = logging.getLogger("voyage_progress")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

_ERRORS_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}

#: Errors after which a create may or may not have happened on the server.
_AMBIGUOUS = (APIConnectionError, ServerError, MalformedResponseError)
#: The system's error number in front of its words ("[Errno -2] Name or service not known").
_ERROR_NUMBER = re.compile(r"\[(?:Errno|WinError) -?\d+\]\s*")


class HttpAPI:
    """One API at ``base_url``, reached with ``headers`` (the key among them, as ``secret``).

    Requests are retried on connection errors, timeouts, 429 and 5xx with exponential backoff
    and full jitter; a create is retried only when it certainly did not happen, or after checking
    that it did not. With ``max_requests_per_second``, no window of a second ever holds more
    requests than that, retries included. ``sleep`` is how it waits between attempts.
    """

    def __init__(
        self,
        base_url: str,
        *,
        secret: str,
        headers: Mapping[str, str],
        timeout: float,
        retry_policy: RetryPolicy,
        transport: httpx.AsyncBaseTransport | None = None,
        max_requests_per_second: float | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.retry_policy = retry_policy
        self.budget = RequestBudget(max_requests_per_second) if max_requests_per_second else None
        self.sleep = sleep
        self._secret = secret
        self._http = httpx.AsyncClient(
            base_url=base_url + "/",
            headers={**headers, "User-Agent": f"voyage-progress/{__version__}"},
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create(
        self,
        what: str,
        send: Callable[[], Awaitable[T]],
        find: Callable[[], Awaitable[T | None]] | None,
    ) -> T:
        """Send a create; after an answer that leaves it unknown whether it happened, look for
        it (``find``) before sending it again. Without ``find`` such a create is never resent."""
        retries = self.retry_policy.max_retries
        for attempt in range(retries + 1):
            try:
                return await send()
            except _AMBIGUOUS as error:
                if find is None or attempt == retries:
                    raise
                try:
                    found = await find()
                except (APIError, APIConnectionError):
                    raise error from None
                if found is not None:
                    logger.info("%s had succeeded despite the error (%s)", what, error)
                    return found
                delay = self.retry_policy.delay(attempt)
                logger.warning(
                    "%s failed (%s); not found on the server, sending again in %.1f s", what, error, delay
                )
                await self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def request(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[Mapping[str, Any]], T],
        idempotent: bool = True,
        **kwargs: Any,
    ) -> T:
        """Send one request, retrying what is safe to retry; ``parse`` makes the answer's JSON
        object into the caller's (a ``ValueError`` from it means a malformed answer)."""
        return await self._send(
            method, path, lambda content: parse(parse_object(content)), idempotent, kwargs
        )

    async def content(self, method: str, path: str, **kwargs: Any) -> bytes:
        """Send one request, retrying what is safe to retry; the answer's bytes as they came."""
        return await self._send(method, path, lambda content: content, True, kwargs)

    async def _send(
        self,
        method: str,
        path: str,
        parse: Callable[[bytes], T],
        idempotent: bool,
        kwargs: dict[str, Any],
    ) -> T:
        policy = self.retry_policy
        where = self.redact(f"{method} /{path}")
        for attempt in range(policy.max_retries + 1):
            if self.budget is not None:
                await self.budget.acquire()
            try:
                response = await self._http.request(method, path, **kwargs)
                return self._parse(response, parse, where)
            except httpx.TimeoutException as exc:
                error: RequestErrors = APITimeoutError(
                    self.redact(f"{self.base_url} did not answer {where} within {self.timeout:g} s"),
                    method=method,
                    url=self.redact(path),
                )
                unsent = isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            except httpx.TransportError as exc:
                unsent = isinstance(exc, httpx.ConnectError)
                what = "cannot reach" if unsent else "connection broke with"
                error = APIConnectionError(
                    self.redact(f"{what} {self.base_url} ({where}): {_describe(exc)}"),
                    method=method,
                    url=self.redact(path),
                )
            except RateLimitError as exc:
                error, unsent = exc, True
            except (ServerError, MalformedResponseError) as exc:
                error, unsent = exc, False
            retry_after = getattr(error, "retry_after", None)
            if (
                attempt >= policy.max_retries
                or not (idempotent or unsent)
                or (retry_after is not None and retry_after > policy.retry_after_max)
            ):
                raise error
            delay = policy.delay(attempt, retry_after)
            logger.info(
                "retrying %s in %.2f s (attempt %d of %d): %s",
                where,
                delay,
                attempt + 2,
                policy.max_retries + 1,
                error,
            )
            await self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse(self, response: httpx.Response, parse: Callable[[bytes], T], where: str) -> T:
        if response.is_success:
            try:
                return parse(self._redact_bytes(response.content))
            except ValueError as exc:
                raise MalformedResponseError(
                    f"unexpected answer to {where} ({response.status_code}): {self.redact(str(exc))}",
                    status_code=response.status_code,
                    method=response.request.method,
                    url=self.redact(response.request.url.path),
                ) from None
        status = response.status_code
        detail = _detail(response, self.redact)
        message = self.redact(
            f"{status} {response.reason_phrase or 'error'} from {where}" + (f": {detail}" if detail else "")
        )
        cls = _ERRORS_BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
        extra: dict[str, Any] = {}
        if cls is RateLimitError:
            extra["retry_after"] = _retry_after(response.headers)
        raise cls(
            message,
            status_code=status,
            detail=detail or None,
            method=response.request.method,
            url=self.redact(response.request.url.path),
            **extra,
        )

    def redact(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if len(self._secret) >= 4 else text

    def _redact_bytes(self, body: bytes) -> bytes:
        """A body with the key replaced wherever it appears as is (JSON strings included)."""
        secret = self._secret.encode()
        return body.replace(secret, b"[redacted]") if len(secret) >= 4 else body


RequestErrors = APIConnectionError | APIError


def validated_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parsed = httpx.URL(url) if "://" in url else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"invalid base URL {url!r}: expected http(s)://host[:port]/path")
    return url


def parse_object(content: bytes) -> Mapping[str, Any]:
    """A JSON object; ``ValueError`` for anything else."""
    try:
        body = json.loads(content)  # ValueError on malformed JSON
    except RecursionError:  # arrays or objects nested thousands deep
        raise ValueError("the answer nests too deep to read") from None
    if not isinstance(body, Mapping):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _retry_after(headers: httpx.Headers) -> float | None:
    """The wait a 429 asks for: OpenAI and Anthropic also send ``retry-after-ms``, which is finer
    than the whole seconds of ``Retry-After`` (their SDKs read it first too)."""
    try:
        milliseconds = float(headers.get("retry-after-ms", ""))
    except ValueError:
        return parse_retry_after(headers.get("retry-after"))
    if not 0 <= milliseconds < float("inf"):
        return parse_retry_after(headers.get("retry-after"))
    return milliseconds / 1000.0


def _describe(exc: BaseException) -> str:
    text = _ERROR_NUMBER.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _detail(response: httpx.Response, redact: Callable[[str], str]) -> str:
    """The server's error text: ``{"detail": ...}`` (Voyage), ``{"error": {"message": ...}}``
    (OpenAI, Anthropic), or the start of the body; redacted before it is cut short, so that no
    piece of the key survives the cut."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):  # validation errors: [{"msg": ...}, ...]
            detail = "; ".join(str(d.get("msg", d)) if isinstance(d, Mapping) else str(d) for d in detail)
        text = str(detail)
    elif isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        text = str(body["error"].get("message", ""))
    else:
        text = response.text if body is None else str(body)
    text = " ".join(redact(text).split())
    return text[:300] + "…" if len(text) > 300 else text
