"""Every default in one place, so the code, the CLI help and the documentation agree."""

from __future__ import annotations

#: The provider the command line watches (``voyage_progress.providers.PROVIDERS``).
DEFAULT_PROVIDER = "voyage"
DEFAULT_BASE_URL = "https://api.voyageai.com/v1"
API_KEY_ENV = "VOYAGE_API_KEY"
BASE_URL_ENV = "VOYAGE_BASE_URL"

#: Seconds a single HTTP request may take before it counts as failed: the whole of it, from
#: sending to the last byte of the answer (a server that drips its answer a byte at a time
#: never trips a timeout per read).
DEFAULT_TIMEOUT = 30.0
#: The most bytes (decompressed) read of one JSON answer: a page of a hundred batches is well
#: under a megabyte, and a server sending more is broken or hostile. File downloads are not
#: held in memory but streamed to disk (``download_file_to``), so they have no such limit.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: The longest a server's ``Retry-After`` is believed (an hour): a larger one (``99999999999``,
#: a date in the year 9999) is a broken server, not a reason to stop asking for good.
MAX_RETRY_AFTER = 3600.0
#: Retries of one request after its first attempt (connection errors, timeouts, 429, 5xx).
DEFAULT_MAX_RETRIES = 4
#: The most API requests the command line sends in any second, retries included: the key is
#: shared with whatever submits the batches, and a sidecar must not be what trips its limit.
DEFAULT_MAX_REQUESTS_PER_SECOND = 5.0

#: The spec's defaults for the progress API.
DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_MAX_WAIT = 43200.0
#: Consecutive failed polls (each already retried by the client) before a stream gives up.
DEFAULT_MAX_POLL_FAILURES = 5

#: Voyage's completion window: a batch not finished this long after its creation expires.
COMPLETION_WINDOW_HOURS = 12
COMPLETION_WINDOW = f"{COMPLETION_WINDOW_HOURS}h"
DEFAULT_ENDPOINT = "/v1/embeddings"
DEFAULT_MODEL = "voyage-3.5"

#: Metadata key the client adds to a batch it creates, so that a create whose answer was lost
#: can be found again instead of blindly sent twice.
IDEMPOTENCY_METADATA_KEY = "voyage_progress_request"

#: OSC output and control input.
DEFAULT_OSC_HOST = "127.0.0.1"
DEFAULT_OSC_PORT = 7450
DEFAULT_CONTROL_HOST = "127.0.0.1"
DEFAULT_CONTROL_PORT = 7451
DEFAULT_OSC_PREFIX = "/voyage"
#: The largest OSC datagram sent or read: what any receiver's buffer takes whole, far below the
#: 65,507 bytes UDP allows (a bigger bundle fails to send with "Message too long").
MAX_DATAGRAM = 8192
#: The most batches a sidecar watches: a watch sent to the control port beyond it is refused
#: (and said on OSC). The scale measured to hold (docs/SIDECAR.md, benchmarks/scale.py).
MAX_WATCHED_BATCHES = 10_000
#: Cancels sent to the control port that may wait for the API at once; more are refused. Each
#: takes a place in the request budget, and polling must keep most of it.
MAX_CANCELS_IN_FLIGHT = 4

#: The HTTP server (OSCQuery, the JSON stream, the dashboard): on loopback, on the port next to
#: the OSC ones (docs/SIDECAR.md, "Why ports 7450 and 7451"), so a show's firewall rule can name
#: one small range. When this default port is taken, the sidecar says so and runs without HTTP
#: rather than not at all: OSC is the show, the dashboard an extra. A port given with --http
#: must be free.
DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 7452

#: The local simulator.
DEFAULT_SIMULATOR_HOST = "127.0.0.1"
DEFAULT_SIMULATOR_PORT = 8765

#: The other providers, each as its official SDK reads the environment: OpenAI's base URL ends
#: in ``/v1``, Anthropic's does not.
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
OPENAI_BASE_URL_ENV = "OPENAI_BASE_URL"
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_API_KEY_ENV = "ANTHROPIC_API_KEY"
ANTHROPIC_BASE_URL_ENV = "ANTHROPIC_BASE_URL"
#: The version of the Messages API this package reads (the ``anthropic-version`` header).
ANTHROPIC_VERSION = "2023-06-01"

#: Each provider's request budget for the command line, under its documented limits with room
#: left for whatever submits the batches on the same key. Anthropic allows 50 requests a
#: minute to all Message Batches endpoints at its lowest tier: 0.5/s is 30 of them. OpenAI
#: publishes no limit for reading batches (its limits are per model, per organisation).
MAX_REQUESTS_PER_SECOND = {"voyage": DEFAULT_MAX_REQUESTS_PER_SECOND, "openai": 5.0, "anthropic": 0.5}
