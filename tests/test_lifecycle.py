"""Lifecycle and cancellation over real loopback sockets.

Cancelling callers anywhere (waiting for a token, waiting for admission, mid-request,
mid-paging) never deadlocks the token manager and never leaks an admission slot, a pooled
connection or a background task; `aclose()` while requests are in flight ends each of them
with a `FlexitiError` that says the client was closed; a closed client says so.

Counts and states only: `anyio.fail_after` guards against hangs, nothing is timed.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from functools import partial
from typing import Any

import anyio
import pytest

from flexiti_async import FlexitiClient, RetryPolicy, errors
from flexiti_async._transports._pool import AdmittedConnectionPool
from flexiti_async.models import FinancingOption, TransactionType
from flexiti_async.testing import Fault, FlexitiSandbox, SandboxClock

pytestmark = pytest.mark.anyio

HANG_GUARD = 20  # seconds; a deadlock fails the test instead of hanging it


@pytest.fixture
def sandbox() -> FlexitiSandbox:
    # Not strict: these tests drive the client's lifecycle with bare online authorizations
    # (no widget session first); the sandbox's fidelity has its own tests.
    return FlexitiSandbox(seed=11, clock=SandboxClock(frozen=True), strict=False)


@pytest.fixture
async def served(sandbox: FlexitiSandbox) -> AsyncIterator[str]:
    async with sandbox.serve() as base_url:
        yield base_url


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest, anyio_backend: Any) -> str:
    if request.param == "aiohttp" and anyio_backend[0] != "asyncio":
        pytest.skip("the aiohttp transport is asyncio-only")
    return str(request.param)


def make_client(
    sandbox: FlexitiSandbox, base_url: str, transport: str = "httpx", **kw: Any
) -> FlexitiClient:
    kw.setdefault("retry_policy", RetryPolicy(max_retries=2, backoff_base=0.0))
    return FlexitiClient(
        sandbox.client_id,
        sandbox.client_secret,
        base_url=base_url,
        transport=transport,  # type: ignore[arg-type]
        clock=lambda: sandbox.clock.now().timestamp(),
        **kw,
    )


async def until(predicate: Callable[[], bool]) -> None:
    """Wait for a state (bounded: a hang fails the test)."""
    with anyio.fail_after(HANG_GUARD):
        while not predicate():
            await anyio.sleep(0.005)


def busy_connections(flexiti: FlexitiClient) -> int:
    """Connections checked out of the pool (neither idle nor closed)."""
    pool = getattr(flexiti._family.http._transport, "_pool", None)
    if pool is None:  # aiohttp transport
        return 0
    if isinstance(pool, AdmittedConnectionPool):
        return pool.in_use
    return sum(not (c.is_idle() or c.is_closed()) for c in pool.connections) + len(pool._requests)


async def assert_settled(flexiti: FlexitiClient, sandbox: FlexitiSandbox) -> None:
    """Nothing borrowed, checked out, in flight or running in the background."""
    family = flexiti._family
    # Background prefetches end at their next checkpoint once cancelled.
    await until(lambda: not family.background)
    assert family.limiter.borrowed_tokens == 0
    assert busy_connections(flexiti) == 0
    for manager in family.managers.values():
        assert manager._flight is None  # no fetch left "in progress" for waiters to hang on
    # The server finishes what it was still sleeping on (latency faults) by itself.
    await until(lambda: sandbox.stats.in_flight == 0 and sandbox.stats.in_flight_token == 0)


async def authorize(flexiti: FlexitiClient, account: int, amount: str = "500.00") -> int:
    auth = await flexiti.authorizations.create(
        account_number=account,
        amount=Decimal(amount),
        financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
        reference="LIFECYCLE-1",
    )
    return auth.authorization_id


# --------------------------------------------------------------------------- cancellation


async def test_cancel_while_waiting_for_the_token(sandbox: FlexitiSandbox, served: str) -> None:
    account = sandbox.find_account(status="N").account_number
    sandbox.faults.add(route="token", fault=Fault.latency(1.0), times=1)
    async with make_client(sandbox, served, max_concurrency=4) as flexiti:
        done = 0

        async def call() -> None:
            nonlocal done
            await flexiti.customers.lookup(account_number=account)
            done += 1

        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                for _ in range(20):  # 4 admitted and waiting on the fetch, 16 in line
                    tg.start_soon(call)
                await until(lambda: sandbox.stats.in_flight_token == 1)
                tg.cancel_scope.cancel()
        assert done == 0
        assert flexiti.token_manager.current is None
        await assert_settled(flexiti, sandbox)
        with anyio.fail_after(HANG_GUARD):
            profile = await flexiti.customers.lookup(account_number=account)
        assert profile.account_number == account
        await assert_settled(flexiti, sandbox)
    assert sandbox.stats.count("lookup", 200) == 1


async def test_cancelled_refresher_hands_over_to_a_waiter(
    sandbox: FlexitiSandbox, served: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    sandbox.faults.add(route="token", fault=Fault.latency(1.0), times=1)
    async with make_client(sandbox, served, max_concurrency=8) as flexiti:
        manager = flexiti.token_manager
        results: list[str] = []

        async def waiter() -> None:
            await flexiti.customers.lookup(account_number=account)
            results.append("ok")

        leader = anyio.CancelScope()

        async def lead() -> None:
            with leader:
                await flexiti.customers.lookup(account_number=account)
                results.append("leader served")  # must not happen: it is cancelled

        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lead)
                await until(lambda: sandbox.stats.in_flight_token == 1)
                flight = manager._flight
                assert flight is not None
                for _ in range(5):
                    tg.start_soon(waiter)
                # Every waiter is parked on the leader's flight before it is cancelled.
                await until(lambda: flight.done.statistics().tasks_waiting == 5)
                leader.cancel()
        assert leader.cancelled_caught
        # The leader was cancelled; one waiter fetched again; all five got an answer.
        assert results == ["ok"] * 5
        assert manager.grants["client_credentials"] == 2
        await assert_settled(flexiti, sandbox)
    # The cancelled grant still completed on the server: two tokens issued, no more.
    assert sandbox.stats.token_grants["client_credentials"] == 2


async def test_cancelled_soft_window_refresh_keeps_everyone_served(
    sandbox: FlexitiSandbox, served: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    async with make_client(sandbox, served, max_concurrency=8) as flexiti:
        await flexiti.customers.lookup(account_number=account)
        sandbox.clock.advance(1200 - 30)  # inside the 60 s refresh window
        # Long enough that the lookups below finish while the refresh is still pending.
        sandbox.faults.add(route="token", fault=Fault.latency(3.0), times=1)
        manager = flexiti.token_manager
        with anyio.fail_after(HANG_GUARD):
            # The first caller in the window starts the refresh in the client's task group;
            # it and everyone after it are served at once with the still-valid token.
            for _ in range(6):
                await flexiti.customers.lookup(account_number=account)
            await until(lambda: sandbox.stats.in_flight_token == 1)
            assert manager._flight is not None
            # The refresh is cancelled (as aclose() would): nobody is left waiting on it.
            for scope in list(flexiti._family.background):
                scope.cancel()
            await until(lambda: manager._flight is None)
            # The next caller in the window refreshes again (once), and is served.
            await flexiti.customers.lookup(account_number=account)
            await until(lambda: manager._flight is None)
        assert manager.grants["refresh_token"] == 2
        await assert_settled(flexiti, sandbox)
    assert sandbox.stats.count("lookup", 200) == 8


async def test_cancel_mid_request_frees_slot_and_connection(
    sandbox: FlexitiSandbox, served: str, transport: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    async with make_client(sandbox, served, transport, max_concurrency=4) as flexiti:
        auth_id = await authorize(flexiti, account)
        sandbox.faults.add(route="lookup", fault=Fault.latency(1.0))
        sandbox.faults.add(route="capture", fault=Fault.latency(1.0))
        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                for i in range(12):
                    if i % 3:
                        tg.start_soon(partial(flexiti.customers.lookup, account_number=account))
                    else:
                        tg.start_soon(
                            partial_capture(flexiti, auth_id, Decimal("1.00"), f"CAP-{i}")
                        )
                await until(lambda: sandbox.stats.in_flight == 4)  # 4 on the wire, 8 in line
                assert flexiti._family.limiter.borrowed_tokens == 4
                tg.cancel_scope.cancel()
        sandbox.faults.clear()
        await assert_settled(flexiti, sandbox)
        with anyio.fail_after(HANG_GUARD):
            await flexiti.customers.lookup(account_number=account)
        await assert_settled(flexiti, sandbox)


def partial_capture(
    flexiti: FlexitiClient, auth_id: int, amount: Decimal, reference: str
) -> Callable[[], Any]:
    async def run() -> None:
        await flexiti.authorizations.capture(auth_id, amount=amount, reference=reference)

    return run


@pytest.mark.parametrize("seed", range(4))
async def test_random_cancellation_never_deadlocks_or_leaks(
    sandbox: FlexitiSandbox, served: str, seed: int
) -> None:
    """Callers of every kind cancelled at random points: while a token is fetched, while
    waiting for admission, mid-request, mid-paging. After each round the next call works."""
    rng = random.Random(seed)
    account = sandbox.find_account(status="N").account_number
    sandbox.seed_history(days=3, stores=1, per_day=20, seed=seed)
    async with make_client(sandbox, served, max_concurrency=4) as flexiti:
        auth_id = await authorize(flexiti, account, "900.00")
        manager = flexiti.token_manager
        started = finished = 0
        for round_number in range(5):
            if rng.random() < 0.5 and manager.current is not None:
                await manager.invalidate(manager.current)  # this round starts with a fetch
            for route in ("token", "lookup", "list_authorizations", "capture"):
                if rng.random() < 0.6:
                    delay = rng.uniform(0.01, 0.3)
                    sandbox.faults.add(route=route, fault=Fault.latency(delay))

            async def caller(kind: str, n: int, round_number: int = round_number) -> None:
                nonlocal finished
                if kind == "lookup":
                    await flexiti.customers.lookup(account_number=account)
                elif kind == "capture":
                    ref = f"R{seed}-{round_number}-{n}"
                    await flexiti.authorizations.capture(
                        auth_id, amount=Decimal("0.01"), reference=ref
                    )
                else:
                    async for _ in flexiti.authorizations.list(page_size=3, max_items=30):
                        pass
                finished += 1

            with anyio.fail_after(HANG_GUARD):
                async with anyio.create_task_group() as tg:
                    for n in range(rng.randint(2, 16)):
                        started += 1
                        tg.start_soon(caller, rng.choice(("lookup", "capture", "list")), n)
                    await anyio.sleep(rng.uniform(0.0, 0.25))  # a random point to cancel at
                    tg.cancel_scope.cancel()
            sandbox.faults.clear()
            await assert_settled(flexiti, sandbox)
            with anyio.fail_after(HANG_GUARD):
                profile = await flexiti.customers.lookup(account_number=account)
            assert profile.account_number == account
            await assert_settled(flexiti, sandbox)
        assert finished < started  # callers really were cut off along the way


async def test_revocations_while_callers_queue_cost_only_the_requests_on_the_wire(
    sandbox: FlexitiSandbox, served: str
) -> None:
    """Callers waiting for admission take the token when admitted, not before: a token
    revoked while they wait is never sent by them. (When the token was taken before the
    wait, every queued caller spent its single 401 replay on the dead token, and a second
    revocation while the queue drained failed them all with AuthenticationError.)"""
    account = sandbox.find_account(status="N").account_number
    sandbox.faults.add(route="lookup", fault=Fault.latency(0.01))
    async with make_client(sandbox, served, max_concurrency=2) as flexiti:
        await flexiti.customers.lookup(account_number=account)
        outcomes: list[str] = []

        async def call() -> None:
            try:
                await flexiti.customers.lookup(account_number=account)
            except errors.FlexitiError as exc:
                outcomes.append(type(exc).__name__)
            else:
                outcomes.append("ok")

        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                for _ in range(40):
                    tg.start_soon(call)
                await until(lambda: sandbox.stats.in_flight == 2)
                sandbox.revoke_tokens()  # 2 on the wire, 38 in line
                await until(lambda: sandbox.stats.count("lookup", 200) >= 6)
                sandbox.revoke_tokens()  # again, while most of the line still waits
        assert outcomes == ["ok"] * 40
        # Only requests on the wire at a revocation met it (at most 2 each time).
        assert sandbox.stats.count("lookup", 401) <= 4
        assert sandbox.stats.token_grants["client_credentials"] == 3
        await assert_settled(flexiti, sandbox)


# --------------------------------------------------------------------------- paging


async def test_paginator_cancelled_mid_iteration_leaves_nothing_running(
    sandbox: FlexitiSandbox, served: str
) -> None:
    sandbox.seed_history(days=2, stores=1, per_day=30, seed=3)
    async with make_client(sandbox, served) as flexiti:
        baseline = {task.id for task in anyio.get_running_tasks()}
        paginator = flexiti.authorizations.list(page_size=5, prefetch=1)
        seen = 0
        consumer = anyio.CancelScope()

        async def consume() -> None:
            nonlocal seen
            with consumer:
                async for _auth in paginator:
                    seen += 1
                    if seen == 1:
                        # Page 2 is prefetched in the client's task group once this item is
                        # handed out: make it hang, so the consumer ends up waiting for it.
                        sandbox.faults.add(route="list_authorizations", fault=Fault.latency(1.0))

        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                # Page 1 consumed; the consumer waits for page 2, which is on the wire.
                await until(lambda: seen == 5 and sandbox.stats.in_flight == 1)
                assert paginator.stats.in_flight == 1
                consumer.cancel()
            await until(lambda: paginator.stats.in_flight == 0)
        assert consumer.cancelled_caught
        assert seen == 5
        # The prefetch was cancelled with the consumer, not left to finish: page 2 was
        # neither delivered nor fetched-and-dropped.
        assert paginator.stats.pages_fetched == 1
        assert paginator.stats.pages_dropped == 0
        assert not flexiti._family.background
        assert flexiti._family.limiter.borrowed_tokens == 0
        sandbox.faults.clear()
        await assert_settled(flexiti, sandbox)
        await until(lambda: not [t for t in anyio.get_running_tasks() if t.id not in baseline])
        # The client is still fully usable.
        page = await flexiti.authorizations.list(page_size=5)
        assert len(page.items) == 5
        await assert_settled(flexiti, sandbox)


async def test_paginator_prefetching_block_cancelled_leaves_nothing_running(
    sandbox: FlexitiSandbox, served: str
) -> None:
    sandbox.seed_history(days=2, stores=1, per_day=30, seed=4)
    async with make_client(sandbox, served) as flexiti:
        baseline = {task.id for task in anyio.get_running_tasks()}
        paginator = flexiti.captures.list(page_size=4, prefetch=2)
        seen = 0
        with anyio.fail_after(HANG_GUARD):
            with anyio.CancelScope() as consumer:
                async with paginator.prefetching() as items:
                    async for _capture in items:
                        seen += 1
                        if seen == 1:
                            sandbox.faults.add(route="list_captures", fault=Fault.latency(1.0))
                            await until(lambda: sandbox.stats.in_flight >= 1)
                            consumer.cancel()
                            await anyio.sleep_forever()
        assert seen == 1
        await until(lambda: paginator.stats.in_flight == 0)
        sandbox.faults.clear()
        await assert_settled(flexiti, sandbox)
        await until(lambda: not [t for t in anyio.get_running_tasks() if t.id not in baseline])


# --------------------------------------------------------------------------- aclose


@pytest.mark.parametrize("closer", ["nested-scope", "other-task"])
async def test_aclose_during_in_flight_requests_ends_them_clearly(
    sandbox: FlexitiSandbox, served: str, transport: str, closer: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    outcomes: dict[int, BaseException | str] = {}
    after_close: list[str] = []
    flexiti = make_client(sandbox, served, transport, max_concurrency=2)
    async with flexiti:
        auth_id = await authorize(flexiti, account)
        sandbox.faults.add(route="lookup", fault=Fault.latency(1.0))
        sandbox.faults.add(route="capture", fault=Fault.latency(1.0))

        async def call(i: int) -> None:
            try:
                if i % 2:
                    await flexiti.customers.lookup(account_number=account)
                else:
                    await flexiti.authorizations.capture(
                        auth_id, amount=Decimal("1.00"), reference=f"CLOSE-{i}"
                    )
            except Exception as exc:  # everything is inspected below
                outcomes[i] = exc
            else:
                outcomes[i] = "ok"

        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                for i in range(6):  # 2 on the wire, 4 waiting for admission
                    tg.start_soon(call, i)
                await until(lambda: sandbox.stats.in_flight == 2)
                if closer == "other-task":
                    tg.start_soon(flexiti.aclose)
                else:
                    await flexiti.aclose()
            # The block goes on: closing did not cancel the caller's own code.
            await anyio.sleep(0)
            after_close.append("reached")
        assert flexiti.is_closed
    assert after_close == ["reached"]
    assert sorted(outcomes) == list(range(6))
    in_flight = waiting = 0
    for i, outcome in outcomes.items():
        assert isinstance(outcome, errors.FlexitiError), f"call {i}: {outcome!r}"
        assert "closed" in str(outcome), str(outcome)
        if isinstance(outcome, errors.OutcomeUnknownError):
            # A capture that was on the wire may have been applied: never claim otherwise.
            assert i % 2 == 0
            in_flight += 1
        else:
            assert isinstance(outcome, errors.ClientClosedError), repr(outcome)
            in_flight += "in flight" in str(outcome)
            waiting += "waited for a connection" in str(outcome)
    assert in_flight == 2
    assert waiting == 4
    pool = getattr(flexiti._family.http._transport, "_pool", None)
    assert pool is None or pool.connections == []
    assert flexiti._family.limiter.borrowed_tokens == 0
    assert flexiti._family.task_group is None


async def test_aclose_during_a_token_fetch_fails_the_waiters_clearly(
    sandbox: FlexitiSandbox, served: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    sandbox.faults.add(route="token", fault=Fault.latency(1.0), times=1)
    outcomes: list[BaseException] = []
    async with make_client(sandbox, served, max_concurrency=4) as flexiti:

        async def call() -> None:
            try:
                await flexiti.customers.lookup(account_number=account)
            except Exception as exc:
                outcomes.append(exc)

        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(call)
                await until(lambda: sandbox.stats.in_flight_token == 1)
                tg.start_soon(flexiti.aclose)
    assert len(outcomes) == 8
    for exc in outcomes:
        assert isinstance(exc, errors.ClientClosedError), repr(exc)
        assert "closed" in str(exc)
    assert flexiti.token_manager._flight is None


async def test_closed_client_raises_client_closed_error(
    sandbox: FlexitiSandbox, served: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    flexiti = make_client(sandbox, served)
    async with flexiti:
        await flexiti.customers.lookup(account_number=account)
        paginator = flexiti.authorizations.list(page_size=5)  # made before the close
    derived = flexiti.with_options(scope="merchant", max_retries=0)
    assert flexiti.is_closed
    assert derived.is_closed
    requests_before = sandbox.stats.total_requests
    with pytest.raises(errors.ClientClosedError):
        await flexiti.customers.lookup(account_number=account)
    with pytest.raises(errors.ClientClosedError):
        await derived.customers.lookup(account_number=account)
    with pytest.raises(errors.ClientClosedError):
        await flexiti.authorizations.capture(1, amount=Decimal("1.00"))
    with pytest.raises(errors.ClientClosedError):
        await paginator
    with pytest.raises(errors.ClientClosedError):
        async for _ in paginator:
            pass
    with pytest.raises(errors.ClientClosedError):
        async for _ in flexiti.captures.list(page_size=5):
            pass
    with pytest.raises(errors.ClientClosedError):
        async with flexiti:
            pass
    await flexiti.aclose()  # idempotent
    assert sandbox.stats.total_requests == requests_before  # nothing was sent
