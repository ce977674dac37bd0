"""Typed errors. Every message is one readable line and never carries the API key."""

from __future__ import annotations

__all__ = [
    "TRANSIENT_ERRORS",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BatchWaitTimeout",
    "InvalidAPIKeyError",
    "MalformedObjectError",
    "MalformedResponseError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "PollingError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ServerError",
    "VoyageProgressError",
]


class VoyageProgressError(Exception):
    """Base class of every error this package raises on purpose."""


class MissingAPIKeyError(VoyageProgressError):
    """No key for a provider; the message names the variable it is read from."""

    def __init__(self, variable: str = "VOYAGE_API_KEY", provider: str = "Voyage") -> None:
        super().__init__(
            f"no API key for {provider}: set {variable} or pass api_key= "
            f"(the simulator accepts any key, e.g. {variable}=demo)"
        )
        self.variable = variable
        self.provider = provider


class InvalidAPIKeyError(VoyageProgressError, ValueError):
    """A key that cannot be sent as it is: one with a line break, another control character or
    a character that is not ASCII. Refused before anything is sent; the message names the
    problem and where, never the key."""

    def __init__(self, problem: str, position: int, length: int, variable: str = "VOYAGE_API_KEY") -> None:
        super().__init__(
            f"the API key ({variable} or api_key=) has {problem} at character {position} of "
            f"{length}: a key is one line of printable ASCII (was it read from a file of several lines?)"
        )


class APIError(VoyageProgressError):
    """The server answered with an error status. ``detail`` is the server's own text."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.url = url


class BadRequestError(APIError):
    """400: the request itself is wrong (bad parameters, a batch that cannot be cancelled...)."""


class AuthenticationError(APIError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """403: the key is valid but may not do this."""


class NotFoundError(APIError):
    """404: no such batch or file."""


class RateLimitError(APIError):
    """429: too many requests, or too many batches in flight. ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server failed; retried before it reaches you."""


class MalformedResponseError(APIError):
    """The server answered 2xx with a body that is not the JSON we expect."""


class MalformedObjectError(VoyageProgressError, ValueError):
    """An API object that cannot be read at all: a batch or file object without a valid id.

    The only error the models' ``from_dict`` raise, whatever JSON they are given. A list page
    leaves such an object out; a single answer of one becomes a ``MalformedResponseError``."""


class APIConnectionError(VoyageProgressError):
    """The server could not be reached, or the connection broke mid-response."""

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's timeout."""


class ResponseTooLargeError(APIConnectionError):
    """An answer longer (once decompressed) than the client reads: a broken or hostile server.
    Retried like a broken connection."""


class PollingError(VoyageProgressError):
    """Polling a batch kept failing for longer than the stream tolerates."""

    def __init__(self, batch_id: str, failures: int, last_error: BaseException) -> None:
        super().__init__(f"batch {batch_id}: {failures} polls in a row failed; last error: {last_error}")
        self.batch_id = batch_id
        self.failures = failures
        self.last_error = last_error


class BatchWaitTimeout(VoyageProgressError, TimeoutError):
    """``max_wait`` elapsed before the batch reached a terminal status."""

    def __init__(self, batch_id: str, max_wait: float, last_status: str | None = None) -> None:
        status = f" (last status: {last_status})" if last_status else ""
        super().__init__(f"batch {batch_id} did not finish within {max_wait:g} s{status}")
        self.batch_id = batch_id
        self.max_wait = max_wait
        self.last_status = last_status


#: Failures that may pass: the same request may well succeed a little later.
TRANSIENT_ERRORS = (APIConnectionError, ServerError, RateLimitError, MalformedResponseError)
