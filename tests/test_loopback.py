"""The core behaviour over real loopback sockets against the sandbox, on both transports.

Tokens, revocation, retries and the no-blind-resend rule, counted on the server side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from functools import partial
from typing import Any

import anyio
import pytest

from flexiti_async import FlexitiClient, RetryPolicy, errors
from flexiti_async.testing import Fault, FlexitiSandbox, SandboxClock

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest, anyio_backend: Any) -> str:
    if request.param == "aiohttp" and anyio_backend[0] != "asyncio":
        pytest.skip("the aiohttp transport is asyncio-only")
    return str(request.param)


@pytest.fixture
def sandbox() -> FlexitiSandbox:
    # A frozen clock: time moves only when a test advances it, so a slow run cannot push a
    # token past expiry behind the test's back.
    # Not strict: bare online authorizations (no widget session); fidelity has its own tests.
    return FlexitiSandbox(seed=7, clock=SandboxClock(frozen=True), strict=False)


@pytest.fixture
async def served(sandbox: FlexitiSandbox) -> AsyncIterator[str]:
    async with sandbox.serve() as base_url:
        yield base_url


def make_client(sandbox: FlexitiSandbox, base_url: str, transport: str, **kw: Any) -> FlexitiClient:
    kw.setdefault("retry_policy", RetryPolicy(max_retries=3, backoff_base=0.0))
    return FlexitiClient(
        sandbox.client_id,
        sandbox.client_secret,
        base_url=base_url,
        transport=transport,  # type: ignore[arg-type]
        clock=lambda: sandbox.clock.now().timestamp(),
        **kw,
    )


async def burst(flexiti: FlexitiClient, account_number: int, n: int) -> int:
    done = 0

    async def one() -> None:
        nonlocal done
        await flexiti.customers.lookup(account_number=account_number)
        done += 1

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return done


async def test_token_lifecycle_over_sockets(
    sandbox: FlexitiSandbox, served: str, transport: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    async with make_client(sandbox, served, transport, max_concurrency=20) as flexiti:
        # Cold client, 1,000 concurrent calls: one token.
        assert await burst(flexiti, account, 1000) == 1000
        assert sandbox.stats.token_grants["client_credentials"] == 1
        assert sandbox.stats.max_in_flight <= 20

        # Soft window (30 s before expiry): exactly one refresh, everyone served.
        sandbox.clock.advance(1200 - 30)
        assert await burst(flexiti, account, 200) == 200
        assert sandbox.stats.token_grants["refresh_token"] == 1
        assert sandbox.stats.token_grants["client_credentials"] == 1

        # Past hard expiry: one new client_credentials grant, all succeed.
        sandbox.clock.advance(1200 + 5)
        assert await burst(flexiti, account, 200) == 200
        assert sandbox.stats.token_grants["client_credentials"] == 2
        assert sandbox.stats.token_grants["refresh_token"] == 1

        # Revoked mid-flight: one new token, replays hide the 401s from callers.
        sandbox.revoke_tokens()
        assert await burst(flexiti, account, 200) == 200
        assert sandbox.stats.token_grants["client_credentials"] == 3
    assert sandbox.stats.count("lookup", 200) == 1600


async def test_revocation_during_a_burst(
    sandbox: FlexitiSandbox, served: str, transport: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    async with make_client(sandbox, served, transport, max_concurrency=16) as flexiti:
        await flexiti.customers.lookup(account_number=account)
        # Revoke on the next lookup, while a burst of 400 is running.
        sandbox.faults.add(route="lookup", fault=Fault.revoke_tokens(), times=1)
        assert await burst(flexiti, account, 400) == 400
    assert sandbox.stats.token_grants["client_credentials"] == 2
    assert sandbox.stats.count("lookup", 200) == 401


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(503),
        Fault.status(429, retry_after=0),
        Fault.html_error(500),
        Fault.drop_before(),
        Fault.drop_after(),
        Fault.malformed_json(),
    ],
    ids=["503", "429", "html-500", "drop-before", "drop-after", "bad-json"],
)
async def test_get_survives_each_fault(
    sandbox: FlexitiSandbox, served: str, transport: str, fault: Fault
) -> None:
    account = sandbox.find_account(status="N").account_number
    sandbox.faults.add(route="lookup", fault=fault, times=2)
    async with make_client(sandbox, served, transport) as flexiti:
        profile = await flexiti.customers.lookup(account_number=account)
    assert profile.account_number == account
    assert sandbox.stats.count("lookup") == 3


async def authorize(flexiti: FlexitiClient, account_number: int, amount: str) -> int:
    body = await flexiti.request(
        "POST",
        "authorization",
        version="2.5.1",
        json={
            "account_number": account_number,
            "amount": Decimal(amount),
            "auto_capture": False,
            "reference": "order-1",
            "financing_option": {"transaction_type": "regular_purchase"},
        },
    )
    return int(body["authorization_id"])


async def capture(flexiti: FlexitiClient, authorization_id: int, amount: str) -> Any:
    return await flexiti.request(
        "POST", f"authorization/{authorization_id}/capture", json={"amount": Decimal(amount)}
    )


async def test_dropped_capture_is_not_resent(
    sandbox: FlexitiSandbox, served: str, transport: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    async with make_client(sandbox, served, transport) as flexiti:
        auth_id = await authorize(flexiti, account, "100.00")
        sandbox.faults.add(route="capture", fault=Fault.drop_after(), times=1)
        with pytest.raises(errors.OutcomeUnknownError) as caught:
            await capture(flexiti, auth_id, "60.00")
        assert caught.value.reference_id
    captures = [e for e in sandbox.ledger.entries if e.kind == "capture"]
    assert len(captures) == 1  # applied once, by the one request that was sent
    assert sandbox.stats.count("capture") == 1


async def test_capture_dropped_before_processing_is_reported_not_guessed(
    sandbox: FlexitiSandbox, served: str, transport: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    async with make_client(sandbox, served, transport) as flexiti:
        auth_id = await authorize(flexiti, account, "100.00")
        sandbox.faults.add(route="capture", fault=Fault.drop_before(), times=1)
        # From the client's side a drop before and after processing look the same.
        with pytest.raises(errors.OutcomeUnknownError):
            await capture(flexiti, auth_id, "60.00")
        # The ledger is the truth: nothing was applied, so retrying is safe and right.
        assert [e for e in sandbox.ledger.entries if e.kind == "capture"] == []
        body = await capture(flexiti, auth_id, "60.00")
    assert body["capture_id"]
    assert len([e for e in sandbox.ledger.entries if e.kind == "capture"]) == 1


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Fault.status(429, retry_after=0), "ok"),
        (Fault.status(503), "server_error"),
        (Fault.status(500), "server_error"),
    ],
    ids=["429-retried", "503-not-retried", "500-not-retried"],
)
async def test_capture_retry_rules_over_sockets(
    sandbox: FlexitiSandbox, served: str, transport: str, fault: Fault, outcome: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    async with make_client(sandbox, served, transport) as flexiti:
        auth_id = await authorize(flexiti, account, "100.00")
        sandbox.faults.add(route="capture", fault=fault, times=1)
        if outcome == "ok":
            await capture(flexiti, auth_id, "40.00")
            assert sandbox.stats.count("capture") == 2
        else:
            with pytest.raises(errors.ServerError):
                await capture(flexiti, auth_id, "40.00")
            assert sandbox.stats.count("capture") == 1
    applied = [e for e in sandbox.ledger.entries if e.kind == "capture"]
    assert len(applied) == (1 if outcome == "ok" else 0)


async def test_never_connected_post_is_retried(
    sandbox: FlexitiSandbox, served: str, transport: str
) -> None:
    # Nothing listens on port 9 (discard), so every connection is refused: the POST provably
    # never left, is retried, and ends as a clean APIConnectionError (not OutcomeUnknown).
    with anyio.fail_after(30):
        dead = "http://127.0.0.1:9/flexiti/pos-api"
        async with make_client(sandbox, dead, transport) as flexiti:
            with pytest.raises(errors.APIConnectionError):
                await flexiti.request("POST", "authorization", version="2.5.1", json={})


async def test_customer_scope_token_refused_on_merchant_endpoint(
    sandbox: FlexitiSandbox, served: str, transport: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    async with make_client(sandbox, served, transport, scope="customer") as flexiti:
        with pytest.raises(errors.PermissionDeniedError) as caught:
            await flexiti.customers.lookup(account_number=account)
    assert caught.value.code is errors.ErrorCode.INSUFFICIENT_SCOPE


async def test_admission_limit_holds_on_the_wire(
    sandbox: FlexitiSandbox, served: str, transport: str
) -> None:
    account = sandbox.find_account(status="N").account_number
    sandbox.faults.add(route="lookup", fault=Fault.latency(0.002), probability=1.0)
    async with make_client(sandbox, served, transport, max_concurrency=8) as flexiti:
        async with anyio.create_task_group() as tg:
            for _ in range(2000):
                tg.start_soon(partial(flexiti.customers.lookup, account_number=account))
    assert sandbox.stats.count("lookup", 200) == 2000
    assert sandbox.stats.max_in_flight <= 8
    assert sandbox.stats.max_in_flight_token <= 1


async def test_five_thousand_callers_queue_instead_of_failing(
    sandbox: FlexitiSandbox, served: str
) -> None:
    """Raw httpx fails with PoolTimeout at this load; the default client queues (FIFO)."""
    account = sandbox.find_account(status="N").account_number
    async with FlexitiClient(sandbox.client_id, sandbox.client_secret, base_url=served) as flexiti:
        assert await burst(flexiti, account, 5000) == 5000
        assert flexiti.max_concurrency == 32
    assert sandbox.stats.max_in_flight <= 32
    assert sandbox.stats.token_grants["client_credentials"] == 1
