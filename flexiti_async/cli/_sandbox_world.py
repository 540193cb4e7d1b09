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
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

from attrs import Factory, define, evolve, frozen

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
    end = WORLD_START + timedelta(days=days - 1)
    # No open or half-released authorizations in the bulk history: every open one is planted.
    records = sandbox.seed_history(
        days=days,
        stores=stores,
        per_day=per_day,
        start=WORLD_START,
        seed=seed,
        open_rate=0.0,
        partial_rate=0.0,
        return_rate=0.05,
        release_rate=0.02,
    )
    build = _Build(sandbox, random.Random(seed), WORLD_START, end, end + timedelta(days=1))
    overrides = _plant_in_history(build, records)
    build.ledger.extend(_ledger_rows(records, overrides))
    store_ids = sorted(s.external_location_id for s in sandbox.stores)[:stores]
    # Missing in Flexiti: ledger sales Flexiti never saw.
    _plant_unknown(build, store_ids, days, "GHOST", count=4, cents=(1000, 90000))
    # Orphan returns: refunds booked for references Flexiti never saw (no sale anywhere).
    _plant_unknown(build, store_ids, days, "REFUND", count=2, cents=(500, 9000), returns=True)
    _plant_late_capture(build, store_ids)
    _plant_open(build, store_ids, days, stale_days)
    # A stable, shuffled ledger order: real ledgers are not sorted by Flexiti's ids.
    build.rng.shuffle(build.ledger)
    return PlantedWorld(
        sandbox=sandbox,
        ledger=tuple(evolve(row, line=i + 2) for i, row in enumerate(build.ledger)),
        start=build.start,
        end=build.end,
        as_of=build.as_of,
        stale_days=stale_days,
        planted=frozenset(build.planted),
        authorizations=len(sandbox.authorizations),
    )


@define
class _Build:
    """A world being planted: its dates, its RNG, the planted keys and the ledger so far."""

    sandbox: FlexitiSandbox
    rng: random.Random
    start: date
    end: date
    as_of: date
    planted: set[Key] = Factory(set)
    ledger: list[LedgerRow] = Factory(list)

    def plant(self, kind: DiscrepancyKind, reference: str, entry: str = "sale") -> None:
        self.planted.add((kind.value, reference, entry))


def _take(pool: list[HistoryRecord], n: int) -> list[HistoryRecord]:
    picked, pool[:] = pool[:n], pool[n:]
    return picked


def _plant_in_history(build: _Build, records: list[HistoryRecord]) -> dict[int, list[LedgerRow]]:
    """Plant discrepancies on seeded sales; the ledger rows that replace theirs, by auth id."""
    plain = [r for r in records if r.capture is not None and r.returned is None]
    returned = [r for r in records if r.returned is not None]
    build.rng.shuffle(plain)
    build.rng.shuffle(returned)
    overrides: dict[int, list[LedgerRow]] = {}  # authorization id -> its ledger rows

    def book(record: HistoryRecord, rows: list[LedgerRow], kind: K, entry: str = "sale") -> None:
        overrides[record.authorization.authorization_id] = rows
        build.plant(kind, record.authorization.reference or "", entry)

    # Sale amount mismatches: the ledger is off by a cent up to a few dollars.
    deltas = ("0.01", "-10.00", "2.50", "-0.99", "100.00")
    for record, delta in zip(_take(plain, 5), deltas, strict=True):
        book(record, [_sale(record, _sale(record).amount + Decimal(delta))], K.AMOUNT_MISMATCH)
    # Return amount mismatches: the ledger booked a different refund.
    for record in _take(returned, 2):
        assert record.returned is not None
        wrong = record.returned.amount + Decimal("5.00")
        book(record, [_sale(record), _return(record, wrong)], K.AMOUNT_MISMATCH, "return")
    # Missing in the ledger: the merchant never booked these sales.
    for record in _take(plain, 4):
        book(record, [], K.MISSING_IN_LEDGER)
    # Duplicated in the ledger: the same sale booked twice.
    for record in _take(plain, 3):
        book(record, [_sale(record), _sale(record)], K.DUPLICATE_REFERENCE)
    # Date mismatches: the sale booked three days after Flexiti created it (inside the range).
    late = [r for r in plain if r.authorization.created.date() <= build.end - timedelta(days=3)]
    for record in late[:2]:
        plain.remove(record)
        row = _sale(record)
        book(record, [evolve(row, date=row.date + timedelta(days=3))], K.DATE_MISMATCH)
    # Duplicated in Flexiti: a second authorization under the same reference and store.
    for record in _take(plain, 2):
        auth = record.authorization
        build.sandbox.add_history(
            created=auth.created + timedelta(minutes=7),
            amount=auth.amount,
            reference=auth.reference,
            external_location_id=auth.external_location_id,
        )
        build.plant(K.DUPLICATE_REFERENCE, auth.reference or "")
    return overrides


def _ledger_rows(
    records: list[HistoryRecord], overrides: dict[int, list[LedgerRow]]
) -> Iterator[LedgerRow]:
    """The merchant's rows for the seeded history: right, except where a row was planted."""
    for record in records:
        auth = record.authorization
        if auth.authorization_id in overrides:
            yield from overrides[auth.authorization_id]
        elif record.capture is None:
            continue  # fully released: a voided sale, not in the ledger
        else:
            yield _sale(record)
            if record.returned is not None:
                yield _return(record)


def _plant_unknown(
    build: _Build,
    store_ids: list[str],
    days: int,
    prefix: str,
    *,
    count: int,
    cents: tuple[int, int],
    returns: bool = False,
) -> None:
    """``count`` ledger rows (sales, or returns) under references Flexiti never saw."""
    rng = build.rng
    kind = EntryKind.RETURN if returns else EntryKind.SALE
    for index in range(count):
        day = build.start + timedelta(days=rng.randrange(days))
        reference = f"{prefix}-{day:%Y%m%d}-{index:03d}"
        build.ledger.append(
            LedgerRow(
                reference=reference,
                store=rng.choice(store_ids),
                amount=Decimal(rng.randrange(*cents)).scaleb(-2),
                date=day,
                kind=kind,
            )
        )
        build.plant(K.MISSING_IN_FLEXITI, reference, kind.value)


def _plant_late_capture(build: _Build, store_ids: list[str]) -> None:
    """Authorized on the last evening, captured the next morning (after the range end, by
    as_of): the capture is looked up past the range, so this must *not* be flagged."""
    end = build.end
    store = build.rng.choice(store_ids)
    amount = Decimal(build.rng.randrange(5000, 50000)).scaleb(-2)
    build.sandbox.add_history(
        created=datetime.combine(end, time(20, 15), timezone.utc),
        amount=amount,
        reference=f"LATE-{end:%Y%m%d}",
        external_location_id=store,
        captured=True,
        captured_at=datetime.combine(build.as_of, time(9, 5), timezone.utc),
    )
    build.ledger.append(
        LedgerRow(reference=f"LATE-{end:%Y%m%d}", store=store, amount=amount, date=end)
    )


def _plant_open(build: _Build, store_ids: list[str], days: int, stale_days: int) -> None:
    """Open authorizations, booked in the ledger at their authorized amount (capture
    pending): three older than stale_days (release candidates) and one recent; only ages
    that fall inside the history's range (a small world may have fewer)."""
    rng = build.rng
    ages = [age for age in (stale_days + 1, stale_days + 6, days - 1, 2) if 0 < age < days]
    for index, age in enumerate(ages):
        day = build.as_of - timedelta(days=age)
        reference = f"OPEN-{day:%Y%m%d}-{index:03d}"
        amount = Decimal(rng.randrange(5000, 150000)).scaleb(-2)
        store = rng.choice(store_ids)
        build.sandbox.add_history(
            created=datetime.combine(day, time(15, 30), timezone.utc),
            amount=amount,
            reference=reference,
            external_location_id=store,
            captured=False,
        )
        build.ledger.append(LedgerRow(reference=reference, store=store, amount=amount, date=day))
        if age > stale_days:
            build.plant(K.STALE_AUTHORIZATION, reference)
