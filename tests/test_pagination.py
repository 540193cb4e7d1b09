"""AsyncPaginator: end-of-history rules, contract violations, prefetch bounds, lifetimes.

Every test runs under asyncio and trio (tests/conftest.py). No wall-clock assertions:
interleavings come from anyio Events and checkpoints; bounds are checked with counters.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import httpx
import pytest

from flexiti_async.errors import PaginationError, ResponseValidationError, ServerError
from flexiti_async.pagination import AsyncPaginator, Page
from tests._paging_server import SHAPES, PagingApp, envelope, serve_in_thread

pytestmark = pytest.mark.anyio

KEYS = ("authorizations", "captures", "data", "items", "results", "content")


def parse(raw: Any) -> int:
    return int(raw["authorization_id"])


class FakeHistory:
    """A fake ``fetch`` over ids 1..total, with gates, failures and counters."""

    def __init__(
        self,
        total: int,
        *,
        page_size: int = 100,
        shape: str = "list",
        serve_size: int | None = None,
        page_map: Callable[[int], int] | None = None,
    ) -> None:
        self.total = total
        self.page_size = page_size
        self.serve_size = serve_size or page_size  # a server capping page_size
        self.shape = shape
        self.page_map = page_map  # which page the server really serves for a request
        self.requests: list[int] = []
        self.active = 0
        self.cancelled = 0
        self.gates: dict[int, anyio.Event] = {}
        self.fail_at: dict[int, Exception] = {}

    async def fetch(self, page: int) -> Any:
        self.requests.append(page)
        self.active += 1
        try:
            await anyio.lowlevel.checkpoint()
            gate = self.gates.get(page)
            if gate is not None:
                await gate.wait()
            if page in self.fail_at:
                raise self.fail_at.pop(page)
            served = self.page_map(page) if self.page_map else page
            size = self.serve_size
            start = (served - 1) * size
            items = [
                {"authorization_id": i} for i in range(start + 1, min(start + size, self.total) + 1)
            ]
            body = envelope(
                self.shape, items, page=served, size=size, total=self.total, key="authorizations"
            )
            return body
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.active -= 1


async def wait_until(predicate: Callable[[], bool], *, timeout: float = 5) -> None:
    """Yield to other tasks until ``predicate()`` holds (a bounded wait, not a timing test)."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.lowlevel.checkpoint()


async def settle(rounds: int = 50) -> None:
    for _ in range(rounds):
        await anyio.lowlevel.checkpoint()


def expected_requests(total: int, size: int, shape: str) -> int:
    pages = math.ceil(total / size)
    if shape in ("list", "plain"):
        # Without counts a full last page costs exactly one empty request beyond the end.
        return pages + 1 if total % size == 0 else pages
    return max(pages, 1)


# --------------------------------------------------------------------------- end of history


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("total", [0, 1, 99, 100, 101, 1000])
async def test_every_item_once_and_at_most_one_request_beyond_the_end(
    shape: str, total: int
) -> None:
    history = FakeHistory(total, shape=shape)
    paginator = AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100)
    items = [item async for item in paginator]
    assert items == list(range(1, total + 1))
    assert history.requests == list(range(1, expected_requests(total, 100, shape) + 1))


@pytest.mark.parametrize("shape", SHAPES)
async def test_pages_mark_the_last_one(shape: str) -> None:
    history = FakeHistory(250, shape=shape)
    pages = [
        page
        async for page in AsyncPaginator(
            history.fetch, parse, item_keys=KEYS, page_size=100
        ).pages()
    ]
    assert [p.page_number for p in pages] == [1, 2, 3]
    assert [p.is_last for p in pages] == [False, False, True]
    assert [p.raw_count for p in pages] == [100, 100, 50]
    assert pages[0].has_more
    assert not pages[-1].has_more


async def test_envelope_counts_are_exposed_on_the_page() -> None:
    history = FakeHistory(250, shape="total_pages")
    page = await AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100)
    assert isinstance(page, Page)
    assert page.items == tuple(range(1, 101))
    assert (page.page_number, page.page_size, page.total_pages, page.is_last) == (1, 100, 3, False)
    assert history.requests == [1]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        page.page_number = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ({"data": [{"authorization_id": 1}], "last": True}, 1),
        (
            {"items": [{"authorization_id": 1}] * 0 + [{"authorization_id": 2}], "has_more": False},
            1,
        ),
        ({"results": [{"authorization_id": 1}], "next": None}, 1),
        ({"content": [{"authorization_id": 1}], "next_page": None}, 1),
        ({"data": [{"authorization_id": 1}], "total": 1}, 1),
        ({"data": [{"authorization_id": 1}], "total_items": "1"}, 1),
        ({"data": None, "total_count": 0}, 0),
    ],
)
async def test_each_envelope_ending_costs_no_extra_request(body: Any, count: int) -> None:
    calls: list[int] = []

    async def fetch(n: int) -> Any:
        calls.append(n)
        return body

    items = [x async for x in AsyncPaginator(fetch, parse, page_size=100)]
    assert len(items) == count
    assert calls == [1]


async def test_first_present_item_key_wins() -> None:
    async def fetch(n: int) -> Any:
        return {
            "authorizations": [{"authorization_id": 7}],
            "data": [{"authorization_id": 8}],
        }

    items = [x async for x in AsyncPaginator(fetch, parse, page_size=10, item_keys=KEYS)]
    assert items == [7]


async def test_short_page_counts_raw_items_not_filtered_ones() -> None:
    history = FakeHistory(1000)
    paginator = AsyncPaginator(
        history.fetch, parse, item_keys=KEYS, page_size=100, item_filter=lambda i: i % 250 == 0
    )
    assert [x async for x in paginator] == [250, 500, 750, 1000]
    # Pages 1-10 are full (even though the filter emptied most), page 11 is empty.
    assert history.requests == list(range(1, 12))


@pytest.mark.parametrize("shape", ["plain", "has_more", "total_count"])
async def test_server_capping_page_size_does_not_truncate(shape: str) -> None:
    # We ask for 100, the server sends 40 and says so (page_size echo, has_more or counts).
    history = FakeHistory(200, page_size=100, serve_size=40, shape=shape)
    items = [x async for x in AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100)]
    assert items == list(range(1, 201))
    assert len(history.requests) <= 6  # 5 pages, at most one beyond the end


# --------------------------------------------------------------------------- contract errors


@pytest.mark.parametrize("shape", ["list", "total_pages", "has_more"])
async def test_repeated_page_raises_instead_of_looping(shape: str) -> None:
    history = FakeHistory(1000, shape=shape, page_map=lambda n: 1)  # ignores page_number
    with pytest.raises(PaginationError) as info:
        async for _ in AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100):
            pass
    assert info.value.page_number == 2
    assert "repeats page 1" in str(info.value)
    assert history.requests == [1, 2]


async def test_cycling_pages_are_caught() -> None:
    history = FakeHistory(1000, page_map=lambda n: 1 + (n - 1) % 2)  # 1, 2, 1, 2, ...
    with pytest.raises(PaginationError) as info:
        async for _ in AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100):
            pass
    assert info.value.page_number == 3
    assert history.requests == [1, 2, 3]


async def test_max_pages_is_a_hard_bound() -> None:
    history = FakeHistory(10**9, shape="has_more")  # a history that never ends
    with pytest.raises(PaginationError, match="max_pages") as info:
        async for _ in AsyncPaginator(
            history.fetch, parse, item_keys=KEYS, page_size=10, max_pages=5
        ):
            pass
    assert info.value.page_number == 6
    assert history.requests == [1, 2, 3, 4, 5]


async def test_envelope_without_item_keys_names_keys_not_values() -> None:
    async def fetch(n: int) -> Any:
        return {"total": 1, "records": [{"vcc_number": "4111111111111111"}]}

    with pytest.raises(PaginationError) as info:
        await AsyncPaginator(fetch, parse, page_size=10, item_keys=("authorizations",))
    message = str(info.value)
    for key in ("records", "total", "authorizations"):
        assert key in message
    assert "4111" not in message
    assert info.value.page_number == 1


@pytest.mark.parametrize("body", [{"data": {"a": 1}}, "oops", 42, None])
async def test_unusable_bodies_raise_pagination_error(body: Any) -> None:
    async def fetch(n: int) -> Any:
        return body

    with pytest.raises(PaginationError):
        async for _ in AsyncPaginator(fetch, parse, page_size=10):
            pass


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("mode", ["plain", "spawn", "prefetching"])
async def test_max_items_fetches_no_page_it_does_not_need(mode: str) -> None:
    history = FakeHistory(1000)
    async with anyio.create_task_group() as tg:
        paginator = AsyncPaginator(
            history.fetch,
            parse,
            item_keys=KEYS,
            page_size=100,
            max_items=250,
            spawn=tg.start_soon if mode == "spawn" else None,
        )
        items = await drain(paginator, mode)
    assert items == list(range(1, 251))
    assert history.requests == [1, 2, 3]
    assert paginator.stats.in_flight == 0


async def test_max_items_with_filter_and_zero() -> None:
    history = FakeHistory(1000)
    paginator = AsyncPaginator(
        history.fetch,
        parse,
        item_keys=KEYS,
        page_size=100,
        max_items=75,
        item_filter=lambda i: i % 2 == 0,
    )
    assert [x async for x in paginator] == list(range(2, 151, 2))
    assert history.requests == [1, 2]
    nothing = AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100, max_items=0)
    assert [x async for x in nothing] == []
    assert history.requests == [1, 2]


async def test_item_filter_applies_to_items_and_keeps_raw_count() -> None:
    history = FakeHistory(300, shape="total_count")
    paginator = AsyncPaginator(
        history.fetch, parse, item_keys=KEYS, page_size=100, item_filter=lambda i: i % 3 == 1
    )
    pages = [p async for p in paginator.pages()]
    assert [p.raw_count for p in pages] == [100, 100, 100]
    assert [x for p in pages for x in p.items] == list(range(1, 301, 3))
    assert history.requests == [1, 2, 3]


@pytest.mark.parametrize("shape", ["list", "total_count", "total_pages"])
async def test_resume_from_start_page(shape: str) -> None:
    history = FakeHistory(1000, shape=shape)
    items = [
        x
        async for x in AsyncPaginator(
            history.fetch, parse, item_keys=KEYS, page_size=100, start_page=4
        )
    ]
    assert items == list(range(301, 1001))
    assert history.requests[:7] == list(range(4, 11))
    assert len(history.requests) == (8 if shape == "list" else 7)


@pytest.mark.parametrize("mode", ["plain", "spawn", "prefetching"])
async def test_error_mid_iteration_carries_page_number_and_resumes(mode: str) -> None:
    history = FakeHistory(1000)
    history.fail_at[3] = ServerError("HTTP 503", status_code=503, reference_id="r" * 32)
    got: list[int] = []
    async with anyio.create_task_group() as tg:
        spawn = tg.start_soon if mode == "spawn" else None
        paginator = AsyncPaginator(history.fetch, parse, item_keys=KEYS, page_size=100, spawn=spawn)

        async def consume() -> None:
            if mode == "prefetching":
                async with paginator.prefetching() as items:
                    async for x in items:
                        got.append(x)
            else:
                async for x in paginator:
                    got.append(x)

        with pytest.raises(ServerError) as info:
            await consume()
    error = info.value
    assert error.page_number == 3
    assert error.reference_id == "r" * 32
    assert "while fetching page 3" in getattr(error, "__notes__", ["while fetching page 3"])
    assert got == list(range(1, 201))
    assert paginator.stats.in_flight == 0
    rest = AsyncPaginator(
        history.fetch, parse, item_keys=KEYS, page_size=100, start_page=error.page_number
    )
    assert [x async for x in rest] == list(range(201, 1001))


async def test_parse_errors_carry_page_number() -> None:
    history = FakeHistory(300)

    def strict(raw: Any) -> int:
        if raw["authorization_id"] == 150:
            raise ResponseValidationError("bad item", reference_id=None, status_code=200)
        return parse(raw)

    with pytest.raises(ResponseValidationError) as info:
        async for _ in AsyncPaginator(history.fetch, strict, item_keys=KEYS, page_size=100):
            pass
    assert info.value.page_number == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page_size": 0},
        {"page_size": 10, "prefetch": -1},
        {"page_size": 10, "start_page": 0},
        {"page_size": 10, "max_items": -1},
        {"page_size": 10, "item_keys": "data"},
        {"page_size": 10, "max_pages": 0},
        {"page_size": True},
    ],
)
async def test_bad_arguments_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AsyncPaginator(FakeHistory(1).fetch, parse, **kwargs)


# --------------------------------------------------------------------------- real HTTP


def http_fetch(http: httpx.AsyncClient, page_size: int) -> Callable[[int], Awaitable[Any]]:
    async def fetch(page: int) -> Any:
        response = await http.get(
            "/authorizations", params={"page_number": page, "page_size": page_size}
        )
        if response.status_code >= 400:
            raise ServerError(f"HTTP {response.status_code}", status_code=response.status_code)
        return response.json()

    return fetch


async def drain(paginator: AsyncPaginator[int], mode: str) -> list[int]:
    if mode == "prefetching":
        async with paginator.prefetching() as items:
            return [x async for x in items]
    return [x async for x in paginator]


@pytest.mark.parametrize(
    ("shape", "mode"),
    [
        ("list", "plain"),
        ("list", "spawn"),
        ("total_pages", "spawn"),
        ("total_pages", "prefetching"),
    ],
)
async def test_25000_items_over_asgi(shape: str, mode: str) -> None:
    app = PagingApp(25_000, shape=shape)
    transport = httpx.ASGITransport(app=app.app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://paging.test") as http,
        anyio.create_task_group() as tg,
    ):
        paginator = AsyncPaginator(
            http_fetch(http, 500),
            parse,
            page_size=500,
            item_keys=KEYS,
            spawn=tg.start_soon if mode == "spawn" else None,
        )
        items = await drain(paginator, mode)
    assert items == list(range(1, 25_001))
    assert app.requests == (51 if shape == "list" else 50)
    assert app.pages_requested == list(range(1, app.requests + 1))
    assert paginator.stats.max_pages_held <= (1 if mode == "plain" else 2)


@pytest.mark.parametrize("mode", ["spawn", "prefetching"])
async def test_25000_items_over_loopback_socket(mode: str) -> None:
    app = PagingApp(25_001, shape="total_count")
    with serve_in_thread(app.app) as base_url:
        async with (
            httpx.AsyncClient(base_url=base_url) as http,
            anyio.create_task_group() as tg,
        ):
            paginator = AsyncPaginator(
                http_fetch(http, 1000),
                parse,
                page_size=1000,
                item_keys=KEYS,
                spawn=tg.start_soon if mode == "spawn" else None,
            )
            items = await drain(paginator, mode)
    assert items == list(range(1, 25_002))
    assert app.pages_requested == list(range(1, 27))


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
