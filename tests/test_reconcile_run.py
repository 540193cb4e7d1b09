"""The async entry point: day windows, concurrency bound, progress, errors, over fakes and the
in-process sandbox. No wall-time assertions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from flexiti_async.errors import ServerError
from flexiti_async.models.authorizations import Authorization, Capture
from flexiti_async.pagination import AsyncPaginator
from flexiti_async.reconcile import (
    DiscrepancyKind,
    LedgerRow,
    Progress,
    ledger_csv,
    reconcile,
)

pytestmark = pytest.mark.anyio

START, END = date(2024, 1, 1), date(2024, 1, 10)


def auth_on(auth_id: int, day: date, hour: int = 12, amount: str = "10.00") -> Authorization:
    return Authorization(
        authorization_id=auth_id,
        reference=f"R{auth_id}",
        amount=Decimal(amount),
        captured_amount=Decimal(amount),
        remaining_authorization_amount=Decimal("0"),
        authorization_status="closed",
        creation_date=datetime.combine(day, time(hour), timezone.utc),
        external_location_id="S1",
    )


def sale(auth_id: int, day: date, amount: str = "10.00") -> LedgerRow:
    return LedgerRow(reference=f"R{auth_id}", store="S1", amount=Decimal(amount), date=day)


class FakeListing:
    """A history listing over in-memory items, paged like the real one.

    ``lenient`` mimics a server whose ``creation_date_to`` also lets the next day's first
    hours through, so boundary items show up in two windows.
    """

    def __init__(self, items: list[Any], owner: FakeClient, *, lenient: bool = False) -> None:
        self.items = items
        self.owner = owner
        self.lenient = lenient
        self.calls: list[tuple[date, date]] = []

    def list(
        self, *, creation_date_from: date, creation_date_to: date, page_size: int = 100
    ) -> AsyncPaginator[Any]:
        self.calls.append((creation_date_from, creation_date_to))
        extra = timedelta(days=1) if self.lenient else timedelta(0)

        def day_of(item: Any) -> date:
            when = item.creation_date if isinstance(item, Authorization) else item.date
            return when.date()  # type: ignore[no-any-return]

        chosen = [
            i for i in self.items if creation_date_from <= day_of(i) <= creation_date_to + extra
        ]

        async def fetch(number: int) -> list[Any]:
            owner = self.owner
            owner.active += 1
            owner.peak = max(owner.peak, owner.active)
            try:
                await anyio.sleep(0)  # let other listings start: the limit must hold
                if owner.fail_on is not None and owner.fail_on == creation_date_from:
                    raise ServerError("boom", status_code=503)
                return chosen[(number - 1) * page_size : number * page_size]
            finally:
                owner.active -= 1

        return AsyncPaginator(fetch, lambda item: item, page_size=page_size, prefetch=0)


class FakeClient:
    def __init__(self, auths: list[Authorization], captures: list[Capture] = (), **kw: Any) -> None:  # type: ignore[assignment]
        self.active = 0
        self.peak = 0
        self.fail_on: date | None = None
        self.authorizations = FakeListing(auths, self, **kw)
        self.captures = FakeListing(list(captures), self, **kw)


async def test_every_day_window_is_listed_once_and_the_last_day_counts() -> None:
    auths = [auth_on(1, START, 0), auth_on(2, date(2024, 1, 5)), auth_on(3, END, 23)]
    client = FakeClient(auths)
    ledger = [sale(1, START), sale(2, date(2024, 1, 5)), sale(3, END)]
    report = await reconcile(client, ledger, start=START, end=END, as_of=END)
    assert report.clean
    assert report.matched == 3
    calls = client.authorizations.calls
    # The range plus one day of date tolerance on each side.
    assert sorted(calls) == [(START + timedelta(days=i),) * 2 for i in range(-1, 11)]
    assert sorted(client.captures.calls) == sorted(calls)


async def test_a_lenient_server_does_not_double_count_the_boundary() -> None:
    # Item 2 is created at 00:30 on Jan 2: a lenient server returns it for Jan 1 and Jan 2.
    auths = [auth_on(1, START), auth_on(2, date(2024, 1, 2), 0), auth_on(3, END, 23)]
    client = FakeClient(auths, lenient=True)
    ledger = [sale(1, START), sale(2, date(2024, 1, 2)), sale(3, END)]
    report = await reconcile(
        client, ledger, start=START, end=END, as_of=END, window_days=3, tolerance_days=0
    )
    assert report.clean
    assert report.stats["authorizations"] == 3
    assert report.stats["out_of_window_items"] == 1


async def test_concurrency_limit_is_respected_and_progress_is_counted() -> None:
    auths = [auth_on(i, START + timedelta(days=i % 10)) for i in range(1, 251)]
    client = FakeClient(auths)
    seen: list[int] = []
    progress = Progress()
    report = await reconcile(
        client,
        [sale(a.authorization_id, a.creation_date.date()) for a in auths],  # type: ignore[union-attr]
        start=START,
        end=END,
        as_of=END,
        concurrency=3,
        page_size=10,
        tolerance_days=0,
        progress=progress,
        on_progress=lambda p: seen.append(p.windows_done),
    )
    assert report.clean
    assert report.matched == 250
    assert 1 <= client.peak <= 3
    assert progress.windows_total == progress.windows_done == 20
    assert progress.items == 250
    assert progress.pages == report.stats["pages"] >= 250 // 10
    assert progress.done_by_listing() == {"authorizations": 10, "captures": 10}
    assert seen == sorted(seen)
    assert seen[-1] == 20


async def test_a_listing_error_propagates_after_cancelling_the_rest() -> None:
    client = FakeClient([auth_on(1, START)])
    client.fail_on = date(2024, 1, 4)
    with pytest.raises(ServerError):
        await reconcile(client, [], start=START, end=END, as_of=END, concurrency=2)


async def test_ledger_from_a_path_and_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    path.write_text(ledger_csv([sale(1, START)]), encoding="utf-8")
    report = await reconcile(FakeClient([auth_on(1, START)]), path, start=START, end=START)
    assert report.clean
    with pytest.raises(ValueError, match="concurrency"):
        await reconcile(FakeClient([]), [], start=START, end=END, concurrency=0)
    with pytest.raises(ValueError, match="after"):
        await reconcile(FakeClient([]), [], start=END, end=START)


async def test_plain_async_iterables_work_too() -> None:
    class Plain:
        def __init__(self, items: list[Any]) -> None:
            self.items = items

        def list(self, **kwargs: Any) -> AsyncIterator[Any]:
            async def gen() -> AsyncIterator[Any]:
                for item in self.items:
                    if (
                        kwargs["creation_date_from"]
                        <= item.creation_date.date()
                        <= kwargs["creation_date_to"]
                    ):
                        yield item

            return gen()

    class Client:
        authorizations = Plain([auth_on(1, START, amount="10.00")])
        captures = Plain([])

    report = await reconcile(Client(), [sale(1, START, "11.00")], start=START, end=START)
    assert [d.kind for d in report.discrepancies] == [DiscrepancyKind.AMOUNT_MISMATCH]


async def test_planted_world_in_process() -> None:
    """The sandbox world over the in-process transport: findings equal the planted set."""
    from flexiti_async.cli._sandbox_world import build_world

    world = build_world(seed=7, stores=4, days=10, per_day=4)
    async with world.sandbox.client() as client:
        report = await reconcile(
            client,
            world.ledger,
            start=world.start,
            end=world.end,
            as_of=world.as_of,
            stale_days=world.stale_days,
            concurrency=4,
            page_size=7,
        )
    assert report.keys() == world.planted
    counts = {k.value: n for k, n in report.counts().items()}
    assert counts == {k.value: n for k, n in world.planted_by_kind().items()}
    assert report.stats["repeated_items"] == 0
