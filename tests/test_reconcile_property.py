"""Property: every ledger row and every authorization lands in exactly one bucket, and the
report finds exactly the planted perturbations, however the records fall into shards."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flexiti_async.reconcile import (
    AuthState,
    CaptureState,
    EntryKind,
    LedgerRow,
    Partial,
    RefState,
    Report,
    Shard,
    merge,
    plan,
)

START, END = date(2024, 5, 1), date(2024, 5, 30)
AS_OF = END + timedelta(days=5)
STORES = ("S1", "S2", "S3")
PERTURBATIONS = (
    "orphan_return",
    "amount",
    "date",
    "store",
    "duplicate",
    "missing_row",
    "released_in_ledger",
)
Key = tuple[str, str, str]


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, object]:
    tz = draw(st.sampled_from(["UTC", "America/Toronto", "Asia/Kolkata", "Pacific/Auckland"]))
    tolerance = draw(st.integers(0, 2))
    count = draw(st.integers(1, 25))
    perturbed = draw(st.lists(st.sampled_from(PERTURBATIONS), max_size=min(count, 7), unique=False))
    seed = draw(st.integers(0, 2**32 - 1))
    window_days = draw(st.integers(1, 4))
    return {
        "tz": tz,
        "tolerance": tolerance,
        "count": count,
        "perturbed": perturbed,
        "seed": seed,
        "window_days": window_days,
    }


def build(
    spec: dict[str, object],
) -> tuple[list[AuthState], list[CaptureState], list[LedgerRow], set[Key]]:
    rng = random.Random(spec["seed"])  # type: ignore[arg-type]
    zone = ZoneInfo(str(spec["tz"]))
    tolerance = int(spec["tolerance"])  # type: ignore[call-overload]
    auths: list[AuthState] = []
    captures: list[CaptureState] = []
    ledger: list[LedgerRow] = []
    planted: set[Key] = set()
    perturbations = list(spec["perturbed"])  # type: ignore[call-overload]
    for index in range(int(spec["count"])):  # type: ignore[call-overload]
        ref = f"R{index:03d}"
        store = rng.choice(STORES)
        local_day = START + timedelta(days=rng.randrange(6, 24))
        local = datetime.combine(local_day, time(rng.randrange(24), rng.randrange(60)), zone)
        created = local.astimezone(timezone.utc)
        amount = Decimal(rng.randrange(100, 100_000)).scaleb(-2)
        returned = (
            Decimal(rng.randrange(1, int(amount * 100))).scaleb(-2)
            if rng.random() < 0.3
            else Decimal(0)
        )
        what = perturbations[index] if index < len(perturbations) else None
        released = what == "released_in_ledger"
        auths.append(
            AuthState(
                authorization_id=1000 + index,
                reference=ref,
                store=store,
                amount=amount,
                captured=Decimal(0) if released else amount,
                returned=Decimal(0) if released else returned,
                remaining=Decimal(0),
                is_open=False,
                created=created,
            )
        )
        if not released:
            captured_at = created + timedelta(hours=rng.randrange(0, 96))
            captures.append(
                CaptureState(5000 + index, 1000 + index, ref, store, amount, returned, captured_at)
            )
        sale = LedgerRow(reference=ref, store=store, amount=amount, date=local_day)
        rows = [sale]
        if returned:
            rows.append(
                LedgerRow(
                    reference=ref,
                    store=store,
                    amount=returned,
                    date=local_day + timedelta(days=rng.randrange(0, 4)),
                    kind=EntryKind.RETURN,
                )
            )
        if what == "amount":
            rows[0] = LedgerRow(
                reference=ref, store=store, amount=amount + Decimal("0.01"), date=local_day
            )
            planted.add(("amount_mismatch", ref, "sale"))
        elif what == "date":
            shift = (tolerance + rng.randrange(1, 4)) * rng.choice((-1, 1))
            rows[0] = LedgerRow(
                reference=ref, store=store, amount=amount, date=local_day + timedelta(days=shift)
            )
            planted.add(("date_mismatch", ref, "sale"))
        elif what == "store":
            other = next(s for s in STORES if s != store)
            rows = [
                LedgerRow(
                    reference=r.reference, store=other, amount=r.amount, date=r.date, kind=r.kind
                )
                for r in rows
            ]
            planted.add(("missing_in_flexiti", ref, "sale"))
            planted.add(("missing_in_ledger", ref, "sale"))
        elif what == "duplicate":
            rows.append(sale)
            planted.add(("duplicate_reference", ref, "sale"))
        elif what == "missing_row":
            rows = []
            planted.add(("missing_in_ledger", ref, "sale"))
        elif what == "released_in_ledger":
            rows = [sale]
            planted.add(("amount_mismatch", ref, "sale"))
        elif what == "orphan_return":
            orphan = f"X{index:03d}"
            rows.append(
                LedgerRow(
                    reference=orphan,
                    store=store,
                    amount=Decimal("9.99"),
                    date=START + timedelta(days=rng.randrange(30)),
                    kind=EntryKind.RETURN,
                )
            )
            planted.add(("missing_in_flexiti", orphan, "return"))
        ledger.extend(rows)
    rng.shuffle(ledger)
    numbered = [
        LedgerRow(
            reference=r.reference,
            store=r.store,
            amount=r.amount,
            date=r.date,
            kind=r.kind,
            line=i + 2,
        )
        for i, r in enumerate(ledger)
    ]
    return auths, captures, numbered, planted


def shard_partials(
    shards: list[Shard], auths: list[AuthState], captures: list[CaptureState]
) -> list[Partial]:
    """Each record into the one shard whose UTC days and listing hold it."""
    found: dict[int, dict[str | None, tuple[list[AuthState], list[CaptureState]]]] = {
        s.index: {} for s in shards
    }

    def home(day: date, listing: str) -> int:
        return next(s.index for s in shards if listing in s.listings and s.first <= day <= s.last)

    for auth in auths:
        assert auth.created is not None
        refs = found[home(auth.created.date(), "authorizations")]
        refs.setdefault(auth.reference, ([], []))[0].append(auth)
    for capture in captures:
        assert capture.date is not None
        if capture.date.date() > shards[-1].last:
            continue  # after as_of: never listed
        refs = found[home(capture.date.date(), "captures")]
        refs.setdefault(capture.reference, ([], []))[1].append(capture)
    return [
        Partial(
            shard=s,
            references={r: RefState(tuple(a), tuple(c)) for r, (a, c) in found[s.index].items()},
        )
        for s in shards
    ]


def assert_every_record_in_one_bucket(
    report: Report, ledger: list[LedgerRow], auths: list[AuthState]
) -> None:
    lines = Counter(report.matched_lines)
    lines.update(report.unchecked_lines)
    lines.update(row.line for row in report.outside_range)
    ids = Counter(report.matched_authorizations)
    ids.update(report.outside_authorizations)
    ids.update(report.unchecked_authorizations)
    for item in report.discrepancies:
        lines.update(item.ledger_lines)
        if item.kind.value != "stale_authorization":
            ids.update(item.authorization_ids)
    assert lines == Counter(row.line for row in ledger)
    assert ids == Counter(a.authorization_id for a in auths)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=worlds(), order=st.randoms(use_true_random=False))
def test_the_report_finds_exactly_the_planted_set(
    spec: dict[str, object], order: random.Random
) -> None:
    auths, captures, ledger, planted = build(spec)
    tolerance = int(spec["tolerance"])  # type: ignore[call-overload]
    shards = plan(
        START,
        END,
        as_of=AS_OF,
        tz=str(spec["tz"]),
        window_days=int(spec["window_days"]),  # type: ignore[call-overload]
        tolerance_days=tolerance,
    )
    partials = shard_partials(shards, auths, captures)
    order.shuffle(partials)
    report = merge(
        partials,
        ledger,
        start=START,
        end=END,
        as_of=AS_OF,
        tz=str(spec["tz"]),
        tolerance_days=tolerance,
        plan=shards,
    )
    assert report.keys() == planted
    assert not report.partial
    assert_every_record_in_one_bucket(report, ledger, auths)
    # Dropping some shards never misjudges: the rest is unchecked, still one bucket each.
    kept = partials[: len(partials) // 2]
    partial = merge(
        kept, ledger, start=START, end=END, as_of=AS_OF, tz=str(spec["tz"]),
        tolerance_days=tolerance, plan=shards,
    )  # fmt: skip
    assert partial.partial == (len(kept) < len(partials))
    listed = [a for p in kept for state in p.references.values() for a in state.authorizations]
    assert_every_record_in_one_bucket(partial, ledger, listed)
