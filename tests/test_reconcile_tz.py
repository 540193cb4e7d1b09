"""Time zones over loopback: local-day windows, creation times on both sides of midnight UTC."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from flexiti_async import FlexitiClient
from flexiti_async.reconcile import LedgerRow, reconcile
from flexiti_async.testing import FlexitiSandbox

pytestmark = pytest.mark.anyio

DAY = date(2024, 12, 6)
# reference -> (creation time in UTC, the merchant's local day in Toronto)
SALES = {
    "EARLY": (datetime(2024, 12, 6, 4, 0, tzinfo=timezone.utc), date(2024, 12, 5)),
    "NOON": (datetime(2024, 12, 6, 17, 0, tzinfo=timezone.utc), DAY),
    "EVE": (datetime(2024, 12, 7, 2, 30, tzinfo=timezone.utc), DAY),  # 21:30 in Toronto
    "LATE": (datetime(2024, 12, 7, 4, 59, tzinfo=timezone.utc), DAY),  # 23:59 in Toronto
    "NEXT": (datetime(2024, 12, 7, 5, 1, tzinfo=timezone.utc), date(2024, 12, 7)),
}


async def run(tz: str) -> tuple[object, dict[str, int], list[LedgerRow]]:
    sandbox = FlexitiSandbox(seed=3)
    sandbox.add_store("S1")
    ids: dict[str, int] = {}
    ledger: list[LedgerRow] = []
    for line, (reference, (created, local_day)) in enumerate(SALES.items(), start=2):
        record = sandbox.add_history(
            created=created, amount="25.00", reference=reference, external_location_id="S1"
        )
        ids[reference] = record.authorization.authorization_id
        ledger.append(
            LedgerRow(
                reference=reference,
                store="S1",
                amount=Decimal("25.00"),
                date=local_day,
                line=line,
            )
        )
    async with sandbox.serve() as base_url:
        async with FlexitiClient(
            sandbox.client_id, sandbox.client_secret, base_url=base_url
        ) as client:
            report = await reconcile(
                client,
                ledger,
                start=DAY,
                end=DAY,
                tz=tz,
                tolerance_days=0,
                as_of=date(2024, 12, 10),
            )
    return report, ids, ledger


async def test_local_days_in_toronto_match_evening_sales_across_utc_midnight() -> None:
    report, ids, _ = await run("America/Toronto")
    assert report.clean  # type: ignore[attr-defined]
    assert report.matched == 3  # type: ignore[attr-defined]
    assert report.tz == "America/Toronto"  # type: ignore[attr-defined]
    assert report.matched_authorizations == tuple(  # type: ignore[attr-defined]
        sorted(ids[r] for r in ("NOON", "EVE", "LATE"))
    )
    outside = {row.reference for row in report.outside_range}  # type: ignore[attr-defined]
    assert outside == {"EARLY", "NEXT"}
    assert set(report.outside_authorizations) == {ids["EARLY"], ids["NEXT"]}  # type: ignore[attr-defined]


async def test_in_utc_the_same_evening_sales_are_not_found() -> None:
    report, _, _ = await run("UTC")
    keys = report.keys()  # type: ignore[attr-defined]
    assert ("missing_in_flexiti", "EVE", "sale") in keys
    assert ("missing_in_flexiti", "LATE", "sale") in keys
