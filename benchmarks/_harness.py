"""Shared benchmark machinery: the load driver, the contenders, statistics and tables."""

from __future__ import annotations

import gc
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
import httpx

from ._payloads import CLIENT_ID, CLIENT_SECRET

__all__ = [
    "CONTENDERS",
    "Context",
    "RoundResult",
    "Session",
    "drive",
    "fmt_ratio",
    "fmt_seconds",
    "interleaved",
    "markdown_table",
    "median",
    "percentile",
]

Call = Callable[[], Awaitable[Any]]


@dataclass
class Context:
    """What every scenario gets: options and a place to put its results."""

    quick: bool
    server_kind: str = "raw"
    rounds: int | None = None
    results: dict[str, Any] = field(default_factory=dict)

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def rounds_or(self, full: int, quick: int) -> int:
        if self.rounds is not None:
            return self.rounds
        return quick if self.quick else full


# ---------------------------------------------------------------------- statistics


def median(values: Iterable[float]) -> float:
    data = [v for v in values if v == v]  # drop NaN
    return statistics.median(data) if data else float("nan")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..1)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class RoundResult:
    """One timed run of one cell: ``n`` calls at ``concurrency``."""

    n: int
    concurrency: int
    ok: int
    failed: int
    elapsed: float
    timed_out: bool
    p50: float
    p99: float
    errors: dict[str, int]
    token_requests: int | None = None

    @property
    def complete(self) -> bool:
        return not self.timed_out and self.failed == 0 and self.ok == self.n

    @property
    def rate(self) -> float:
        """Successful calls per second."""
        return self.ok / self.elapsed if self.elapsed > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rate"] = self.rate
        return data


async def drive(call: Call, n: int, concurrency: int, budget: float) -> RoundResult:
    """Run ``n`` calls from ``concurrency`` callers (each awaits one call at a time).

    Failures are counted by exception type, not raised. After ``budget`` seconds the
    remaining work is cancelled and the round is marked as timed out.
    """
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    issued = 0
    clock = time.perf_counter

    async def caller() -> None:
        nonlocal issued
        while issued < n:  # bounded: every pass issues one of the n calls
            issued += 1
            started = clock()
            try:
                await call()
            except Exception as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append(clock() - started)

    gc.collect()
    started = clock()
    with anyio.move_on_after(budget) as scope:
        async with anyio.create_task_group() as tg:
            for _ in range(min(concurrency, n)):
                tg.start_soon(caller)
    elapsed = clock() - started
    latencies.sort()
    return RoundResult(
        n=n,
        concurrency=concurrency,
        ok=len(latencies),
        failed=sum(errors.values()),
        elapsed=elapsed,
        timed_out=scope.cancelled_caught,
        p50=percentile(latencies, 0.50),
        p99=percentile(latencies, 0.99),
        errors=dict(errors),
    )


def interleaved(cells: Sequence[Any], rounds: int) -> list[tuple[int, Any]]:
    """(round, cell) in interleaved order, rotating the start each round (ABC BCA CAB)."""
    order: list[tuple[int, Any]] = []
    for r in range(rounds):
        shift = r % len(cells) if cells else 0
        order.extend((r, cell) for cell in [*cells[shift:], *cells[:shift]])
    return order


# ---------------------------------------------------------------------- contenders


@dataclass
class Session:
    """An open contender: ``call()`` does one customers/lookup and decodes the body."""

    call: Call
    token_requests: Callable[[], int | None] = lambda: None


LOOKUP_PATH = f"/v2.5/client-id/{CLIENT_ID}/customers/lookup"
LOOKUP_PARAMS = {"account_number": "100000001"}
_BEARER = "Bearer bench-access-00000000"


def _raw_headers() -> dict[str, str]:
    """What the client sends, minus the per-call reference id."""
    return {
        "accept": "application/json",
        "user-agent": "bench-raw",
        "authorization": _BEARER,
    }


@asynccontextmanager
async def _httpx_session(
    base_url: str, client: httpx.AsyncClient, limit: int | None = None
) -> AsyncIterator[Session]:
    url = base_url + LOOKUP_PATH
    headers = _raw_headers()
    loads = json.loads
    new_id = uuid.uuid4
    limiter = anyio.CapacityLimiter(limit) if limit else None

    async def call() -> Any:
        response = await client.get(
            url, params=LOOKUP_PARAMS, headers={**headers, "x-reference-id": new_id().hex}
        )
        response.raise_for_status()
        return loads(response.content)

    async def limited_call() -> Any:
        assert limiter is not None
        async with limiter:
            return await call()

    async with client:
        yield Session(limited_call if limiter else call)


def httpx_default(base_url: str, concurrency: int) -> Any:
    """Raw httpx with its default pool (100 connections, 20 kept alive, 5 s pool timeout)."""
    return _httpx_session(base_url, httpx.AsyncClient())


def httpx_tuned(base_url: str, concurrency: int) -> Any:
    """Raw httpx with max_connections = keep-alive = concurrency (no pool queueing)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return _httpx_session(base_url, httpx.AsyncClient(limits=limits, timeout=60.0))


def httpx_limited32(base_url: str, concurrency: int) -> Any:
    """Raw httpx, keep-alive = max = 32, callers admitted through a CapacityLimiter(32)."""
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    return _httpx_session(base_url, httpx.AsyncClient(limits=limits, timeout=60.0), limit=32)


def httpx_aiohttp(base_url: str, concurrency: int) -> Any:
    """httpx on the httpx-aiohttp transport, its defaults (aiohttp connector limit 100)."""
    from httpx_aiohttp import AiohttpTransport

    return _httpx_session(base_url, httpx.AsyncClient(transport=AiohttpTransport(), timeout=60.0))


@asynccontextmanager
async def aiohttp_raw(base_url: str, concurrency: int) -> AsyncIterator[Session]:
    """Raw aiohttp, default connector (100 connections): the floor."""
    import aiohttp

    url = base_url + LOOKUP_PATH
    headers = _raw_headers()
    loads = json.loads
    new_id = uuid.uuid4
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def call() -> Any:
            async with session.get(
                url, params=LOOKUP_PARAMS, headers={**headers, "x-reference-id": new_id().hex}
            ) as response:
                response.raise_for_status()
                return loads(await response.read())

        yield Session(call)


def _flexiti(transport: str, max_concurrency: int | None = None) -> Any:
    @asynccontextmanager
    async def open_session(base_url: str, concurrency: int) -> AsyncIterator[Session]:
        from flexiti_async import FlexitiClient

        client = FlexitiClient(
            CLIENT_ID,
            CLIENT_SECRET,
            base_url=base_url,
            transport=transport,  # type: ignore[arg-type]
            max_concurrency=max_concurrency,
        )
        lookup = client.customers.lookup

        def call() -> Awaitable[Any]:
            return lookup(account_number=100000001)

        def token_requests() -> int:
            return sum(client.token_manager.grants.values())

        async with client:
            yield Session(call, token_requests)

    return open_session


flexiti_httpx = _flexiti("httpx")
flexiti_aiohttp = _flexiti("aiohttp")

#: name -> factory(base_url, concurrency) -> async context manager yielding a Session.
CONTENDERS: dict[str, Any] = {
    "flexiti (httpx)": flexiti_httpx,
    "flexiti (aiohttp)": flexiti_aiohttp,
    "httpx default pool": httpx_default,
    "httpx limits=concurrency": httpx_tuned,
    "httpx keep-alive=max=32 + limiter(32)": httpx_limited32,
    "httpx + httpx-aiohttp": httpx_aiohttp,
    "aiohttp (raw)": aiohttp_raw,
}


async def run_cell(
    name: str,
    base_url: str,
    n: int,
    concurrency: int,
    *,
    budget: float,
    warmup: int = 0,
) -> RoundResult:
    """Open contender ``name``, optionally warm it up, and time ``n`` calls."""
    async with CONTENDERS[name](base_url, concurrency) as session:
        if warmup:
            await drive(session.call, warmup, min(warmup, concurrency), budget)
        before = session.token_requests()
        result = await drive(session.call, n, concurrency, budget)
        after = session.token_requests()
        if after is not None:
            result.token_requests = after - (before or 0)
        return result


# ---------------------------------------------------------------------- formatting


def fmt_seconds(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(value: float) -> str:
    return "-" if value != value else f"{value:.2f}x"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
