"""TokenManager: single flight, soft/hard windows, compare-and-invalidate, cancellation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from flexiti_async._auth import AccessToken, InMemoryTokenStore, TokenManager
from flexiti_async._redact import SecretRegistry
from flexiti_async.errors import APIConnectionError, AuthenticationError, BadRequestError

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeTokenEndpoint:
    """Counts grants; can hold every fetch until released, or fail the next ones."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.gate: anyio.Event | None = None
        self.started = 0
        self.fail_with: list[BaseException] = []
        self.refuse_refresh = False
        self.serial = 0

    async def __call__(self, form: Mapping[str, str]) -> Mapping[str, Any]:
        self.forms.append(dict(form))
        self.started += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with:
            raise self.fail_with.pop(0)
        if form["grant_type"] == "refresh_token" and self.refuse_refresh:
            raise BadRequestError("HTTP 400 invalid_grant", status_code=400, code="invalid_grant")
        self.serial += 1
        return {
            "token_type": "bearer",
            "access_token": f"access-{self.serial:036d}",
            "expires_in": 1200,
            "refresh_token": f"refresh-{self.serial:035d}",
            "scope": form["scope"],
        }

    def grants(self, kind: str) -> int:
        return sum(1 for f in self.forms if f["grant_type"] == kind)


def make_manager(
    endpoint: FakeTokenEndpoint, clock: Clock, store: InMemoryTokenStore | None = None
) -> TokenManager:
    return TokenManager(
        client_id="cid",
        client_secret="top-secret-value",
        scope="merchant",
        key="k",
        fetch=endpoint,
        store=store or InMemoryTokenStore(),
        secrets=SecretRegistry(),
        clock=clock,
    )


async def test_lazy_and_single_flight_for_a_thousand_cold_callers() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    assert endpoint.started == 0  # nothing fetched before first use
    got: list[AccessToken] = []

    async def call() -> None:
        got.append(await manager.token())

    async with anyio.create_task_group() as tg:
        for _ in range(1000):
            tg.start_soon(call)
    assert endpoint.grants("client_credentials") == 1
    assert len(got) == 1000
    assert len({t.value for t in got}) == 1
    form = endpoint.forms[0]
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "top-secret-value",
        "scope": "merchant",
    }


async def test_soft_window_one_refresh_nobody_else_waits() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    first = await manager.token()
    clock.now += 1200 - 30  # inside the 60 s refresh window, still valid
    endpoint.gate = anyio.Event()  # hold the refresh in flight
    served_old = 0

    async def caller() -> None:
        nonlocal served_old
        token = await manager.token()
        if token.value == first.value:
            served_old += 1

    refreshed: list[AccessToken] = []

    async def refresher() -> None:
        refreshed.append(await manager.token())

    async with anyio.create_task_group() as tg:
        tg.start_soon(refresher)
        await anyio.wait_all_tasks_blocked()
        assert endpoint.grants("refresh_token") == 1
        async with anyio.create_task_group() as inner:
            for _ in range(999):
                inner.start_soon(caller)
        # All 999 finished while the refresh was still held: nobody waited on it.
        assert served_old == 999
        endpoint.gate.set()
    assert endpoint.grants("refresh_token") == 1
    assert endpoint.grants("client_credentials") == 1
    assert refreshed[0].value != first.value
    assert endpoint.forms[1]["refresh_token"] == first.refresh_token
    assert (await manager.token()).value == refreshed[0].value


async def test_hard_expiry_everyone_waits_for_one_client_credentials_fetch() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    first = await manager.token()
    clock.now += 1200 + 1  # expired: cannot be refreshed (Flexiti's newest wording)
    values: set[str] = set()

    async def caller() -> None:
        values.add((await manager.token()).value)

    async with anyio.create_task_group() as tg:
        for _ in range(500):
            tg.start_soon(caller)
    assert endpoint.grants("client_credentials") == 2
    assert endpoint.grants("refresh_token") == 0
    assert values == {(manager.current or first).value}
    assert first.value not in values


async def test_refused_refresh_falls_back_to_client_credentials() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    await manager.token()
    clock.now += 1190
    endpoint.refuse_refresh = True
    token = await manager.token()
    assert endpoint.grants("refresh_token") == 1
    assert endpoint.grants("client_credentials") == 2
    assert token.value.endswith("2")


async def test_transient_refresh_failure_in_soft_window_keeps_the_valid_token() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    first = await manager.token()
    clock.now += 1190
    endpoint.fail_with = [APIConnectionError("connection reset")]
    assert (await manager.token()).value == first.value
    # The next caller tries again and succeeds.
    second = await manager.token()
    assert second.value != first.value


async def test_compare_and_invalidate_storm_gives_one_new_token() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    revoked = await manager.token()

    async def failed_request() -> None:
        await manager.invalidate(revoked)
        token = await manager.token()
        assert token.value != revoked.value

    async with anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(failed_request)
    assert endpoint.grants("client_credentials") == 2
    # A late 401 for the old token does not drop the new one.
    current = manager.current
    await manager.invalidate(revoked)
    assert manager.current is current


async def test_cancelled_leader_does_not_strand_waiters() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    endpoint.gate = anyio.Event()
    results: list[str] = []

    async def waiter() -> None:
        results.append((await manager.token()).value)

    with anyio.fail_after(10):  # a hang would fail here, not pass silently
        async with anyio.create_task_group() as tg:
            leader_scope = anyio.CancelScope()

            async def leader() -> None:
                with leader_scope:
                    await manager.token()

            tg.start_soon(leader)
            await anyio.wait_all_tasks_blocked()
            for _ in range(5):
                tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert endpoint.started == 1
            leader_scope.cancel()  # the leader dies mid-fetch
            await anyio.wait_all_tasks_blocked()
            assert endpoint.started == 2  # one waiter took over
            endpoint.gate.set()
    assert len(results) == 5
    assert len(set(results)) == 1


async def test_a_real_error_reaches_every_waiter_without_refetching() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    endpoint.gate = anyio.Event()
    endpoint.fail_with = [
        AuthenticationError("HTTP 400 invalid_client", status_code=400, code="invalid_client")
    ]
    errors: list[BaseException] = []

    async def caller() -> None:
        try:
            await manager.token()
        except AuthenticationError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        endpoint.gate.set()
    assert len(errors) == 20
    assert endpoint.started == 1


async def test_shared_store_lets_a_second_manager_reuse_the_token() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    store = InMemoryTokenStore()
    one, two = make_manager(endpoint, clock, store), make_manager(endpoint, clock, store)
    a = await one.token()
    b = await two.token()
    assert a.value == b.value
    assert endpoint.started == 1


async def test_token_repr_hides_values() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    token = await make_manager(endpoint, clock).token()
    text = repr(token)
    assert token.value not in text
    assert token.refresh_token is not None
    assert token.refresh_token not in text
