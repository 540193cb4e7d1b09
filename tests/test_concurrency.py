"""bounded_map, date_windows, iterate_windows: limits, order, errors, cancellation, memory.

Every async test runs under asyncio and trio. No wall-clock assertions: concurrency is
measured with high-water counters, interleavings come from Events and checkpoints.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flexiti_async.concurrency import Outcome, bounded_map, date_windows, iterate_windows
from flexiti_async.errors import NotFoundError, ServerError
from flexiti_async.pagination import AsyncPaginator
from tests._paging_server import PagingApp

KEYS = ("authorizations", "data")


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await anyio.lowlevel.checkpoint()


async def wait_until(predicate: Callable[[], bool], *, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.lowlevel.checkpoint()


class Probe:
    """An async function that counts concurrent calls (high-water mark) and cancellations."""

    def __init__(self, *, rounds: int = 10, fail: set[int] | None = None) -> None:
        self.rounds = rounds
        self.fail = fail or set()
        self.active = 0
        self.max_active = 0
        self.started: list[int] = []
        self.finished: list[int] = []
        self.cancelled = 0

    async def __call__(self, x: int) -> int:
        self.started.append(x)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            # Checkpoints, not sleeps: enough for every worker to get a call in flight.
            for _ in range(self.rounds):
                await anyio.lowlevel.checkpoint()
            if x in self.fail:
                raise NotFoundError(f"no item {x}", status_code=404, reference_id=f"ref-{x}")
            self.finished.append(x)
            return x * 10
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.active -= 1


# --------------------------------------------------------------------------- bounded_map


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [1, 3, 8])
async def test_never_exceeds_limit_and_keeps_input_order(limit: int) -> None:
    probe = Probe(rounds=20)
    async with bounded_map(probe, range(60), limit=limit) as results:
        got = [r async for r in results]
    assert got == [x * 10 for x in range(60)]
    assert probe.max_active == limit
    assert probe.active == 0


@pytest.mark.anyio
async def test_unordered_yields_in_completion_order() -> None:
    gate = anyio.Event()

    async def fn(x: int) -> int:
        if x == 0:
            await gate.wait()  # the head of line finishes last
        else:
            await anyio.lowlevel.checkpoint()
        return x

    async with bounded_map(fn, range(4), limit=4, ordered=False) as results:
        got: list[int] = []
        async for r in results:
            got.append(r)
            if len(got) == 3:
                gate.set()
    assert got[-1] == 0
    assert sorted(got) == [0, 1, 2, 3]


@pytest.mark.anyio
async def test_ordered_waits_for_the_head_of_line() -> None:
    gate = anyio.Event()

    async def fn(x: int) -> int:
        if x == 0:
            await gate.wait()
        elif x == 3:
            gate.set()  # only once 1..3 ran does 0 finish
        await anyio.lowlevel.checkpoint()
        return x

    async with bounded_map(fn, range(10), limit=4) as results:
        assert [r async for r in results] == list(range(10))


@pytest.mark.anyio
@pytest.mark.parametrize("ordered", [True, False])
async def test_raise_policy_cancels_the_rest_and_raises_the_error_itself(ordered: bool) -> None:
    probe = Probe(rounds=5, fail={20})
    got: list[int] = []

    async def consume() -> None:
        async with bounded_map(probe, range(1000), limit=5, ordered=ordered) as results:
            async for r in results:
                got.append(r)

    with pytest.raises(NotFoundError) as info:
        await consume()
    assert type(info.value) is NotFoundError  # not an ExceptionGroup
    assert info.value.reference_id == "ref-20"
    assert probe.active == 0
    assert probe.cancelled >= 1
    assert len(probe.started) < 100  # the rest never started
    if ordered:
        assert got == [x * 10 for x in range(len(got))]


@pytest.mark.anyio
@pytest.mark.parametrize("ordered", [True, False])
async def test_collect_policy_reports_every_input(ordered: bool) -> None:
    probe = Probe(fail={3, 7})
    async with bounded_map(
        probe, range(10), limit=3, ordered=ordered, on_error="collect"
    ) as results:
        outcomes = [o async for o in results]
    assert all(isinstance(o, Outcome) for o in outcomes)
    if ordered:
        assert [o.input for o in outcomes] == list(range(10))
        assert [o.index for o in outcomes] == list(range(10))
    by_input = {o.input: o for o in outcomes}
    assert sorted(by_input) == list(range(10))
    assert [x for x, o in by_input.items() if not o.ok] == [3, 7]
    assert isinstance(by_input[3].error, NotFoundError)
    assert by_input[4].value == 40
    assert by_input[4].unwrap() == 40
    with pytest.raises(NotFoundError):
        by_input[7].unwrap()


@pytest.mark.anyio
async def test_cancelling_the_consumer_leaves_nothing_running() -> None:
    probe = Probe(rounds=1000)
    with anyio.CancelScope() as scope:
        async with bounded_map(probe, range(100), limit=6) as results:
            await wait_until(lambda: probe.active == 6)
            scope.cancel()
            async for _ in results:
                pass
    assert scope.cancelled_caught
    assert probe.active == 0
    assert probe.cancelled == 6


@pytest.mark.anyio
@pytest.mark.parametrize("ordered", [True, False])
async def test_break_leaves_nothing_running_and_reads_inputs_lazily(ordered: bool) -> None:
    pulled = 0

    def huge() -> Iterator[int]:
        nonlocal pulled
        for x in itertools.count():
            pulled += 1
            yield x

    probe = Probe()
    async with bounded_map(probe, huge(), limit=4, ordered=ordered) as results:
        async for r in results:
            if r >= 100:
                break
    assert probe.active == 0
    # At most limit + buffer (= 8) inputs taken beyond those consumed.
    assert pulled <= 11 + 8 + 1


@pytest.mark.anyio
@pytest.mark.parametrize("ordered", [True, False])
async def test_slow_consumer_bounds_the_results_waiting(ordered: bool) -> None:
    probe = Probe(rounds=1)
    consumed = 0
    high_water = 0
    async with bounded_map(probe, range(60), limit=4, buffer=2, ordered=ordered) as results:
        async for _ in results:
            consumed += 1
            await settle(30)  # slow consumer: workers run as far ahead as they may
            high_water = max(high_water, len(probe.started) - consumed)
    assert high_water <= 4 + 2
    assert high_water == 6


@pytest.mark.anyio
async def test_async_iterable_inputs() -> None:
    async def inputs() -> AsyncIterator[int]:
        for x in range(50):
            await anyio.lowlevel.checkpoint()
            yield x

    probe = Probe(rounds=20)
    async with bounded_map(probe, inputs(), limit=5) as results:
        assert [r async for r in results] == [x * 10 for x in range(50)]
    assert probe.max_active == 5


@pytest.mark.anyio
async def test_empty_inputs_and_a_broken_input_iterable() -> None:
    async with bounded_map(Probe(), [], limit=3) as results:
        assert [r async for r in results] == []

    def broken() -> Iterator[int]:
        yield 1
        raise ServerError("source broke", status_code=500)

    async def consume() -> None:
        async with bounded_map(Probe(), broken(), limit=3, on_error="collect") as results:
            async for _ in results:
                pass

    with pytest.raises(ServerError, match="source broke"):
        await consume()


@pytest.mark.anyio
async def test_errors_in_the_body_propagate_unwrapped() -> None:
    async def consume() -> None:
        async with bounded_map(Probe(), range(100), limit=3) as results:
            async for _ in results:
                raise KeyError("mine")

    with pytest.raises(KeyError):
        await consume()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "kwargs",
    [{"limit": 0}, {"limit": 2, "on_error": "ignore"}, {"limit": 2, "buffer": -1}],
)
async def test_bounded_map_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        bounded_map(Probe(), range(3), **kwargs)


@pytest.mark.anyio
async def test_server_side_concurrency_over_loopback() -> None:
    from flexiti_async.testing import FlexitiSandbox

    sandbox = FlexitiSandbox(seed=1)
    gate = sandbox.faults.hold("terms")  # requests wait in the sandbox: they surely overlap
    async with sandbox.serve() as base_url:
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        async with httpx.AsyncClient(base_url=base_url, limits=limits) as http:
            form = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
            granted = await http.post(
                "/v2.5/oauth/token", data=form, headers={"x-reference-id": "ref-0"}
            )
            headers = {
                "authorization": f"Bearer {granted.json()['access_token']}",
                "x-reference-id": "ref-1",
            }
            path = f"/v2.5/client-id/{sandbox.client_id}/terms-and-conditions"

            async def get(n: int) -> int:
                response = await http.get(path, headers=headers)
                assert response.status_code == 200
                return n

            async with bounded_map(get, range(1, 61), limit=5) as results:
                await gate.wait_for(5)
                assert gate.arrived == 5  # the limit keeps the sixth call back
                gate.release()
                got = [r async for r in results]
    assert got == list(range(1, 61))
    assert sandbox.stats.count("terms", 200) == 60
    assert sandbox.stats.max_in_flight == 5


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
