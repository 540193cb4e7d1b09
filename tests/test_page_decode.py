"""Where a history ends and how a broken paging contract is caught (`_page_decode`),
through the paginator and directly.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from flexiti_async._page_decode import PageDecoder, PageSettings
from flexiti_async.errors import InvalidRequestError, PaginationError
from flexiti_async.pagination import AsyncPaginator, Page
from tests._paging import KEYS, FakeHistory, expected_requests, parse
from tests._paging_server import SHAPES

pytestmark = pytest.mark.anyio

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


# --------------------------------------------------------------------------- pure decoding


def test_decoder_reads_pages_without_io() -> None:
    decoder = PageDecoder(PageSettings(page_size=2))
    first = decoder.decode(1, [{"id": 1}, {"id": 2}])
    assert (first.number, first.items, first.is_last) == (1, [{"id": 1}, {"id": 2}], False)
    last = decoder.decode(2, {"data": [{"id": 3}], "total_count": "3", "total_pages": 2})
    assert (last.items, last.total_count, last.total_pages, last.is_last) == (
        [{"id": 3}],
        3,
        2,
        True,
    )
    assert decoder.pages == 2


def test_decoder_counts_skipped_pages_when_resuming() -> None:
    decoder = PageDecoder(PageSettings(page_size=2, start_page=3))
    # Items 5 and 6 of 6: the server's total includes the four on pages 1-2.
    page = decoder.decode(3, {"items": [{"id": 5}, {"id": 6}], "total_count": 6})
    assert page.is_last


def test_decoder_budget() -> None:
    decoder = PageDecoder(PageSettings(page_size=1, max_pages=1))
    decoder.check_budget(1)
    decoder.decode(1, [{"id": 1}])
    with pytest.raises(PaginationError) as info:
        decoder.check_budget(2)
    assert info.value.page_number == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 5, "start_page": 0}, "page_number"),
        ({"page_size": 5, "prefetch": -1}, "prefetch"),
        ({"page_size": 5, "max_items": True}, "max_items"),
        ({"page_size": 5, "max_pages": 0}, "max_pages"),
        ({"page_size": 5, "item_keys": "data"}, "item_keys"),
    ],
)
def test_settings_are_checked_once_under_the_callers_names(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        PageSettings.checked(start_field="page_number", **kwargs)
    assert info.value.field == field
    assert PageSettings.checked(page_size=5, max_items=None).max_items is None
