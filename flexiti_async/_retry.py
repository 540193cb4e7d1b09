"""RetryPolicy: what may be retried, how long to wait, and Retry-After."""

from __future__ import annotations

import email.utils
import enum
import random
import time

import attrs
import httpx

__all__ = [
    "BLOCKED_STATUSES",
    "Action",
    "Decision",
    "Delivery",
    "Outcome",
    "RetryPolicy",
    "classify_transport_error",
    "parse_retry_after",
]

#: Flexiti's edge "Blocked" statuses (malicious payload, ACL, geo-block): never retried.
BLOCKED_STATUSES = frozenset({465, 466, 467})

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


class Action(enum.Enum):
    """What the attempt loop does after one attempt."""

    #: The answer is the result (a 2xx with a usable body).
    RETURN = "return"
    #: Wait ``Decision.delay`` seconds and try again (counts against ``max_retries``).
    RETRY = "retry"
    #: Drop the refused token and send again at once (the one 401 replay; not a retry).
    REPLAY = "replay"
    #: Stop: raise the error for this outcome.
    RAISE = "raise"


@attrs.frozen(kw_only=True)
class Outcome:
    """What one attempt produced, as far as retrying is concerned (no I/O objects).

    Exactly one of ``status`` (an answer came) and ``delivery`` (a transport failure, or
    `Delivery.FATAL` for any other httpx error) is set.
    """

    status: int | None = None
    delivery: Delivery | None = None
    #: An answer came but its body could not be decoded (bad encoding, a 2xx not JSON).
    broken_body: bool = False
    #: The server's ``Retry-After``, in seconds.
    retry_after: float | None = None
    #: The request carried a bearer token (so a 401 may mean that token was revoked).
    authorized: bool = False
    #: The client was closed under the request: never retried.
    closed: bool = False


@attrs.frozen
class Decision:
    """The attempt loop's next step: an `Action` and, for a retry, the sleep before it."""

    action: Action
    delay: float = 0.0


_RETURN = Decision(Action.RETURN)
_RAISE = Decision(Action.RAISE)
_REPLAY = Decision(Action.REPLAY)


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
    * 465/466/467 (blocked at Flexiti's edge) are never retried.

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
        if status in BLOCKED_STATUSES:
            return False  # Flexiti's edge blocked it: the same request is blocked again
        if status == 429:
            return True  # refused before processing
        return idempotent and status in _RETRY_STATUSES

    def decide(
        self, outcome: Outcome, *, idempotent: bool, retries: int, replayed: bool
    ) -> Decision:
        """The next step after ``outcome``, given the retries (``retries``) and 401 replay
        (``replayed``) already spent. Pure: tests call it without I/O.

        >>> policy = RetryPolicy(max_retries=1, backoff_base=0)
        >>> policy.decide(Outcome(status=503), idempotent=True, retries=0, replayed=False)
        Decision(action=<Action.RETRY: 'retry'>, delay=0.0)
        >>> policy.decide(Outcome(status=503), idempotent=False, retries=0, replayed=False)
        Decision(action=<Action.RAISE: 'raise'>, delay=0.0)
        """
        if outcome.closed:
            return _RAISE  # a retry would only meet the closed client
        budget = retries < self.max_retries
        if outcome.delivery is not None:
            if budget and self.retryable_transport(outcome.delivery, idempotent=idempotent):
                return Decision(Action.RETRY, self.backoff(retries + 1))
            return _RAISE
        if outcome.broken_body:
            # Like a dropped answer after the request was processed: resend only if harmless.
            return (
                Decision(Action.RETRY, self.backoff(retries + 1))
                if idempotent and budget
                else _RAISE
            )
        status = outcome.status
        if status is None or status < 300:
            return _RETURN
        if status == 401 and outcome.authorized and not replayed:
            # The token was revoked or expired early: replay once with a new one. A 401
            # means the request was refused, so even a state-changing POST is safe.
            return _REPLAY
        if budget and self.retryable_status(status, idempotent=idempotent):
            delay = self.delay(retries + 1, outcome.retry_after)
            if delay is not None:
                return Decision(Action.RETRY, delay)
        return _RAISE

    @staticmethod
    def retryable_transport(delivery: Delivery, *, idempotent: bool) -> bool:
        """Whether a transport failure may be retried for this kind of request."""
        if delivery is Delivery.FATAL:
            return False
        return delivery is Delivery.NEVER_SENT or idempotent
