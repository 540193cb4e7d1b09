"""AsyncPaginator memory: how many parsed items are alive while the next page is fetched.

The bound is ``1 + prefetch`` pages, and only one of them parsed: the page being consumed.
When the consumer moves on, the finished page must be released *before* the next page is
fetched and parsed, otherwise two pages of models are alive at the peak.

Counted with a WeakSet of live items, no timing. Items hold no reference cycles, so on
CPython an item dies with its last reference; elsewhere each count runs ``gc.collect()``
first. Runs under asyncio and trio (conftest.py).
"""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from flexiti_async.pagination import AsyncPaginator

pytestmark = pytest.mark.anyio

PAGE_SIZE = 50
_NO_REFCOUNT = sys.implementation.name != "cpython"


class Item:
    """A parsed item that can be counted while alive."""

    __slots__ = ("__weakref__", "id")

    def __init__(self, item_id: int) -> None:
        self.id = item_id


class History:
    """``total`` items as bare-list pages; records how many items were alive at each step."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.live: weakref.WeakSet[Item] = weakref.WeakSet()
        self.alive_at_fetch: dict[int, int] = {}
        self.max_alive_while_parsing = 0
        self.parsed = 0

    def alive(self, *, collect: bool = _NO_REFCOUNT) -> int:
        if collect:
            gc.collect()
        return len(self.live)

    async def fetch(self, number: int) -> Any:
        await anyio.lowlevel.checkpoint()
        self.alive_at_fetch[number] = self.alive()
        start = (number - 1) * PAGE_SIZE
        return [{"id": i} for i in range(start, min(start + PAGE_SIZE, self.total))]

    def parse(self, raw: Any) -> Item:
        if self.parsed % PAGE_SIZE == 0:  # once per page: before its first item exists
            self.max_alive_while_parsing = max(self.max_alive_while_parsing, self.alive())
        self.parsed += 1
        item = Item(raw["id"])
        self.live.add(item)
        return item


async def test_plain_iteration_releases_a_page_before_fetching_the_next() -> None:
    history = History(20 * PAGE_SIZE)
    paginator = AsyncPaginator(history.fetch, history.parse, page_size=PAGE_SIZE, prefetch=0)
    seen = 0
    async for item in paginator:
        seen += 1
        assert item.id == seen - 1
    assert seen == 20 * PAGE_SIZE
    assert sorted(history.alive_at_fetch) == list(range(1, 22))  # 20 pages + an empty one
    # At most the consumer's loop variable (the last item handed out) is still alive.
    assert max(history.alive_at_fetch.values()) <= 1
    del item
    assert history.alive(collect=True) == 0


@pytest.mark.parametrize("mode", ["spawn", "prefetching"])
async def test_prefetch_keeps_one_parsed_page(mode: str) -> None:
    history = History(20 * PAGE_SIZE)
    seen = 0
    async with anyio.create_task_group() as tg:
        paginator = AsyncPaginator(
            history.fetch,
            history.parse,
            page_size=PAGE_SIZE,
            prefetch=1,
            spawn=tg.start_soon if mode == "spawn" else None,
        )
        if mode == "spawn":
            async for _ in paginator:
                seen += 1
        else:
            async with paginator.prefetching() as items:
                async for _ in items:
                    seen += 1
    assert seen == 20 * PAGE_SIZE
    assert paginator.stats.max_pages_held <= 2
    # The page being consumed may be alive while the next one is fetched...
    assert max(history.alive_at_fetch.values()) <= PAGE_SIZE
    # ...but it is gone (bar the loop variable) before the next one is parsed.
    assert history.max_alive_while_parsing <= 1
    del _
    assert history.alive(collect=True) == 0


@pytest.mark.parametrize("pages", [5, 40])
async def test_live_items_do_not_grow_with_the_history(pages: int) -> None:
    history = History(pages * PAGE_SIZE)
    paginator = AsyncPaginator(history.fetch, history.parse, page_size=PAGE_SIZE, prefetch=0)
    iterator = aiter(paginator)
    count = 0
    async for _ in iterator:
        count += 1
    del _
    assert count == pages * PAGE_SIZE
    assert history.max_alive_while_parsing <= 1  # the same for 5 pages and for 40
    assert history.alive(collect=True) == 0  # the finished iterator holds no page
    await iterator.aclose()
