"""AsyncPaginator: options, errors carrying page numbers, and real HTTP.

Every test runs under asyncio and trio (tests/conftest.py). No wall-clock assertions:
interleavings come from anyio Events and checkpoints; bounds are checked with counters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from flexiti_async.errors import ResponseValidationError, ServerError
from flexiti_async.pagination import AsyncPaginator
from tests._paging import KEYS, FakeHistory, parse
from tests._paging_server import PagingApp, serve_in_thread

pytestmark = pytest.mark.anyio

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
