"""TokenManager: single flight, soft/hard windows, compare-and-invalidate, cancellation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
import pytest

from flexiti_async._auth import (
    AccessToken,
    InMemoryTokenStore,
    Spawn,
    TokenManager,
    TokenStore,
)
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
        self.expires_in: float = 1200

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
            "expires_in": self.expires_in,
            "refresh_token": f"refresh-{self.serial:035d}",
            "scope": form["scope"],
        }

    def grants(self, kind: str) -> int:
        return sum(1 for f in self.forms if f["grant_type"] == kind)


def make_manager(
    endpoint: FakeTokenEndpoint,
    clock: Clock,
    store: TokenStore | None = None,
    background: Callable[[], Spawn | None] | None = None,
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
        background=background,
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


async def test_every_waiter_gets_its_own_exception_object() -> None:
    # Raising one exception object in many tasks makes them share (and keep extending) one
    # traceback; each waiter must get its own copy, of the same type and text.
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    endpoint.gate = anyio.Event()
    endpoint.fail_with = [
        AuthenticationError("HTTP 400 invalid_client", status_code=400, code="invalid_client")
    ]
    errors: list[AuthenticationError] = []

    async def caller() -> None:
        try:
            await manager.token()
        except AuthenticationError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        endpoint.gate.set()
    assert len(errors) == 5
    assert len({id(exc) for exc in errors}) == 5
    assert {str(exc) for exc in errors} == {"HTTP 400 invalid_client"}
    assert {exc.status_code for exc in errors} == {400}
    assert len({(exc.code, exc.raw_code, exc.reference_id) for exc in errors}) == 1
    assert endpoint.started == 1


@pytest.mark.parametrize("lifetime", [1, 2, 3, 4, 5])
async def test_short_lived_tokens_refresh_about_once_per_lifetime(lifetime: int) -> None:
    # 20 callers for 6 s of (fake) time with the default 60 s leeway: every token lives less
    # than the leeway. Before the per-token refresh point this made 61 grants for 2 s tokens.
    endpoint, clock = FakeTokenEndpoint(), Clock()
    endpoint.expires_in = lifetime
    start, step, callers = clock.now, 0.05, 20
    waited_on_a_valid_token = 0
    async with anyio.create_task_group() as background:
        manager = make_manager(endpoint, clock, background=lambda: background.start_soon)
        while clock.now - start < 6:
            endpoint.gate = anyio.Event()  # a grant in this tick is held until all have asked
            in_hand = manager.current
            valid = in_hand is not None and not in_hand.expired(clock.now)
            done = 0

            async def caller() -> None:
                nonlocal done
                token = await manager.token()
                assert not token.expired(clock.now)
                done += 1

            async with anyio.create_task_group() as tg:
                for _ in range(callers):
                    tg.start_soon(caller)
                await anyio.wait_all_tasks_blocked()
                if valid and done != callers:
                    waited_on_a_valid_token += 1
                endpoint.gate.set()
            await anyio.wait_all_tasks_blocked()  # a background refresh lands in this tick
            clock.now += step
    lifetimes_elapsed = (clock.now - start) / lifetime
    assert len(endpoint.forms) <= lifetimes_elapsed + 1
    assert len(endpoint.forms) >= 6 // lifetime  # it does refresh
    assert endpoint.grants("refresh_token") == len(endpoint.forms) - 1
    assert waited_on_a_valid_token == 0


async def test_without_a_task_group_the_first_caller_in_the_window_refreshes_inline() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock)
    first = await manager.token()
    clock.now = first.refresh_at(60)
    endpoint.gate = anyio.Event()
    finished: list[AccessToken] = []

    async def caller() -> None:
        finished.append(await manager.token())

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        assert [t.value for t in finished] == [first.value] * 9  # only the refresher waits
        endpoint.gate.set()
    assert endpoint.grants("refresh_token") == 1
    assert finished[-1].value != first.value


def test_refresh_point_clamps_the_leeway() -> None:
    long = AccessToken(value="v", expires_at=1200.0 + 10, scope="m", obtained_at=10)
    assert long.refresh_at(60) == 1150.0  # a normal token: leeway before expiry
    short = AccessToken(value="v", expires_at=12.0, scope="m", obtained_at=10)
    assert short.refresh_at(60) == pytest.approx(11.8)  # never before 90% of its life
    assert short.fresh(11.7, 60)
    assert not short.fresh(11.8, 60)
    legacy = AccessToken(value="v", expires_at=1000.0, scope="m")  # no obtained_at
    assert legacy.refresh_at(60) == 940.0


class CountingStore:
    """An in-memory store that counts round-trips."""

    def __init__(self) -> None:
        self.inner = InMemoryTokenStore()
        self.calls: list[str] = []

    async def get(self, key: str) -> AccessToken | None:
        self.calls.append("get")
        return await self.inner.get(key)

    async def set(self, key: str, token: AccessToken) -> None:
        self.calls.append("set")
        await self.inner.set(key, token)

    async def invalidate(self, key: str, token: AccessToken) -> None:
        self.calls.append("invalidate")
        await self.inner.invalidate(key, token)

    def lock(self, key: str, *, lease: float) -> Any:
        self.calls.append("lock")
        return self.inner.lock(key, lease=lease)


async def test_warm_calls_make_no_store_round_trip() -> None:
    endpoint, clock = FakeTokenEndpoint(), Clock()
    store = CountingStore()
    manager = make_manager(endpoint, clock, store)
    await manager.token()
    assert store.calls == ["get", "lock", "get", "set"]  # cold: read, lock, re-read, write
    store.calls.clear()
    for _ in range(1000):
        await manager.token()
    assert store.calls == []
    clock.now += 1200 - 60  # the refresh point: the store is read again
    await manager.token()
    assert store.calls[0] == "get"
    assert endpoint.grants("refresh_token") == 1


async def test_managers_sharing_a_store_make_one_grant_cold_and_after_a_401() -> None:
    # Two clients (two managers) on one store, as two processes on one shared store: the
    # store's lock plus the double-checked re-read make one grant.
    endpoint, clock = FakeTokenEndpoint(), Clock()
    endpoint.gate = anyio.Event()
    store = InMemoryTokenStore()
    managers = [make_manager(endpoint, clock, store) for _ in range(4)]
    got: list[AccessToken] = []

    async def caller(manager: TokenManager) -> None:
        got.append(await manager.token())

    async with anyio.create_task_group() as tg:
        for manager in managers:
            for _ in range(10):
                tg.start_soon(caller, manager)
        await anyio.wait_all_tasks_blocked()
        endpoint.gate.set()
    assert endpoint.started == 1
    assert len({token.value for token in got}) == 1
    # A 401 seen by every manager: compare-and-invalidate drops the token once, one grant.
    bad = got[0]
    got.clear()
    async with anyio.create_task_group() as tg:
        for manager in managers:
            await manager.invalidate(bad)
            tg.start_soon(caller, manager)
    assert endpoint.started == 2
    assert len({token.value for token in got}) == 1
    assert got[0].value != bad.value


async def test_a_store_without_a_lock_still_works() -> None:
    # Stores written against the earlier protocol (get/set/invalidate only).
    class OldStore:
        def __init__(self) -> None:
            self.tokens: dict[str, AccessToken] = {}

        async def get(self, key: str) -> AccessToken | None:
            return self.tokens.get(key)

        async def set(self, key: str, token: AccessToken) -> None:
            self.tokens[key] = token

        async def invalidate(self, key: str, token: AccessToken) -> None:
            if self.tokens.get(key) == token:
                del self.tokens[key]

    endpoint, clock = FakeTokenEndpoint(), Clock()
    manager = make_manager(endpoint, clock, OldStore())  # type: ignore[arg-type]
    assert (await manager.token()).value == (await manager.token()).value
    assert endpoint.started == 1
