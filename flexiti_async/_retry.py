"""RetryPolicy: what may be retried, how long to wait, and Retry-After."""

from __future__ import annotations

import email.utils
import enum
import random
import time

import attrs
import httpx

__all__ = ["Delivery", "RetryPolicy", "classify_transport_error", "parse_retry_after"]

# Statuses retried for requests that are safe to resend (GETs, token grants, idempotent POSTs).
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class Delivery(enum.Enum):
    """What a transport failure tells us about whether the server got the request."""

    #: The request provably never left (no connection, no pool slot): always safe to resend.
    NEVER_SENT = "never_sent"
    #: The request may have been received and processed: only safe to resend if idempotent.
    MAYBE_SENT = "maybe_sent"
    #: A local problem (bad URL, protocol misuse): resending cannot help.
    FATAL = "fatal"


def classify_transport_error(exc: httpx.TransportError) -> Delivery:
    """Sort an httpx transport error by what it proves about delivery."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Delivery.NEVER_SENT
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)):
        return Delivery.FATAL
    # ReadTimeout, WriteTimeout, ReadError, WriteError, RemoteProtocolError: some or all of
    # the request went out; the server may have acted on it.
    return Delivery.MAYBE_SENT


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns None for a missing or unparsable header; never negative.

    >>> parse_retry_after("2")
    2.0
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@attrs.define(kw_only=True)
class RetryPolicy:
    """How the client retries.

    * Exponential backoff with full jitter: retry *n* sleeps
      ``uniform(0, min(cap, base * 2 ** (n - 1)))``.
    * ``Retry-After`` (seconds or HTTP-date) is honoured when it is at most ``max_retry_after``;
      a longer requested wait is not retried: the error is raised with ``retry_after`` set, so
      the caller decides (a web request should not sleep for minutes).
    * Requests that are safe to resend (GETs, token grants, ``transactions.create`` with its
      idempotency key) retry on connection errors, timeouts, 429, 500, 502, 503 and 504.
    * State-changing POSTs retry only when the request provably never left (connect error,
      pool timeout) or was refused before processing (429). See `errors.OutcomeUnknownError`.

    ``RetryPolicy(max_retries=0)`` disables retries. Pass ``rng=random.Random(seed)`` for
    reproducible jitter.
    """

    max_retries: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    backoff_base: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    backoff_cap: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    max_retry_after: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    rng: random.Random = attrs.field(factory=random.Random, repr=False, eq=False)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter delay before retry number ``retry_number`` (1-based)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (retry_number - 1)))
        return self.rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0

    def delay(self, retry_number: int, retry_after: float | None) -> float | None:
        """Seconds to sleep before this retry, or None when the server asked for too long."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.backoff(retry_number)

    @staticmethod
    def retryable_status(status: int, *, idempotent: bool) -> bool:
        """Whether an error status may be retried for this kind of request."""
        if status == 429:
            return True  # refused before processing
        return idempotent and status in _RETRY_STATUSES

    @staticmethod
    def retryable_transport(delivery: Delivery, *, idempotent: bool) -> bool:
        """Whether a transport failure may be retried for this kind of request."""
        if delivery is Delivery.FATAL:
            return False
        return delivery is Delivery.NEVER_SENT or idempotent
