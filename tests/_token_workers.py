"""Worker processes for the cross-process token tests and benchmark (started with spawn).

Each worker keeps one `FlexitiClient` open and answers commands sent over a pipe, so the
test decides when every process makes its calls (all at once on a cold store, around a
revocation, across a Redis outage) and counts the outcomes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import anyio
import anyio.to_thread

from flexiti_async import FileTokenStore, FlexitiClient, RedisTokenStore
from flexiti_async._stores import TokenStore

#: ("redis", url, prefix, retry_interval) | ("file", path) | ("memory",)
StoreSpec = Sequence[Any]


def make_store(spec: StoreSpec) -> TokenStore | None:
    if spec[0] == "redis":
        return RedisTokenStore.from_url(spec[1], prefix=spec[2], retry_interval=spec[3])
    if spec[0] == "file":
        return FileTokenStore(spec[1])
    return None  # the client's default in-memory store


class CountingStore:
    """Counts the round-trips a client makes to its store (for the benchmark)."""

    def __init__(self, inner: TokenStore) -> None:
        self.inner = inner
        self.calls = 0

    async def get(self, key: str) -> Any:
        self.calls += 1
        return await self.inner.get(key)

    async def set(self, key: str, token: Any) -> None:
        self.calls += 1
        await self.inner.set(key, token)

    async def invalidate(self, key: str, token: Any) -> None:
        self.calls += 1
        await self.inner.invalidate(key, token)

    def lock(self, key: str, *, lease: float) -> Any:
        self.calls += 1
        return self.inner.lock(key, lease=lease)


class _WarningCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.unavailable = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "unavailable" in record.getMessage():
            self.unavailable += 1


def worker(
    conn: Connection,
    base_url: str,
    client_id: str,
    client_secret: str,
    spec: StoreSpec,
    account_number: int,
    backend: str = "asyncio",
) -> None:
    """Entry point of a worker process."""
    anyio.run(
        _serve, conn, base_url, client_id, client_secret, spec, account_number, backend=backend
    )


async def _serve(
    conn: Connection,
    base_url: str,
    client_id: str,
    client_secret: str,
    spec: StoreSpec,
    account_number: int,
) -> None:
    warnings = _WarningCounter()
    logging.getLogger("flexiti_async").addHandler(warnings)
    inner = make_store(spec)
    store = CountingStore(inner) if inner is not None else None
    async with FlexitiClient(
        client_id, client_secret, base_url=base_url, token_store=store
    ) as flexiti:
        conn.send(("ready", os.getpid()))
        while True:
            command = await anyio.to_thread.run_sync(conn.recv)
            if command[0] == "stop":
                break
            _, tasks, rounds = command
            before = store.calls if store is not None else 0
            ok, errors, latencies = await run_calls(flexiti, account_number, tasks, rounds)
            conn.send(
                {
                    "ok": ok,
                    "errors": errors[:5],
                    "error_count": len(errors),
                    "store_calls": (store.calls if store is not None else 0) - before,
                    "unavailable_warnings": warnings.unavailable,
                    "latencies": latencies,
                }
            )
    if isinstance(inner, RedisTokenStore):
        await inner.aclose()


async def run_calls(
    flexiti: FlexitiClient, account_number: int, tasks: int, rounds: int
) -> tuple[int, list[str], list[float]]:
    """``tasks`` concurrent tasks making ``rounds`` calls each: successes, errors, latencies."""
    ok, errors, latencies = 0, [], []

    async def one() -> None:
        nonlocal ok
        for _ in range(rounds):
            started = time.perf_counter()
            try:
                await flexiti.customers.lookup(account_number=account_number)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                ok += 1
                latencies.append(time.perf_counter() - started)

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(one)
    return ok, errors, latencies


def hold_lock(
    conn: Connection,
    base_url: str,
    client_id: str,
    client_secret: str,
    spec: StoreSpec,
    lease: float,
) -> None:
    """Take the token fetch lock as a client would, report, and hang (until SIGKILLed)."""
    anyio.run(_hold, conn, base_url, client_id, client_secret, spec, lease)


async def _hold(
    conn: Connection,
    base_url: str,
    client_id: str,
    client_secret: str,
    spec: StoreSpec,
    lease: float,
) -> None:
    store = make_store(spec)
    assert store is not None
    flexiti = FlexitiClient(client_id, client_secret, base_url=base_url, token_store=store)
    key = flexiti.token_manager.key
    async with store.lock(key, lease=lease) as held:
        conn.send(("held", held, key))
        await anyio.sleep(3600)
