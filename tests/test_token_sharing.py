"""Many processes, one token: worker processes sharing a `RedisTokenStore` (real
redis-server) or a `FileTokenStore`, against the sandbox served on loopback. Every case
counts token grants at the sandbox."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from flexiti_async.testing import FlexitiSandbox
from tests._services import RedisServer, redis_server, sandbox_in_thread
from tests._token_workers import hold_lock, worker

__all__ = ["redis_server"]  # the fixture

_CTX = multiprocessing.get_context("spawn")
_REPLY_TIMEOUT = 120.0  # bounds every wait on a worker


class Workers:
    """N worker processes, each with one client; `run` makes them all call at once."""

    def __init__(self, conns: list[Connection], processes: list[Any]) -> None:
        self.conns = conns
        self.processes = processes

    def run(self, tasks: int, rounds: int = 1) -> list[dict[str, Any]]:
        for conn in self.conns:
            conn.send(("calls", tasks, rounds))
        return [_receive(conn) for conn in self.conns]


def _receive(conn: Connection) -> Any:
    if not conn.poll(_REPLY_TIMEOUT):
        raise AssertionError("a worker did not answer in time")
    return conn.recv()


@contextmanager
def workers(
    sandbox: FlexitiSandbox, base_url: str, spec: Sequence[Any], backends: Sequence[str]
) -> Iterator[Workers]:
    account = sandbox.find_account(status="N").account_number
    conns, processes = [], []
    try:
        for backend in backends:
            parent, child = _CTX.Pipe()
            process = _CTX.Process(
                target=worker,
                args=(
                    child,
                    base_url,
                    sandbox.client_id,
                    sandbox.client_secret,
                    list(spec),
                    account,
                    backend,
                ),
                daemon=True,
            )
            process.start()
            conns.append(parent)
            processes.append(process)
        for conn in conns:
            assert _receive(conn)[0] == "ready"
        yield Workers(conns, processes)
    finally:
        for conn in conns:
            try:
                conn.send(("stop",))
            except OSError:
                pass
        for process in processes:
            process.join(30)
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
                process.join(10)


def grants(sandbox: FlexitiSandbox) -> int:
    return sum(sandbox.stats.token_grants.values())


def assert_all_ok(results: list[dict[str, Any]], calls: int) -> None:
    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    assert sum(r["ok"] for r in results) == calls


def redis_spec(server: RedisServer, retry_interval: float = 5.0) -> list[Any]:
    return ["redis", server.url, "flexiti-test:", retry_interval]


needs_redis = pytest.mark.needs_service("redis-server")


@needs_redis
def test_redis_four_processes_on_a_cold_store_make_one_grant(redis_server: RedisServer) -> None:
    sandbox = FlexitiSandbox(seed=151)
    with sandbox_in_thread(sandbox) as base_url:
        with workers(sandbox, base_url, redis_spec(redis_server), ["asyncio"] * 4) as pool:
            results = pool.run(250)
    assert_all_ok(results, 4 * 250)
    assert grants(sandbox) == 1
    keys = redis_server.command("KEYS", "flexiti-test:token:*")
    assert isinstance(keys, list)
    assert len(keys) == 1
    ttl = redis_server.command("PTTL", keys[0])
    assert isinstance(ttl, int)
    assert 0 < ttl <= 1200 * 1000  # the token's life
    assert redis_server.command("KEYS", "flexiti-test:lock:*") == []  # released


@needs_redis
def test_redis_revocation_mid_run_makes_at_most_two_grants(redis_server: RedisServer) -> None:
    sandbox = FlexitiSandbox(seed=152)
    with sandbox_in_thread(sandbox) as base_url:
        with workers(sandbox, base_url, redis_spec(redis_server), ["asyncio"] * 4) as pool:
            assert_all_ok(pool.run(20), 4 * 20)
            assert grants(sandbox) == 1
            served = sandbox.stats.count()
            for conn in pool.conns:
                conn.send(("calls", 250, 4))
            # Revoke once the run is well under way (bounded wait on the server's count).
            deadline = time.monotonic() + _REPLY_TIMEOUT
            while sandbox.stats.count() < served + 1500 and time.monotonic() < deadline:
                time.sleep(0.005)
            sandbox.revoke_tokens()
            results = [_receive(conn) for conn in pool.conns]
    assert_all_ok(results, 4 * 250 * 4)
    assert sandbox.stats.count(status=401) > 0  # the revocation hit requests in flight
    assert 1 <= grants(sandbox) - 1 <= 2


@needs_redis
def test_redis_lock_owner_killed_others_take_over_after_the_lease(
    redis_server: RedisServer,
) -> None:
    sandbox = FlexitiSandbox(seed=153)
    spec = redis_spec(redis_server)
    with sandbox_in_thread(sandbox) as base_url:
        parent, child = _CTX.Pipe()
        holder = _CTX.Process(
            target=hold_lock,
            args=(child, base_url, sandbox.client_id, sandbox.client_secret, spec, 3.0),
            daemon=True,
        )
        holder.start()
        try:
            status, held, key = _receive(parent)
            assert (status, held) == ("held", True)
            lock_ttl = redis_server.command("PTTL", f"flexiti-test:lock:{key}")
            assert isinstance(lock_ttl, int)
            assert 0 < lock_ttl <= 3000  # held, with its lease
        finally:
            os.kill(holder.pid, signal.SIGKILL)  # while it holds the lock
            holder.join(10)
        with workers(sandbox, base_url, spec, ["asyncio"] * 3) as pool:
            results = pool.run(100)
    assert_all_ok(results, 3 * 100)
    # One grant: the waiters took the lock when the dead owner's lease ran out (had they
    # given up waiting instead, each process would have fetched its own token).
    assert grants(sandbox) == 1


@needs_redis
def test_redis_outage_calls_keep_succeeding_and_sharing_resumes(
    redis_server: RedisServer,
) -> None:
    sandbox = FlexitiSandbox(seed=154)
    spec = redis_spec(redis_server, retry_interval=0.5)
    with sandbox_in_thread(sandbox) as base_url:
        with workers(sandbox, base_url, spec, ["asyncio"] * 4) as pool:
            assert_all_ok(pool.run(50), 4 * 50)
            assert grants(sandbox) == 1
            redis_server.stop()
            sandbox.revoke_tokens()  # every process needs a new token while Redis is down
            outage = pool.run(100, 2)
            assert_all_ok(outage, 4 * 100 * 2)
            during = grants(sandbox) - 1
            assert 1 <= during <= 4  # each process on its own single flight
            assert [r["unavailable_warnings"] for r in outage] == [1, 1, 1, 1]  # once each
            redis_server.start()  # same port, empty
            time.sleep(1.5)  # past the workers' retry interval (0.5 s)
            sandbox.revoke_tokens()
            after = pool.run(100, 2)
            assert_all_ok(after, 4 * 100 * 2)
    assert grants(sandbox) - 1 - during == 1  # shared again: one grant for four processes


def test_file_store_four_processes_make_one_grant(tmp_path: Path) -> None:
    sandbox = FlexitiSandbox(seed=155)
    path = tmp_path / "tokens.json"
    with sandbox_in_thread(sandbox) as base_url:
        backends = ["asyncio", "trio", "asyncio", "trio"]
        with workers(sandbox, base_url, ["file", str(path)], backends) as pool:
            results = pool.run(250)
    assert_all_ok(results, 4 * 250)
    assert grants(sandbox) == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert [r["store_calls"] for r in results].count(0) == 0  # each looked at the store
