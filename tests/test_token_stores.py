"""FileTokenStore and RedisTokenStore in one process: compare-and-invalidate, the fetch lock,
file modes, TTLs, an unreachable store, trio, and secrets kept out of reprs and logs."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import anyio
import pytest

from flexiti_async import FileTokenStore, RedisTokenStore
from flexiti_async._stores import AccessToken, InMemoryTokenStore
from tests._services import RedisServer, free_port, redis_server

__all__ = ["redis_server"]  # the fixture

pytestmark = pytest.mark.anyio

SECRET_VALUE = "tok-" + "s3cr3t" * 6
SECRET_REFRESH = "ref-" + "hush" * 8


def token(value: str = SECRET_VALUE, life: float = 1200.0) -> AccessToken:
    now = time.time()
    return AccessToken(
        value=value,
        expires_at=now + life,
        scope="merchant",
        refresh_token=SECRET_REFRESH,
        obtained_at=now,
    )


def redis_store(server: RedisServer, **options: object) -> RedisTokenStore:
    return RedisTokenStore.from_url(server.url, prefix="t:", **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- file store


async def test_file_store_round_trip_mode_and_compare_and_invalidate(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    assert await store.get("k") is None
    first = token()
    await store.set("k", first)
    assert path.stat().st_mode & 0o777 == 0o600
    assert await FileTokenStore(path).get("k") == first  # another store (process) reads it
    await store.invalidate("k", token("someone-else"))  # not the stored one: kept
    assert await store.get("k") == first
    await store.invalidate("k", first)
    assert await store.get("k") is None
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".tokens.json.")]
    assert leftovers == []  # temp files are replaced into place, never left behind


async def test_file_store_drops_expired_entries_and_survives_a_damaged_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    await store.set("old", token("old-token", life=-1))
    await store.set("new", token())
    assert await store.get("old") is None
    path.write_text("{not json")
    assert await store.get("new") is None
    await store.set("new", token())
    assert (await store.get("new")) is not None


async def test_file_store_lock_excludes_others_and_is_released(tmp_path: Path) -> None:
    one, two = FileTokenStore(tmp_path / "t.json"), FileTokenStore(tmp_path / "t.json")
    async with one.lock("k", lease=10) as held:
        assert held
        async with two.lock("k", lease=0.05) as other:
            assert not other  # bounded wait: gives up after the lease (+ margin)
        async with two.lock("other-key", lease=10) as other:
            assert other  # one lock per token key
    async with two.lock("k", lease=10) as held:
        assert held


async def test_file_store_unwritable_warns_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileTokenStore(tmp_path / "missing-dir" / "tokens.json", retry_interval=60)
    with caplog.at_level(logging.WARNING, logger="flexiti_async"):
        for _ in range(3):
            await store.set("k", token())
            assert await store.get("k") is None
            await store.invalidate("k", token())
            async with store.lock("k", lease=30) as held:
                assert not held
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert SECRET_VALUE not in caplog.text
    assert SECRET_REFRESH not in caplog.text


async def test_file_store_repr_and_file_holds_the_secret_only_on_disk(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    await store.set("k", token())
    assert SECRET_VALUE not in repr(store)
    assert SECRET_VALUE not in repr(await store.get("k"))
    assert SECRET_VALUE in (tmp_path / "tokens.json").read_text()  # hence mode 0600


async def test_in_memory_store_lock_is_one_at_a_time() -> None:
    store = InMemoryTokenStore()
    order: list[str] = []

    async def holder(name: str) -> None:
        async with store.lock("k", lease=30) as held:
            assert held
            order.append(f"{name}+")
            await anyio.sleep(0)
            order.append(f"{name}-")

    async with anyio.create_task_group() as tg:
        for name in "abc":
            tg.start_soon(holder, name)
    assert [order[i][1] for i in range(0, 6, 2)] == ["+", "+", "+"]
    assert all(order[i][0] == order[i + 1][0] for i in range(0, 6, 2))


# ---------------------------------------------------------------------------- redis store


@pytest.mark.needs_service("redis-server")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_store_ttl_and_compare_and_invalidate(redis_server: RedisServer) -> None:
    store = redis_store(redis_server)
    try:
        first = token(life=30)
        await store.set("k", first)
        assert await store.get("k") == first
        ttl = redis_server.command("PTTL", "t:token:k")
        assert isinstance(ttl, int)
        assert 25_000 < ttl <= 30_000  # the token's remaining life
        await store.invalidate("k", token("someone-else"))
        assert await store.get("k") == first
        await store.invalidate("k", first)
        assert await store.get("k") is None
        await store.set("gone", token(life=-1))  # already expired: not stored
        assert redis_server.command("EXISTS", "t:token:gone") == 0
    finally:
        await store.aclose()


@pytest.mark.needs_service("redis-server")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_lock_is_set_nx_px_and_released_only_by_its_owner(
    redis_server: RedisServer,
) -> None:
    one, two = redis_store(redis_server), redis_store(redis_server)
    try:
        async with one.lock("k", lease=5) as held:
            assert held
            ttl = redis_server.command("PTTL", "t:lock:k")
            assert isinstance(ttl, int)
            assert 0 < ttl <= 5000
            async with two.lock("k", lease=0.05) as other:
                assert not other  # bounded wait
        assert redis_server.command("EXISTS", "t:lock:k") == 0
        # An owner whose lease ran out must not delete the next owner's lock.
        async with one.lock("k", lease=0.05) as held:
            assert held
            await anyio.sleep(0.2)  # lease expires
            async with two.lock("k", lease=5) as other:
                assert other
            redis_server.command("SET", "t:lock:k", "next-owner")
        assert redis_server.command("GET", "t:lock:k") == b"next-owner"
    finally:
        await one.aclose()
        await two.aclose()


@pytest.mark.needs_service("redis-server")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_down_warns_once_never_raises_and_comes_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = redis_store(redis_server, retry_interval=0.1, timeout=0.5)
    try:
        await store.set("k", token())
        redis_server.stop()
        with caplog.at_level(logging.INFO, logger="flexiti_async"):
            for _ in range(3):
                assert await store.get("k") is None
                await store.set("k", token())
                await store.invalidate("k", token())
                async with store.lock("k", lease=30) as held:
                    assert not held  # no wait on a dead Redis
            warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
            assert len(warnings) == 1
            redis_server.start()
            await anyio.sleep(0.2)  # past the retry interval
            await store.set("k", token())
            assert await store.get("k") is not None  # sharing again
            assert any("is back" in r.getMessage() for r in caplog.records)
        assert SECRET_VALUE not in caplog.text
        assert SECRET_REFRESH not in caplog.text
    finally:
        await store.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_unreachable_from_the_start_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("redis")
    store = RedisTokenStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    with caplog.at_level(logging.WARNING, logger="flexiti_async"):
        assert await store.get("k") is None
        async with store.lock("k", lease=30) as held:
            assert not held
    assert "unavailable" in caplog.text


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_redis_store_under_trio_names_the_file_store() -> None:
    pytest.importorskip("redis")
    store = RedisTokenStore.from_url("redis://127.0.0.1:6379/0")
    with pytest.raises(RuntimeError, match="FileTokenStore"):
        await store.get("k")


def test_redis_repr_hides_the_password() -> None:
    pytest.importorskip("redis")
    store = RedisTokenStore.from_url("redis://user:hunter2@127.0.0.1:6380/3", prefix="p:")
    assert repr(store) == "<RedisTokenStore redis://127.0.0.1:6380/3 prefix='p:'>"
    assert "hunter2" not in repr(store)


def test_redis_bad_url_is_refused_up_front_without_its_password() -> None:
    pytest.importorskip("redis")
    with pytest.raises(ValueError, match="invalid Redis URL") as caught:
        RedisTokenStore.from_url("http://user:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in str(caught.value)


def test_stores_are_exported() -> None:
    import flexiti_async

    assert flexiti_async.FileTokenStore is FileTokenStore
    assert flexiti_async.RedisTokenStore is RedisTokenStore
    assert os.fspath(FileTokenStore("x").path) == "x"


@pytest.mark.needs_service("redis-server")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_slow_counts_as_down(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = redis_store(redis_server, timeout=0.2, retry_interval=60)
    try:
        await store.set("k", token())
        redis_server.command("CLIENT", "PAUSE", "3000")  # Redis stops answering for 3 s
        with caplog.at_level(logging.WARNING, logger="flexiti_async"):
            assert await store.get("k") is None  # each call is bounded by the timeout
            async with store.lock("k", lease=30) as held:
                assert not held  # skipped while Redis counts as down
        assert [r.getMessage().count("unavailable") for r in caplog.records] == [1]
    finally:
        await store.aclose()


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_a_client_on_a_redis_store_under_trio_fails_clearly() -> None:
    pytest.importorskip("redis")
    from flexiti_async.testing import FlexitiSandbox

    sandbox = FlexitiSandbox(seed=45)
    account = sandbox.find_account(status="N").account_number
    store = RedisTokenStore.from_url("redis://127.0.0.1:6379/0")
    async with sandbox.client(token_store=store) as flexiti:
        with pytest.raises(RuntimeError, match=r"under trio.*FileTokenStore"):
            await flexiti.customers.lookup(account_number=account)
    assert sandbox.stats.token_grants == {}  # nothing was fetched behind the error
