"""RetryPolicy.decide and its helpers: pure functions, called without any I/O."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import format_datetime

import httpx
import pytest

from flexiti_async._retry import (
    Action,
    Decision,
    Delivery,
    Outcome,
    RetryPolicy,
    classify_transport_error,
    parse_retry_after,
)

NO_JITTER = RetryPolicy(max_retries=2, backoff_base=0.0)


def decide(
    outcome: Outcome,
    *,
    idempotent: bool = True,
    retries: int = 0,
    replayed: bool = False,
    policy: RetryPolicy = NO_JITTER,
) -> Decision:
    return policy.decide(outcome, idempotent=idempotent, retries=retries, replayed=replayed)


# ------------------------------------------------------------------ answers


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_a_usable_2xx_is_returned(status: int) -> None:
    assert decide(Outcome(status=status)).action is Action.RETURN


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_for_idempotent_calls(status: int) -> None:
    assert decide(Outcome(status=status)) == Decision(Action.RETRY, 0.0)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_state_changing_post_is_not_retried_on_5xx(status: int) -> None:
    assert decide(Outcome(status=status), idempotent=False).action is Action.RAISE


def test_429_is_retried_even_for_a_state_changing_post() -> None:
    """Refused before processing: resending cannot apply it twice."""
    assert decide(Outcome(status=429), idempotent=False).action is Action.RETRY


@pytest.mark.parametrize("status", [400, 403, 404, 409, 418, 501])
def test_other_error_statuses_are_raised(status: int) -> None:
    assert decide(Outcome(status=status)).action is Action.RAISE


@pytest.mark.parametrize("status", [465, 466, 467])
def test_blocked_statuses_are_never_retried(status: int) -> None:
    assert decide(Outcome(status=status)).action is Action.RAISE


def test_the_retry_budget_is_spent_then_the_error_is_raised() -> None:
    assert decide(Outcome(status=503), retries=1).action is Action.RETRY
    assert decide(Outcome(status=503), retries=2).action is Action.RAISE


def test_retry_after_is_the_delay_up_to_the_cap() -> None:
    policy = RetryPolicy(max_retries=2, max_retry_after=5.0)
    assert decide(Outcome(status=429, retry_after=3.0), policy=policy) == Decision(
        Action.RETRY, 3.0
    )
    # The server asked for longer than the cap: raise (with retry_after) and let the caller
    # decide, rather than sleep for minutes.
    assert decide(Outcome(status=429, retry_after=60.0), policy=policy).action is Action.RAISE


# ------------------------------------------------------------------ the 401 replay


def test_a_401_on_a_request_with_a_token_is_replayed_once() -> None:
    outcome = Outcome(status=401, authorized=True)
    assert decide(outcome, idempotent=False) == Decision(Action.REPLAY)
    assert decide(outcome, replayed=True).action is Action.RAISE


def test_a_401_on_a_token_grant_is_raised() -> None:
    """No bearer token was sent (a grant): there is nothing to replace."""
    assert decide(Outcome(status=401, authorized=False)).action is Action.RAISE


def test_the_replay_does_not_spend_the_retry_budget() -> None:
    assert decide(Outcome(status=401, authorized=True), retries=2).action is Action.REPLAY


# ------------------------------------------------------------------ transport failures


@pytest.mark.parametrize(
    ("delivery", "idempotent", "action"),
    [
        (Delivery.NEVER_SENT, False, Action.RETRY),
        (Delivery.NEVER_SENT, True, Action.RETRY),
        (Delivery.MAYBE_SENT, True, Action.RETRY),
        (Delivery.MAYBE_SENT, False, Action.RAISE),  # never a blind resend of a capture
        (Delivery.FATAL, True, Action.RAISE),
        (Delivery.FATAL, False, Action.RAISE),
    ],
)
def test_transport_failures_by_delivery(
    delivery: Delivery, idempotent: bool, action: Action
) -> None:
    assert decide(Outcome(delivery=delivery), idempotent=idempotent).action is action


def test_nothing_is_retried_once_the_client_is_closed() -> None:
    outcome = Outcome(delivery=Delivery.NEVER_SENT, closed=True)
    assert decide(outcome).action is Action.RAISE


@pytest.mark.parametrize(("idempotent", "action"), [(True, Action.RETRY), (False, Action.RAISE)])
def test_a_broken_body_is_retried_only_when_resending_is_harmless(
    idempotent: bool, action: Action
) -> None:
    assert decide(Outcome(status=200, broken_body=True), idempotent=idempotent).action is action


def test_a_loop_driven_by_decide_is_bounded() -> None:
    """Always 503 with a token: max_retries retries; always 401: one replay, then raise."""
    for status, authorized, expected in ((503, False, 3), (401, True, 2)):
        retries, replayed, attempts = 0, False, 0
        for _ in range(100):
            attempts += 1
            decision = decide(
                Outcome(status=status, authorized=authorized), retries=retries, replayed=replayed
            )
            if decision.action is Action.RETRY:
                retries += 1
            elif decision.action is Action.REPLAY:
                replayed = True
            else:
                break
        assert attempts == expected


# ------------------------------------------------------------------ backoff and helpers


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=3.0, rng=random.Random(7))
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        delays = [policy.backoff(retry) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the range


def test_seeded_jitter_is_reproducible() -> None:
    a = RetryPolicy(rng=random.Random(3))
    b = RetryPolicy(rng=random.Random(3))
    assert [a.backoff(n) for n in range(1, 6)] == [b.backoff(n) for n in range(1, 6)]


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    when = datetime(2030, 1, 1, 0, 0, 30, tzinfo=timezone.utc)
    now = datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp()
    assert parse_retry_after(format_datetime(when, usegmt=True), now=now) == 30.0


@pytest.mark.parametrize(
    ("exc", "delivery"),
    [
        (httpx.ConnectError("x"), Delivery.NEVER_SENT),
        (httpx.ConnectTimeout("x"), Delivery.NEVER_SENT),
        (httpx.PoolTimeout("x"), Delivery.NEVER_SENT),
        (httpx.ReadTimeout("x"), Delivery.MAYBE_SENT),
        (httpx.WriteTimeout("x"), Delivery.MAYBE_SENT),
        (httpx.ReadError("x"), Delivery.MAYBE_SENT),
        (httpx.RemoteProtocolError("x"), Delivery.MAYBE_SENT),
        (httpx.UnsupportedProtocol("x"), Delivery.FATAL),
        (httpx.LocalProtocolError("x"), Delivery.FATAL),
        (httpx.ProxyError("x"), Delivery.FATAL),
    ],
)
def test_transport_errors_are_sorted_by_what_they_prove(
    exc: httpx.TransportError, delivery: Delivery
) -> None:
    assert classify_transport_error(exc) is delivery
