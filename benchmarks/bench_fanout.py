"""Fan-out: 30 one-day windows through `iterate_windows` at limit 1, 4 and 16.

Every window is listed through the public path, ``client.authorizations.list(
creation_date_from=day, creation_date_to=day, page_size=500, prefetch=0)``, and
``flexiti_async.concurrency.iterate_windows(..., days=1, limit=L)`` runs up to ``L``
windows at once and hands the items over in window order. The loopback server lists
``per_day`` authorizations for each day (distinct ids and creation dates per day), so every
window is its own multi-page history. ``prefetch=0`` makes ``limit`` the only concurrency
knob: limit 1 is strictly sequential (one request at a time), limit L has at most L
requests in flight, which the server confirms (``max in flight`` is the largest number of
API requests it held unanswered at once). One extra row, limit 1 with the default
``prefetch=1``, shows how much a single read-ahead page already recovers.

Why two server latencies: on loopback a page costs the client far more CPU (JSON decode,
500 `Authorization` models) than the server takes to answer, and this machine has 2 cores
shared by client and server, so with 0 ms the fan-out can only overlap the server's work
and the socket round-trips with the client's parsing: the speed-up is small and shows
the per-window overhead. With a per-request latency (the server delays each API answer
on a timer, not a busy wait; ``LATENCIES_MS``) the client waits on the network as it does
against a real API, and fan-out hides that wait until the client's CPU is the limit.
Real Flexiti latencies are tens to hundreds of ms, so the gain there is larger still.

Memory is measured in separate, shorter runs under tracemalloc (it slows Python down
several times), at the largest latency: the peak above the baseline while iterating every
window, against the memory one parsed page holds. `iterate_windows` bounds it by the
windows open at once: each holds up to ``buffer`` (default 1,000) parsed items waiting for
the consumer plus its paginator's page, so the peak grows with ``limit``, not with the
number of windows or items. The peak also includes the raw response bodies still waiting
for Python's cyclic GC (httpx keeps each response in a reference cycle).
"""

from __future__ import annotations

import datetime as _dt
import gc
import time
import tracemalloc
from typing import Any

from ._harness import Context, fmt_seconds, interleaved, markdown_table, median
from ._payloads import CLIENT_ID, CLIENT_SECRET
from ._server import ServerProcess

NAME = "fanout"
TITLE = "Fan-out: 30 one-day windows, iterate_windows limit 1 / 4 / 16"

WINDOWS = 30
PAGE_SIZE = 500
LIMITS = (1, 4, 16)
LATENCIES_MS = (0.0, 5.0)
START = _dt.date(2024, 3, 1)
END = START + _dt.timedelta(days=WINDOWS - 1)
#: (limit, iterate_windows buffer) measured under tracemalloc; 1,000 is the default buffer.
MEMORY_CELLS = [*((limit, 1000) for limit in LIMITS), (max(LIMITS), 100)]
#: (latency ms, limit, prefetch per window): the measured cells.
CELLS = [
    *((latency, limit, 0) for latency in LATENCIES_MS for limit in LIMITS),
    *((latency, 1, 1) for latency in LATENCIES_MS),
]


def _key(latency: float, limit: int, prefetch: int) -> str:
    return f"{latency:g}ms/limit{limit}/prefetch{prefetch}"


async def _consume(
    client: Any, limit: int, prefetch: int, *, buffer: int = 1000, check: bool = False
) -> int:
    """Iterate every window's authorizations; with ``check``, verify days and order."""
    from flexiti_async.concurrency import iterate_windows

    def list_window(first: _dt.date, last: _dt.date) -> Any:
        return client.authorizations.list(
            creation_date_from=first, creation_date_to=last, page_size=PAGE_SIZE, prefetch=prefetch
        )

    count = 0
    last_day: _dt.date | None = None
    async with iterate_windows(
        list_window, START, END, days=1, limit=limit, buffer=buffer
    ) as items:
        async for item in items:
            count += 1
            if check:
                day = item.creation_date.date()
                assert START <= day <= END, day
                assert last_day is None or day >= last_day, (last_day, day)
                last_day = day
    return count


async def run(ctx: Context, server: ServerProcess) -> dict[str, Any]:
    from flexiti_async import FlexitiClient

    per_day = ctx.n(3_200, 600)  # 7 pages a day (the last one short), 2 under --quick
    mem_per_day = ctx.n(1_200, 300)  # 3 pages a day, 1 under --quick
    # The buffer comparison only means something when a window holds several pages.
    memory_cells = MEMORY_CELLS if mem_per_day > 2 * PAGE_SIZE else MEMORY_CELLS[: len(LIMITS)]
    rounds = ctx.rounds_or(3, 1)
    total = WINDOWS * per_day
    timings: dict[str, list[dict[str, float]]] = {_key(*cell): [] for cell in CELLS}
    memory: dict[str, dict[str, float]] = {}
    try:
        async with FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=server.base_url) as client:
            # Warm-up (token, connections, code paths) and a check that windows come in order.
            server.configure(latency_ms=0, per_day=120)
            assert await _consume(client, 4, 0, buffer=50, check=True) == WINDOWS * 120
            server.configure(per_day=per_day)
            for _, (latency, limit, prefetch) in interleaved(CELLS, rounds):
                server.configure(latency_ms=latency)
                server.reset()
                gc.collect()
                started = time.perf_counter()
                count = await _consume(client, limit, prefetch)
                elapsed = time.perf_counter() - started
                stats = server.stats()
                assert count == total, (count, total)
                timings[_key(latency, limit, prefetch)].append(
                    {
                        "items": count,
                        "seconds": elapsed,
                        "items_per_s": count / elapsed,
                        "requests": stats["pages"],
                        "max_in_flight": stats["max_in_flight"],
                    }
                )
                print(
                    f"  {latency:g} ms, limit {limit:2d}, prefetch {prefetch}: {count:,} items "
                    f"in {elapsed:.2f} s ({count / elapsed:,.0f} items/s, {stats['pages']} "
                    f"requests, max {stats['max_in_flight']} in flight)",
                    flush=True,
                )

            # Memory: one parsed page as held, then the peak over all windows per limit.
            latency = max(LATENCIES_MS)
            server.configure(latency_ms=latency, per_day=PAGE_SIZE)
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                page = await client.authorizations.list(
                    creation_date_from=START, creation_date_to=START, page_size=PAGE_SIZE
                )
                assert len(page.items) == PAGE_SIZE
                gc.collect()  # the response body is garbage by now: not part of a page
                one_page = tracemalloc.get_traced_memory()[0] - before
                del page
                server.configure(per_day=mem_per_day)
                for limit, buffer in memory_cells:
                    gc.collect()
                    tracemalloc.reset_peak()
                    base = tracemalloc.get_traced_memory()[0]
                    count = await _consume(client, limit, 0, buffer=buffer)
                    peak = tracemalloc.get_traced_memory()[1] - base
                    assert count == WINDOWS * mem_per_day
                    memory[f"limit{limit}/buffer{buffer}"] = {
                        "limit": limit,
                        "buffer": buffer,
                        "one_page_bytes": one_page,
                        "peak_bytes": peak,
                        "items": count,
                        "latency_ms": latency,
                    }
                    print(
                        f"  limit {limit:2d}, buffer {buffer:4d}: peak {peak / 1e6:.1f} MB over "
                        f"{count:,} items ({peak / one_page:.1f} pages; one page holds "
                        f"{one_page / 1e6:.2f} MB)",
                        flush=True,
                    )
            finally:
                tracemalloc.stop()
    finally:
        server.configure(latency_ms=0)  # leave the server as the other scenarios expect it

    def rate(latency: float, limit: int, prefetch: int) -> float:
        return median(t["items_per_s"] for t in timings[_key(latency, limit, prefetch)])

    def speedup(latency: float, limit: int, prefetch: int) -> float:
        # Paired per round: the sequential run of the same round is the baseline.
        base = timings[_key(latency, 1, 0)]
        mine = timings[_key(latency, limit, prefetch)]
        return median(b["seconds"] / m["seconds"] for b, m in zip(base, mine, strict=True))

    rows = []
    ratios: dict[str, float] = {}
    for latency, limit, prefetch in CELLS:
        key = _key(latency, limit, prefetch)
        samples = timings[key]
        gain = speedup(latency, limit, prefetch)
        ratios[f"speedup_{key}"] = gain
        mem = memory.get(f"limit{limit}/buffer1000") if prefetch == 0 else None
        rows.append(
            [
                f"{latency:g} ms",
                limit,
                prefetch,
                f"{rate(latency, limit, prefetch):,.0f}/s",
                fmt_seconds(median(t["seconds"] for t in samples)),
                f"{gain:.2f}x",
                max(t["max_in_flight"] for t in samples),
                "-"
                if mem is None or latency != mem["latency_ms"]
                else f"{mem['peak_bytes'] / 1e6:.1f} MB "
                f"({mem['peak_bytes'] / mem['one_page_bytes']:.1f} pages)",
            ]
        )
    table = markdown_table(
        [
            "latency",
            "limit",
            "prefetch",
            "items/s",
            "wall",
            "vs limit 1",
            "max in flight",
            "peak memory",
        ],
        rows,
    )
    one_page = next(iter(memory.values()))["one_page_bytes"]
    for name, mem in memory.items():
        ratios[f"peak_pages_{name}"] = mem["peak_bytes"] / one_page
    small = memory.get(f"limit{max(LIMITS)}/buffer100")
    text = (
        f"{table}\n\n{WINDOWS} one-day windows x {per_day:,} authorizations "
        f"({total:,} items, {-(-per_day // PAGE_SIZE)} pages of up to {PAGE_SIZE} a window) "
        "through `client.authorizations.list` + `iterate_windows`; median over "
        f'{rounds} interleaved round(s); "vs limit 1" is paired per round against limit 1 '
        "with prefetch 0 at the same latency. Peak memory: tracemalloc, "
        f"{WINDOWS} x {mem_per_day:,} items at {max(LATENCIES_MS):g} ms, against one parsed "
        f"page of {PAGE_SIZE} ({one_page / 1e6:.2f} MB)"
    )
    if small is not None:
        text += (
            f"; with `buffer=100` instead of the default 1,000, limit {max(LIMITS)} peaks at "
            f"{small['peak_bytes'] / 1e6:.1f} MB ({small['peak_bytes'] / one_page:.1f} pages)"
        )
    text += "."
    return {
        "title": TITLE,
        "text": text,
        "rounds": rounds,
        "windows": WINDOWS,
        "per_day": per_day,
        "page_size": PAGE_SIZE,
        "ratios": ratios,
        "samples": {"timings": timings, "memory": memory},
    }
