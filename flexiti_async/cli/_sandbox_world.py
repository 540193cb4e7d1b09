"""The ``--sandbox`` world: a seeded sandbox history, its merchant ledger, and the planted errors.

Deterministic for a given seed: 20 stores x 30 days of authorizations (most captured, some
with returns, some released), a ledger that agrees with all of it, and then a known set of
planted discrepancies of every kind. `PlantedWorld.planted` is what a correct
reconciliation must report, exactly: it is compared with `Report.keys`.

Lives under ``cli/`` because it needs both ``testing/`` (the emulator) and ``reconcile/``
(ledger rows), and ``reconcile/`` must not import ``testing/`` (design §2).
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

from attrs import frozen

from ..reconcile import DiscrepancyKind, EntryKind, LedgerRow

if TYPE_CHECKING:
    from ..testing import FlexitiSandbox, HistoryRecord

__all__ = ["PlantedWorld", "build_world"]

#: The first day of the sandbox history (fixed, so every run reports the same findings).
WORLD_START = date(2024, 3, 1)
K = DiscrepancyKind
Key = tuple[str, str, str]


@frozen(kw_only=True)
class PlantedWorld:
    """A seeded sandbox plus the ledger that goes with it and the discrepancies planted in it.

    ``start``/``end`` is the history's range, ``as_of`` the day to measure staleness from
    (the day after ``end``), ``planted`` the expected `Report.keys` set, ``planted_by_kind``
    how many of each kind.
    """

    sandbox: FlexitiSandbox
    ledger: tuple[LedgerRow, ...]
    start: date
    end: date
    as_of: date
    stale_days: int
    planted: frozenset[Key]
    authorizations: int

    def planted_by_kind(self) -> dict[DiscrepancyKind, int]:
        """How many planted discrepancies of each kind."""
        counts = dict.fromkeys(DiscrepancyKind, 0)
        for kind, _, _ in self.planted:
            counts[DiscrepancyKind(kind)] += 1
        return counts


def _sale(record: HistoryRecord, amount: Decimal | None = None) -> LedgerRow:
    auth = record.authorization
    captured = record.capture.amount if record.capture is not None else Decimal("0.00")
    return LedgerRow(
        reference=auth.reference or "",
        store=auth.external_location_id,
        amount=captured if amount is None else amount,
        date=auth.created.date(),
        kind=EntryKind.SALE,
    )


def _return(record: HistoryRecord, amount: Decimal | None = None) -> LedgerRow:
    assert record.returned is not None
    sale = _sale(record)
    return LedgerRow(
        reference=sale.reference,
        store=sale.store,
        amount=record.returned.amount if amount is None else amount,
        date=record.returned.created.date(),
        kind=EntryKind.RETURN,
    )


def build_world(
    *,
    seed: int = 2024,
    stores: int = 20,
    days: int = 30,
    per_day: int = 5,
    stale_days: int = 7,
) -> PlantedWorld:
    """Seed a sandbox with ``stores x days x per_day`` authorizations and plant discrepancies.

    Planted (at the default size): 5 sale amount mismatches (one of a single cent), 2
    return amount mismatches, 4 sales missing in Flexiti, 2 orphan returns (missing in
    Flexiti), 4 missing in the ledger, 2 date mismatches, 3 references duplicated in the
    ledger and 2 in Flexiti, 3 stale open authorizations, plus cases that must *not* be
    flagged: 1 recent open authorization, 1 captured after the range end (by ``as_of``),
    and fully released ones that need no ledger row.
    """
    from ..testing import FlexitiSandbox

    sandbox = FlexitiSandbox(seed=seed)
    start = WORLD_START
    end = start + timedelta(days=days - 1)
    as_of = end + timedelta(days=1)
    # No open or half-released authorizations in the bulk history: every open one is planted.
    records = sandbox.seed_history(
        days=days,
        stores=stores,
        per_day=per_day,
        start=start,
        seed=seed,
        open_rate=0.0,
        partial_rate=0.0,
        return_rate=0.05,
        release_rate=0.02,
    )
    rng = random.Random(seed)
    plain = [r for r in records if r.capture is not None and r.returned is None]
    returned = [r for r in records if r.returned is not None]
    rng.shuffle(plain)
    rng.shuffle(returned)
    planted: set[Key] = set()
    overrides: dict[int, list[LedgerRow]] = {}  # authorization id -> its ledger rows

    def take(pool: list[HistoryRecord], n: int) -> list[HistoryRecord]:
        picked, pool[:] = pool[:n], pool[n:]
        return picked

    def key(kind: DiscrepancyKind, record: HistoryRecord, entry: str = "sale") -> Key:
        return (kind.value, record.authorization.reference or "", entry)

    # Sale amount mismatches: the ledger is off by a cent up to a few dollars.
    for record, delta in zip(
        take(plain, 5), ("0.01", "-10.00", "2.50", "-0.99", "100.00"), strict=True
    ):
        captured = _sale(record).amount
        overrides[record.authorization.authorization_id] = [
            _sale(record, captured + Decimal(delta))
        ]
        planted.add(key(K.AMOUNT_MISMATCH, record))
    # Return amount mismatches: the ledger booked a different refund.
    for record in take(returned, 2):
        assert record.returned is not None
        wrong = record.returned.amount + Decimal("5.00")
        overrides[record.authorization.authorization_id] = [
            _sale(record),
            _return(record, wrong),
        ]
        planted.add(key(K.AMOUNT_MISMATCH, record, "return"))
    # Missing in the ledger: the merchant never booked these sales.
    for record in take(plain, 4):
        overrides[record.authorization.authorization_id] = []
        planted.add(key(K.MISSING_IN_LEDGER, record))
    # Duplicated in the ledger: the same sale booked twice.
    for record in take(plain, 3):
        overrides[record.authorization.authorization_id] = [_sale(record), _sale(record)]
        planted.add(key(K.DUPLICATE_REFERENCE, record))
    # Date mismatches: the sale booked three days after Flexiti created it (inside the range).
    late = [r for r in plain if r.authorization.created.date() <= end - timedelta(days=3)]
    for record in late[:2]:
        plain.remove(record)
        row = _sale(record)
        overrides[record.authorization.authorization_id] = [
            LedgerRow(
                reference=row.reference,
                store=row.store,
                amount=row.amount,
                date=row.date + timedelta(days=3),
            )
        ]
        planted.add(key(K.DATE_MISMATCH, record))
    # Duplicated in Flexiti: a second authorization under the same reference and store.
    for record in take(plain, 2):
        auth = record.authorization
        sandbox.add_history(
            created=auth.created + timedelta(minutes=7),
            amount=auth.amount,
            reference=auth.reference,
            external_location_id=auth.external_location_id,
        )
        planted.add(key(K.DUPLICATE_REFERENCE, record))

    ledger: list[LedgerRow] = []
    for record in records:
        auth = record.authorization
        if auth.authorization_id in overrides:
            ledger.extend(overrides[auth.authorization_id])
        elif record.capture is None:
            continue  # fully released: a voided sale, not in the ledger
        else:
            ledger.append(_sale(record))
            if record.returned is not None:
                ledger.append(_return(record))

    # Missing in Flexiti: ledger sales Flexiti never saw.
    store_ids = sorted(s.external_location_id for s in sandbox.stores)[:stores]
    for index in range(4):
        day = start + timedelta(days=rng.randrange(days))
        reference = f"GHOST-{day:%Y%m%d}-{index:03d}"
        ledger.append(
            LedgerRow(
                reference=reference,
                store=rng.choice(store_ids),
                amount=Decimal(rng.randrange(1000, 90000)).scaleb(-2),
                date=day,
            )
        )
        planted.add((K.MISSING_IN_FLEXITI.value, reference, "sale"))

    # Orphan returns: refunds booked for references Flexiti never saw (no sale anywhere).
    for index in range(2):
        day = start + timedelta(days=rng.randrange(days))
        reference = f"REFUND-{day:%Y%m%d}-{index:03d}"
        ledger.append(
            LedgerRow(
                reference=reference,
                store=rng.choice(store_ids),
                amount=Decimal(rng.randrange(500, 9000)).scaleb(-2),
                date=day,
                kind=EntryKind.RETURN,
            )
        )
        planted.add((K.MISSING_IN_FLEXITI.value, reference, "return"))

    # Authorized on the last evening, captured the next morning (after the range end, by
    # as_of): the capture is looked up past the range, so this must *not* be flagged.
    store = rng.choice(store_ids)
    amount = Decimal(rng.randrange(5000, 50000)).scaleb(-2)
    sandbox.add_history(
        created=datetime.combine(end, time(20, 15), timezone.utc),
        amount=amount,
        reference=f"LATE-{end:%Y%m%d}",
        external_location_id=store,
        captured=True,
        captured_at=datetime.combine(as_of, time(9, 5), timezone.utc),
    )
    ledger.append(LedgerRow(reference=f"LATE-{end:%Y%m%d}", store=store, amount=amount, date=end))

    # Open authorizations, booked in the ledger at their authorized amount (capture
    # pending): three older than stale_days (release candidates) and one recent; only
    # ages that fall inside the history's range (a small world may have fewer).
    ages = [age for age in (stale_days + 1, stale_days + 6, days - 1, 2) if 0 < age < days]
    for index, age in enumerate(ages):
        day = as_of - timedelta(days=age)
        reference = f"OPEN-{day:%Y%m%d}-{index:03d}"
        amount = Decimal(rng.randrange(5000, 150000)).scaleb(-2)
        store = rng.choice(store_ids)
        sandbox.add_history(
            created=datetime.combine(day, time(15, 30), timezone.utc),
            amount=amount,
            reference=reference,
            external_location_id=store,
            captured=False,
        )
        ledger.append(LedgerRow(reference=reference, store=store, amount=amount, date=day))
        if age > stale_days:
            planted.add((K.STALE_AUTHORIZATION.value, reference, "sale"))

    # A stable, shuffled ledger order: real ledgers are not sorted by Flexiti's ids.
    rng.shuffle(ledger)
    numbered = tuple(
        LedgerRow(
            reference=r.reference,
            store=r.store,
            amount=r.amount,
            date=r.date,
            kind=r.kind,
            line=i + 2,
        )
        for i, r in enumerate(ledger)
    )
    return PlantedWorld(
        sandbox=sandbox,
        ledger=numbered,
        start=start,
        end=end,
        as_of=as_of,
        stale_days=stale_days,
        planted=frozenset(planted),
        authorizations=len(sandbox.authorizations),
    )
