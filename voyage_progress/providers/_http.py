"""What every provider's client does over HTTP, whatever the API: send a request and retry what
is safe to retry, keep within the request budget, read answers within bounds, sort failures
into typed errors, keep the key out of everything, and create without creating twice.

The key is sent in a header and nowhere else. Wherever it comes back, as is or escaped the way
a library quotes it (a body, a reason phrase, a broken status line, a JSON string, a URL), it is
replaced before anyone sees it: a proxy or a server that echoes the header must not put the key
into errors, logs, OSC or files. A key that could not be sent as one header line (a line break
from a key file of two lines) is refused before anything is sent.

Every answer is read as a stream: a JSON answer is given up past ``max_response_bytes``
(counted decompressed, so a compression bomb stops early too) and the whole request, answer
included, past ``timeout`` seconds; both are retried like a broken connection. Files are
streamed to disk (``save``).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
import re
import urllib.parse
import uuid
import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from .._defaults import API_KEY_ENV, MAX_RESPONSE_BYTES
from .._version import __version__
from ..core.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidAPIKeyError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
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
#: What a download writes to disk at a time (and so holds in memory at most).
_WRITE_CHUNK = 1024 * 1024
#: The encodings asked for, and decoded here a bounded step at a time (``_decoded``).
_ACCEPT_ENCODING = "gzip, deflate"
_DECODE_STEP = 64 * 1024


class HttpAPI:
    """One API at ``base_url``, reached with ``headers`` (the key among them, as ``secret``).

    Requests are retried on connection errors, timeouts, 429 and 5xx with exponential backoff
    and full jitter; a create is retried only when it certainly did not happen, or after checking
    that it did not. With ``max_requests_per_second``, no window of a second ever holds more
    requests than that, retries included. ``timeout`` bounds each attempt as a whole (a file
    download: each read); ``max_response_bytes`` bounds each JSON answer, decompressed. ``sleep``
    is how it waits between attempts.
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
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        checked_key(secret)
        self.base_url = base_url
        self.timeout = timeout
        self.retry_policy = retry_policy
        self.max_response_bytes = max_response_bytes
        self.budget = RequestBudget(max_requests_per_second) if max_requests_per_second else None
        self.sleep = sleep
        forms = _secret_forms(secret)
        pattern = "|".join(re.escape(form) for form in forms) or r"(?!)"
        self._secret = re.compile(pattern)
        self._secret_bytes = re.compile(pattern.encode())
        #: The bytes a streamed download holds back, so that no form of the key is cut in two.
        self._secret_span = max(map(len, forms), default=1) - 1
        self._http = httpx.AsyncClient(
            base_url=base_url + "/",
            headers={
                **headers,
                "User-Agent": f"voyage-progress/{__version__}",
                "Accept-Encoding": _ACCEPT_ENCODING,
            },
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
        where = self.redact(f"{method} /{path}")

        def from_json(content: bytes) -> T:
            return parse(parse_object(content))

        async def read(response: httpx.Response) -> T:
            body = await self._body(response, where, limit=self.max_response_bytes)
            return self._parse(response, body, from_json, where)

        return await self._send(method, path, read, idempotent=idempotent, deadline=self.timeout, **kwargs)

    async def content(self, method: str, path: str) -> bytes:
        """A file's content, in memory, retried as any request; ``save`` keeps memory flat."""
        where = self.redact(f"{method} /{path}")

        async def read(response: httpx.Response) -> bytes:
            limit = None if response.is_success else self.max_response_bytes
            body = await self._body(response, where, limit=limit)
            return self._parse(response, body, lambda content: content, where)

        return await self._send(method, path, read, deadline=None)

    async def save(self, method: str, path: str, target: Path) -> int:
        """Stream the answer to ``target`` and return the bytes written. It is written to a
        temporary file beside ``target`` and renamed over it once whole, so ``target`` never
        holds half a file."""
        where = self.redact(f"{method} /{path}")

        async def write(response: httpx.Response) -> int:
            if not response.is_success:
                body = await self._body(response, where, limit=self.max_response_bytes)
                self._parse(response, body, lambda content: content, where)  # raises
            return await _stream_to_file(response, target, self._redact_bytes, self._secret_span)

        return await self._send(method, path, write, deadline=None)

    async def _send(
        self,
        method: str,
        path: str,
        consume: Callable[[httpx.Response], Awaitable[T]],
        *,
        idempotent: bool = True,
        deadline: float | None,
        **kwargs: Any,
    ) -> T:
        """Send one request and ``consume`` its streamed answer, all within ``deadline`` seconds
        (None: only the timeout of each read); retry what is safe to retry."""
        policy = self.retry_policy
        where = self.redact(f"{method} /{path}")
        for attempt in range(policy.max_retries + 1):
            if self.budget is not None:
                await self.budget.acquire()
            try:
                async with asyncio.timeout(deadline):
                    async with self._http.stream(method, path, **kwargs) as response:
                        return await consume(response)
            except (httpx.TimeoutException, TimeoutError) as exc:
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
            except httpx.DecodingError as exc:
                error, unsent = (
                    APIConnectionError(
                        self.redact(f"undecodable answer from {self.base_url} ({where}): {_describe(exc)}"),
                        method=method,
                        url=self.redact(path),
                    ),
                    False,
                )
            except RateLimitError as exc:
                error, unsent = exc, True
            except (ServerError, MalformedResponseError, ResponseTooLargeError) as exc:
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

    async def _body(self, response: httpx.Response, where: str, *, limit: int | None) -> bytes:
        """The answer's body, decompressed; past ``limit`` bytes it is given up, not read on."""
        chunks: list[bytes] = []
        size = 0
        async with contextlib.aclosing(_decoded(response)) as decoded:
            async for chunk in decoded:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise ResponseTooLargeError(
                        f"the answer to {where} ({response.status_code}) is longer than {limit:,} bytes"
                        + (" once decompressed" if response.headers.get("content-encoding") else "")
                        + "; not read further",
                        method=response.request.method,
                        url=self.redact(response.request.url.path),
                    )
                chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, response: httpx.Response, body: bytes, parse: Callable[[bytes], T], where: str) -> T:
        if response.is_success:
            try:
                return parse(self._redact_bytes(body))
            except ValueError as exc:
                raise MalformedResponseError(
                    f"unexpected answer to {where} ({response.status_code}): {self.redact(str(exc))}",
                    status_code=response.status_code,
                    method=response.request.method,
                    url=self.redact(response.request.url.path),
                ) from None
        status = response.status_code
        detail = _detail(response, body, self.redact)
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
        return self._secret.sub("[redacted]", text)

    def _redact_bytes(self, body: bytes) -> bytes:
        """A body with the key replaced wherever it appears, as is or escaped."""
        return self._secret_bytes.sub(b"[redacted]", body)


RequestErrors = APIConnectionError | APIError


def checked_key(key: str, variable: str = API_KEY_ENV) -> str:
    """The key, if it can be sent as one header line; else the reason, without the key (the
    message names ``variable``, where the key is read from)."""
    for position, char in enumerate(key, start=1):
        if char in "\r\n":
            raise InvalidAPIKeyError("a line break", position, len(key), variable)
        if not char.isascii():
            raise InvalidAPIKeyError("a character that is not ASCII", position, len(key), variable)
        if not char.isprintable():
            raise InvalidAPIKeyError("a control character", position, len(key), variable)
    return key


def _secret_forms(key: str) -> list[str]:
    """Every form in which the key may come back, longest first: as is, and escaped as Python
    (``repr`` of a string or of the header's bytes, as h11 quotes a header it refuses), JSON, a
    URL (percent-encoded, either case of hex digits, ``+`` for a space) or HTML; and each of these
    as a JSON string holds it (with or without ``\\/``), since bodies are redacted before they
    are parsed. No form at all for a key too short to be told from ordinary text."""
    if len(key) < 4:
        return []
    quoted = {urllib.parse.quote(key, safe=""), urllib.parse.quote(key), urllib.parse.quote_plus(key)}
    lower = {re.sub(r"%[0-9A-F]{2}", lambda hexes: hexes.group().lower(), form) for form in quoted}
    forms = {key, repr(key)[1:-1], repr(key.encode())[2:-1], json.dumps(key)[1:-1], html.escape(key)}
    forms |= quoted | lower
    in_json = {json.dumps(form)[1:-1] for form in forms}
    forms |= in_json | {form.replace("/", "\\/") for form in in_json}
    return sorted(forms, key=len, reverse=True)


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


def _detail(response: httpx.Response, content: bytes, redact: Callable[[str], str]) -> str:
    """The server's error text: ``{"detail": ...}`` (Voyage), ``{"error": {"message": ...}}``
    (OpenAI, Anthropic), or the start of the body; redacted before it is cut short, so that no
    piece of the key survives the cut."""
    try:
        body = json.loads(content)
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
        text = _text(response, content) if body is None else str(body)
    text = " ".join(redact(text).split())
    return text[:300] + "…" if len(text) > 300 else text


def _text(response: httpx.Response, content: bytes) -> str:
    try:
        return content.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset no codec knows
        return content.decode("utf-8", errors="replace")


async def _decoded(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body, decompressed at most ``_DECODE_STEP`` bytes at a time. (httpx decompresses
    each piece read from the socket whole: 64 KB of a gzip bomb come out as 64 MB at once, and
    a bomb in two layers of gzip as 64 GB.) An encoding other than those asked for is an
    undecodable answer."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        async for chunk in response.aiter_raw():
            yield chunk
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise httpx.DecodingError(f"an answer in an encoding not asked for ({encoding[:40]!r})")
    wrapped = zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS  # gzip or zlib header
    decompressor = zlib.decompressobj(wrapped)
    started = False
    async for raw in response.aiter_raw():
        data = raw
        while data and not decompressor.eof:
            try:
                out = decompressor.decompress(data, _DECODE_STEP)
            except zlib.error as exc:
                if started or encoding != "deflate":
                    raise httpx.DecodingError(f"a broken {encoding} answer: {exc}") from None
                decompressor = zlib.decompressobj(-zlib.MAX_WBITS)  # deflate without its zlib header
                started = True
                continue
            started = True
            if out:
                yield out
            data = decompressor.unconsumed_tail
    tail = decompressor.flush()
    if tail:
        yield tail


async def _stream_to_file(
    response: httpx.Response, target: Path, redact: Callable[[bytes], bytes], span: int
) -> int:
    """Write the answer's body, redacted, to a temporary file beside ``target``, then rename it
    over ``target``; a failure part-way removes the temporary file and leaves ``target`` as it
    was. The last ``span`` bytes of what was read wait for the next chunk: a key cut in two by
    the chunks is still redacted."""
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    written = 0
    file = await asyncio.to_thread(partial.open, "wb")
    try:
        held: list[bytes] = []
        size = 0
        async with contextlib.aclosing(_decoded(response)) as decoded:
            async for chunk in decoded:
                held.append(chunk)
                size += len(chunk)
                if size >= _WRITE_CHUNK:
                    data = redact(b"".join(held))
                    cut = max(0, len(data) - span)
                    written += await asyncio.to_thread(file.write, data[:cut])
                    held, size = [data[cut:]], 0
        written += await asyncio.to_thread(file.write, redact(b"".join(held)))
        await asyncio.to_thread(file.close)
        await asyncio.to_thread(os.replace, partial, target)
    except BaseException:
        file.close()
        partial.unlink(missing_ok=True)
        raise
    return written
