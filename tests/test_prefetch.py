"""Fetching ahead (`_prefetch`): bounds on pages held, early exit, cancellation and the
``spawn`` contract.

No wall-clock assertions: interleavings come from anyio Events and checkpoints; bounds are
checked with counters.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from flexiti_async.errors import ServerError
from flexiti_async.pagination import AsyncPaginator
from tests._paging import KEYS, FakeHistory, parse, settle, wait_until

pytestmark = pytest.mark.anyio

# --------------------------------------------------------------------------- prefetch bounds


@pytest.mark.parametrize("prefetch", [1, 2, 3])
async def test_prefetch_never_holds_more_than_the_bound(prefetch: int) -> None:
    history = FakeHistory(2000)  # 20 pages
    async with anyio.create_task_group() as tg:
        paginator = AsyncPaginator(
            history.fetch,
            parse,
            item_keys=KEYS,
            page_size=100,
            prefetch=prefetch,
            spawn=tg.start_soon,
        )
        got: list[int] = []
        async for x in paginator:
            if x % 100 == 1:
                # Slow consumer: at the start of each page let the fetcher run until it stops.
                page = (x - 1) // 100 + 1
                ahead = min(page + prefetch, 21)  # page 21 is the empty one
                await wait_until(
                    lambda ahead=ahead: len(history.requests) >= ahead and history.active == 0
                )
                await settle()
                # Fetched but not consumed never exceeds `prefetch`: it stopped by itself.
                assert len(history.requests) == ahead
            got.append(x)
    assert got == list(range(1, 2001))
    assert paginator.stats.max_pages_held == 1 + prefetch
    assert paginator.stats.in_flight == 0
    assert history.requests == list(range(1, 22))  # 20 pages + one empty


async def test_without_spawn_plain_iteration_is_sequential() -> None:
    history = FakeHistory(1000)
    paginator = AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100, prefetch=3)
    async for x in paginator:
        if x % 100 == 1:
            await settle()
            assert len(history.requests) == (x - 1) // 100 + 1  # nothing fetched ahead
    assert paginator.stats.max_pages_held == 1
    assert paginator.stats.requests == 11


async def test_prefetch_zero_disables_spawn() -> None:
    history = FakeHistory(500)
    spawned: list[object] = []
    paginator = AsyncPaginator(
        history.fetch, parse, item_keys=KEYS, page_size=100, prefetch=0, spawn=spawned.append
    )
    assert [x async for x in paginator] == list(range(1, 501))
    assert spawned == []


async def test_prefetching_form_prefetches_without_spawn() -> None:
    history = FakeHistory(1000)
    paginator = AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100)
    async with paginator.prefetching() as items:
        async for x in items:
            if x == 1:
                await wait_until(lambda: len(history.requests) == 2 and history.active == 0)
    assert paginator.stats.max_pages_held == 2


# --------------------------------------------------------------------------- early exit


async def test_break_with_spawn_leaves_at_most_one_fetch_which_then_ends() -> None:
    history = FakeHistory(1000)
    history.gates[2] = anyio.Event()
    async with anyio.create_task_group() as tg:
        paginator = AsyncPaginator(
            history.fetch, parse, item_keys=KEYS, page_size=100, spawn=tg.start_soon
        )
        async for _ in paginator:
            break
        await wait_until(lambda: history.active == 1)  # the page-2 prefetch is in flight
        assert paginator.stats.in_flight == 1
        history.gates[2].set()
        await wait_until(lambda: paginator.stats.in_flight == 0)
        await settle()
    assert history.requests == [1, 2]  # it finished, and nothing more was fetched


async def test_aclose_cancels_the_prefetch_at_once() -> None:
    history = FakeHistory(1000)
    history.gates[2] = anyio.Event()
    async with anyio.create_task_group() as tg:
        paginator = AsyncPaginator(
            history.fetch, parse, item_keys=KEYS, page_size=100, spawn=tg.start_soon
        )
        items = aiter(paginator)
        assert await anext(items) == 1
        await wait_until(lambda: history.active == 1)
        await items.aclose()
        await wait_until(lambda: paginator.stats.in_flight == 0)
        with pytest.raises(StopAsyncIteration):
            await anext(items)
    assert history.cancelled == 1
    assert history.requests == [1, 2]


async def test_prefetching_exit_leaves_nothing_running() -> None:
    history = FakeHistory(1000)
    history.gates[2] = anyio.Event()
    paginator = AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100)
    async with paginator.prefetching() as items:
        async for _ in items:
            break
        await wait_until(lambda: history.active == 1)
    # No waiting after the block: the in-flight fetch was cancelled on exit.
    assert history.active == 0
    assert history.cancelled == 1
    assert paginator.stats.in_flight == 0


@pytest.mark.parametrize("mode", ["plain", "spawn", "prefetching"])
async def test_cancelling_the_consumer_mid_iteration(mode: str) -> None:
    history = FakeHistory(1000)
    history.gates[2] = anyio.Event()  # never set: page 2 hangs until cancelled
    got: list[int] = []
    async with anyio.create_task_group() as tg:
        paginator = AsyncPaginator(
            history.fetch,
            parse,
            item_keys=KEYS,
            page_size=100,
            spawn=tg.start_soon if mode == "spawn" else None,
        )
        with anyio.CancelScope() as scope:
            if mode == "prefetching":
                async with paginator.prefetching() as items:
                    async for x in items:
                        got.append(x)
                        if x == 100:
                            scope.cancel()
            else:
                async for x in paginator:
                    got.append(x)
                    if x == 100:
                        scope.cancel()
        assert scope.cancelled_caught
        await wait_until(lambda: history.active == 0 and paginator.stats.in_flight == 0)
    assert got == list(range(1, 101))
    # The page-2 fetch was cancelled if it had started at all (under trio the prefetch
    # may not even have started before the consumer was cancelled).
    assert history.requests in ([1], [1, 2])
    assert history.cancelled == len(history.requests) - 1


async def test_exceptions_in_the_prefetching_body_are_not_wrapped() -> None:
    history = FakeHistory(1000)
    paginator = AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100)

    async def consume() -> None:
        async with paginator.prefetching() as items:
            async for x in items:
                if x == 150:
                    raise ServerError("boom", status_code=500)

    with pytest.raises(ServerError) as info:
        await consume()
    assert type(info.value) is ServerError
    assert paginator.stats.in_flight == 0


async def test_two_tasks_cannot_share_one_iterator() -> None:
    history = FakeHistory(1000)
    history.gates[1] = anyio.Event()
    items = aiter(AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100))
    async with anyio.create_task_group() as tg:
        tg.start_soon(anext, items)
        await wait_until(lambda: history.active == 1)
        with pytest.raises(RuntimeError, match="another task"):
            await anext(items)
        history.gates[1].set()


# --------------------------------------------------------------------------- spawn contract


async def test_spawned_fetches_see_the_consumers_context() -> None:
    reference = contextvars.ContextVar[str | None]("reference", default=None)
    history = FakeHistory(500)
    seen: list[str | None] = []

    async def fetch(page: int) -> Any:
        seen.append(reference.get())
        return await history.fetch(page)

    async with anyio.create_task_group() as tg:  # like a client's long-lived task group
        token = reference.set("flow-1")
        try:
            paginator = AsyncPaginator(
                fetch, parse, page_size=100, item_keys=KEYS, spawn=tg.start_soon
            )
            assert [x async for x in paginator] == list(range(1, 501))
        finally:
            reference.reset(token)
    assert seen == ["flow-1"] * 6


async def test_a_failing_spawn_falls_back_to_sequential() -> None:
    history = FakeHistory(500)

    def closed_spawn(fn: object) -> None:
        raise RuntimeError("This task group is not active")

    paginator = AsyncPaginator(
        history.fetch, parse, item_keys=KEYS, page_size=100, spawn=closed_spawn
    )
    assert [x async for x in paginator] == list(range(1, 501))
    assert paginator.stats.in_flight == 0


async def test_client_task_group_closing_mid_prefetch_falls_back_inline() -> None:
    history = FakeHistory(500)
    history.gates[2] = anyio.Event()
    ready = anyio.Event()
    holder: dict[str, anyio.abc.TaskGroup] = {}

    async def client() -> None:  # owns a long-lived task group, as FlexitiClient will
        async with anyio.create_task_group() as tg:
            holder["tg"] = tg
            ready.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as outer:
        outer.start_soon(client)
        await ready.wait()
        client_tg = holder["tg"]
        paginator = AsyncPaginator(
            history.fetch, parse, item_keys=KEYS, page_size=100, spawn=client_tg.start_soon
        )
        got: list[int] = []
        async for x in paginator:
            got.append(x)
            if x == 1:
                await wait_until(lambda: history.active == 1)
                client_tg.cancel_scope.cancel()  # the client is closing
                await wait_until(lambda: paginator.stats.in_flight == 0)
                history.gates[2].set()
    assert got == list(range(1, 501))
    assert history.cancelled == 1
    assert history.requests.count(2) == 2  # cancelled in the background, refetched inline


async def test_pages_iterator_is_an_async_context_manager() -> None:
    history = FakeHistory(1000)
    async with anyio.create_task_group() as tg:
        paginator = AsyncPaginator(
            history.fetch, parse, item_keys=KEYS, page_size=100, spawn=tg.start_soon
        )
        async with paginator.pages() as pages:
            async for page in pages:
                assert page.page_number == 1
                break
        await wait_until(lambda: paginator.stats.in_flight == 0)


async def _agen(paginator: AsyncPaginator[int]) -> AsyncIterator[int]:
    async for x in paginator:
        yield x


async def test_prefetching_pages_yields_pages() -> None:
    history = FakeHistory(250, shape="last")
    paginator = AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100, prefetch=2)
    async with paginator.prefetching_pages() as pages:
        numbers = [p.page_number async for p in pages]
    assert numbers == [1, 2, 3]
    assert history.requests == [1, 2, 3]
