"""date_windows and iterate_windows (`_windows`): coverage, order, bounds, errors, cancellation.

Every async test runs under asyncio and trio. No wall-clock assertions: concurrency is
measured with high-water counters, interleavings come from Events and checkpoints.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flexiti_async.concurrency import date_windows, iterate_windows
from flexiti_async.errors import ServerError
from flexiti_async.pagination import AsyncPaginator
from tests._paging import settle, wait_until
from tests._paging_server import PagingApp

KEYS = ("authorizations", "data")


# --------------------------------------------------------------------------- date_windows


def test_date_windows_example() -> None:
    assert date_windows(date(2024, 1, 1), date(2024, 1, 10), days=4) == [
        (date(2024, 1, 1), date(2024, 1, 4)),
        (date(2024, 1, 5), date(2024, 1, 8)),
        (date(2024, 1, 9), date(2024, 1, 10)),
    ]
    assert date_windows(date(2024, 2, 28), date(2024, 3, 1)) == [
        (date(2024, 2, 28), date(2024, 2, 28)),
        (date(2024, 2, 29), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2024, 3, 1)),
    ]
    assert date_windows(date(2024, 5, 5), date(2024, 5, 5), days=30) == [
        (date(2024, 5, 5), date(2024, 5, 5))
    ]


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    span=st.integers(min_value=0, max_value=800),
    days=st.integers(min_value=1, max_value=60),
)
def test_date_windows_cover_every_day_exactly_once(start: date, span: int, days: int) -> None:
    end = start + timedelta(days=span)
    windows = date_windows(start, end, days=days)
    covered = [
        first + timedelta(days=i) for first, last in windows for i in range((last - first).days + 1)
    ]
    assert covered == [start + timedelta(days=i) for i in range(span + 1)]  # no gap, no overlap
    assert all((last - first).days + 1 == days for first, last in windows[:-1])
    assert 1 <= (windows[-1][1] - windows[-1][0]).days + 1 <= days
    assert all(a[1] + timedelta(days=1) == b[0] for a, b in itertools.pairwise(windows))


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(2024, 1, 2), date(2024, 1, 1), 1),
        (date(2024, 1, 1), date(2024, 1, 2), 0),
        (datetime(2024, 1, 1), date(2024, 1, 2), 1),
        ("2024-01-01", date(2024, 1, 2), 1),
    ],
)
def test_date_windows_rejects_bad_arguments(start: Any, end: Any, days: int) -> None:
    with pytest.raises(ValueError):
        date_windows(start, end, days=days)


# --------------------------------------------------------------------------- iterate_windows


class WindowLister:
    """``list_window`` fake: a few items per day, with concurrency and buffering counters."""

    def __init__(self, *, per_day: int = 3, fail_on: date | None = None) -> None:
        self.per_day = per_day
        self.fail_on = fail_on
        self.active = 0
        self.max_active = 0
        self.produced = 0
        self.calls: list[tuple[date, date]] = []

    async def __call__(self, first: date, last: date) -> AsyncIterator[tuple[date, int]]:
        self.calls.append((first, last))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            day = first
            while day <= last:
                for i in range(self.per_day):
                    await anyio.lowlevel.checkpoint()
                    if day == self.fail_on and i == 1:
                        raise ServerError(f"listing {day} failed", status_code=502)
                    self.produced += 1
                    yield (day, i)
                day += timedelta(days=1)
        finally:
            self.active -= 1


def expected_items(start: date, end: date, per_day: int) -> list[tuple[date, int]]:
    days = (end - start).days + 1
    return [(start + timedelta(days=d), i) for d in range(days) for i in range(per_day)]


@pytest.mark.anyio
async def test_iterate_windows_in_order_with_bounded_concurrency() -> None:
    lister = WindowLister()
    start, end = date(2024, 1, 1), date(2024, 3, 31)
    async with iterate_windows(lister, start, end, days=7, limit=4) as items:
        got = [x async for x in items]
    assert got == expected_items(start, end, 3)
    assert lister.max_active == 4
    assert lister.calls == date_windows(start, end, days=7)


@pytest.mark.anyio
async def test_iterate_windows_buffering_is_bounded() -> None:
    lister = WindowLister(per_day=20)
    consumed = 0
    high_water = 0
    async with iterate_windows(
        lister, date(2024, 1, 1), date(2024, 1, 10), limit=3, buffer=5
    ) as items:
        async for _ in items:
            consumed += 1
            await settle(5)  # slow consumer
            high_water = max(high_water, lister.produced - consumed)
    assert consumed == 10 * 20
    # At most `limit` windows open, each with `buffer` waiting and one in a worker's hand.
    assert high_water <= 3 * (5 + 1)


@pytest.mark.anyio
async def test_iterate_windows_error_arrives_in_order() -> None:
    lister = WindowLister(fail_on=date(2024, 1, 5))
    got: list[tuple[date, int]] = []

    async def consume() -> None:
        async with iterate_windows(lister, date(2024, 1, 1), date(2024, 1, 31), limit=4) as items:
            async for x in items:
                got.append(x)

    with pytest.raises(ServerError) as info:
        await consume()
    assert got == [*expected_items(date(2024, 1, 1), date(2024, 1, 4), 3), (date(2024, 1, 5), 0)]
    note = "while listing the window 2024-01-05..2024-01-05"
    assert note in getattr(info.value, "__notes__", [note])  # notes: Python 3.11+
    assert lister.active == 0


@pytest.mark.anyio
async def test_iterate_windows_break_and_cancel_leave_nothing_running() -> None:
    lister = WindowLister(per_day=100)
    async with iterate_windows(lister, date(2024, 1, 1), date(2024, 12, 31), limit=4) as items:
        async for _ in items:
            await wait_until(lambda: lister.active == 4)
            break
    assert lister.active == 0

    with anyio.CancelScope() as scope:
        async with iterate_windows(lister, date(2024, 1, 1), date(2024, 12, 31)) as items:
            async for _ in items:
                scope.cancel()
    assert scope.cancelled_caught
    assert lister.active == 0


@pytest.mark.anyio
async def test_iterate_windows_over_paginators_and_http() -> None:
    # The server's history is 100 ids per day, one day per server page; each window is
    # one AsyncPaginator over its days. Items must come back in window order, once each.
    app = PagingApp(25 * 100, shape="list")
    transport = httpx.ASGITransport(app=app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paging.test") as http:

        def list_window(first: date, last: date) -> AsyncPaginator[int]:
            offset = (first - date(2024, 1, 1)).days
            days = (last - first).days + 1

            async def fetch(page: int) -> Any:
                if page > days:
                    return []  # past the window's last day
                params = {"page_number": offset + page, "page_size": 100}
                return (await http.get("/authorizations", params=params)).json()

            return AsyncPaginator(
                fetch, lambda raw: int(raw["authorization_id"]), page_size=100, item_keys=KEYS
            )

        async with iterate_windows(
            list_window, date(2024, 1, 1), date(2024, 1, 25), days=3, limit=3
        ) as items:
            got = [x async for x in items]
    assert got == list(range(1, 2501))
    assert app.requests == 25
    assert app.max_active <= 3
