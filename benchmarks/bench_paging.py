"""Paging: a long authorizations history through `AsyncPaginator` over loopback HTTP.

The public path: ``client.authorizations.list(page_size=500, prefetch=p)`` (the full
pipeline: token, admission, JSON decode with Decimal, an `Authorization` per item); the
loopback server is told how long the history is (``authorizations_total``). prefetch 0
iterates sequentially; prefetch 1 uses ``paginator.prefetching()`` (the next page is
fetched while the current one is parsed and consumed).

Memory is measured in separate, shorter runs under tracemalloc (it slows Python down
several times): the peak while iterating N pages and 3N pages, against the memory one
parsed page holds. If the paginator streams, the peak does not grow with the history.
The peaks include response bodies that are already garbage but not yet freed: httpx
0.28 keeps every response in a reference cycle with its stream (encode/httpx#3733), so a
body lives until the cyclic GC reaches it, and with few full collections over a long run
that adds up to a few pages on top of what the paginator holds.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

from ._harness import Context, interleaved, markdown_table, median
from ._payloads import CLIENT_ID, CLIENT_SECRET, PageTemplate
from ._server import ServerProcess

NAME = "paging"
TITLE = "Paging: AsyncPaginator, page_size 500, prefetch 0 / 1"

PAGE_SIZE = 500
PREFETCH = (0, 1)


def _paginator(client: Any, server: ServerProcess, total: int, prefetch: int) -> Any:
    server.configure(authorizations_total=total)  # before the first page is requested
    return client.authorizations.list(page_size=PAGE_SIZE, prefetch=prefetch)


async def _consume(paginator: Any, prefetch: int) -> int:
    count = 0
    if prefetch:
        async with paginator.prefetching() as items:
            async for _ in items:
                count += 1
    else:
        async for _ in paginator:
            count += 1
    return count


async def run(ctx: Context, server: ServerProcess) -> dict[str, Any]:
    from flexiti_async import FlexitiClient

    total = ctx.n(1_000_000, 50_000)
    rounds = ctx.rounds_or(1, 2)
    mem_pages = ctx.n(20, 8)
    timings: dict[int, list[dict[str, float]]] = {p: [] for p in PREFETCH}
    memory: dict[int, dict[str, float]] = {}
    async with FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=server.base_url) as client:
        # Warm-up: token, code paths.
        await _consume(_paginator(client, server, 2 * PAGE_SIZE, 0), 0)
        for _, prefetch in interleaved(PREFETCH, rounds):
            paginator = _paginator(client, server, total, prefetch)
            gc.collect()
            started = time.perf_counter()
            count = await _consume(paginator, prefetch)
            elapsed = time.perf_counter() - started
            assert count == total, (count, total)
            timings[prefetch].append(
                {"items": count, "seconds": elapsed, "items_per_s": count / elapsed}
            )
            print(
                f"  prefetch={prefetch}: {count:,} items in {elapsed:.2f} s "
                f"({count / elapsed:,.0f} items/s, {paginator.stats.requests} requests, "
                f"max pages held {paginator.stats.max_pages_held})",
                flush=True,
            )

        # Memory: one parsed page as held, then the peak over short and 3x longer runs.
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            page = await _paginator(client, server, PAGE_SIZE * 2, 0)
            gc.collect()  # the response body is garbage by now: not part of a page
            one_page = tracemalloc.get_traced_memory()[0] - before
            del page
            for prefetch in PREFETCH:
                peaks = []
                for pages in (mem_pages, 3 * mem_pages):
                    gc.collect()
                    tracemalloc.reset_peak()
                    base = tracemalloc.get_traced_memory()[0]
                    paginator = _paginator(client, server, pages * PAGE_SIZE, prefetch)
                    await _consume(paginator, prefetch)
                    del paginator
                    peaks.append(tracemalloc.get_traced_memory()[1] - base)
                memory[prefetch] = {
                    "one_page_bytes": one_page,
                    f"peak_bytes_{mem_pages}_pages": peaks[0],
                    f"peak_bytes_{3 * mem_pages}_pages": peaks[1],
                }
                print(
                    f"  prefetch={prefetch}: peak {peaks[0] / 1e6:.1f} MB over {mem_pages} "
                    f"pages, {peaks[1] / 1e6:.1f} MB over {3 * mem_pages} pages; one page "
                    f"holds {one_page / 1e6:.1f} MB",
                    flush=True,
                )
        finally:
            tracemalloc.stop()

    wire_page = len(PageTemplate().page(1, PAGE_SIZE, PAGE_SIZE))
    base_rate = median(t["items_per_s"] for t in timings[0])
    rows = []
    for prefetch in PREFETCH:
        rate = median(t["items_per_s"] for t in timings[prefetch])
        mem = memory[prefetch]
        short = mem[f"peak_bytes_{mem_pages}_pages"]
        long = mem[f"peak_bytes_{3 * mem_pages}_pages"]
        rows.append(
            [
                prefetch,
                f"{total:,}",
                f"{rate:,.0f}/s",
                f"{rate / base_rate:.2f}x",
                f"{short / 1e6:.1f} MB ({short / one_page:.1f} pages)",
                f"{long / 1e6:.1f} MB ({long / one_page:.1f} pages)",
            ]
        )
    table = markdown_table(
        [
            "prefetch",
            "items",
            "items/s",
            "vs prefetch 0",
            f"peak, {mem_pages} pages",
            f"peak, {3 * mem_pages} pages",
        ],
        rows,
    )
    text = (
        f"{table}\n\nOne parsed page of {PAGE_SIZE} `Authorization`s holds "
        f"{one_page / 1e6:.2f} MB (models + the raw dicts they keep); its JSON body is "
        f"{wire_page / 1e3:.0f} kB. Peaks are tracemalloc peaks above the baseline, "
        "including the response bytes, decoding transients and response bodies that wait "
        "for the cyclic GC (an httpx reference cycle, see the module docstring)."
    )
    return {
        "title": TITLE,
        "text": text,
        "rounds": rounds,
        "samples": {"timings": timings, "memory": memory},
    }
