"""Pure classification: every discrepancy kind, Decimal edge cases, duplicates, stale, ranges."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flexiti_async.models.authorizations import Authorization, Capture
from flexiti_async.reconcile import (
    Discrepancy,
    DiscrepancyKind,
    EntryKind,
    LedgerRow,
    Matcher,
    Report,
    Side,
)

START, END, AS_OF = date(2024, 1, 1), date(2024, 1, 31), date(2024, 2, 1)
K = DiscrepancyKind


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 1, 1, hour, tzinfo=timezone.utc) + timedelta(days=day - 1)


def auth(
    auth_id: int,
    reference: str | None,
    amount: str,
    *,
    captured: str | None = None,
    released: str = "0",
    returned: str = "0",
    store: str | None = "S1",
    day: int = 5,
    status: str | None = None,
) -> Authorization:
    total = Decimal(amount)
    took = total if captured is None else Decimal(captured)
    remaining = total - took - Decimal(released)
    return Authorization(
        authorization_id=auth_id,
        reference=reference,
        amount=total,
        captured_amount=took,
        released_amount=Decimal(released),
        returned_amount=Decimal(returned),
        remaining_authorization_amount=remaining,
        authorization_status=status or ("opened" if remaining > 0 else "closed"),
        creation_date=at(day),
        external_location_id=store,
    )


def cap(
    capture_id: int,
    auth_id: int | None,
    reference: str | None,
    amount: str,
    *,
    returned: str = "0",
    store: str | None = "S1",
    day: int = 5,
) -> Capture:
    return Capture(
        capture_id=capture_id,
        authorization_id=auth_id,
        reference=reference,
        amount=Decimal(amount),
        returned_amount=Decimal(returned),
        external_location_id=store,
        date=at(day, 13),
    )


def row(
    reference: str,
    amount: str,
    *,
    kind: EntryKind = EntryKind.SALE,
    store: str | None = "S1",
    day: int = 5,
    line: int | None = None,
) -> LedgerRow:
    return LedgerRow(
        reference=reference,
        store=store,
        amount=Decimal(amount),
        date=START + timedelta(days=day - 1),
        kind=kind,
        line=line,
    )


def run(
    ledger: list[LedgerRow],
    auths: list[Authorization] = (),  # type: ignore[assignment]
    captures: list[Capture] = (),  # type: ignore[assignment]
    *,
    stale_days: int = 7,
    captures_first: bool = False,
) -> Report:
    matcher = Matcher(ledger, start=START, end=END, as_of=AS_OF, stale_days=stale_days)
    if captures_first:
        for c in captures:
            matcher.add_capture(c)
    for a in auths:
        matcher.add_authorization(a)
    if not captures_first:
        for c in captures:
            matcher.add_capture(c)
    return matcher.report()


def only(report: Report) -> Discrepancy:
    assert len(report.discrepancies) == 1, report.discrepancies
    return report.discrepancies[0]


# ------------------------------------------------------------------------------ matched


@pytest.mark.parametrize("captures_first", [False, True])
def test_matched_sale_with_its_capture(captures_first: bool) -> None:
    report = run(
        [row("A", "100.00")],
        [auth(1, "A", "100.00")],
        [cap(10, 1, "A", "100.00")],
        captures_first=captures_first,
    )
    assert report.clean
    assert report.matched == 1
    assert report.stats["authorizations"] == 1
    assert report.stats["captures"] == 1


@pytest.mark.parametrize(
    ("ledger", "flexiti"),
    [("100", "100.00"), ("100.0", "100.00"), ("0.10", "0.1"), ("+5.00", "5")],
)
def test_decimal_equality_ignores_trailing_zeros(ledger: str, flexiti: str) -> None:
    report = run([row("A", ledger)], [auth(1, "A", flexiti)], [cap(10, 1, "A", flexiti)])
    assert report.clean


def test_one_cent_is_a_mismatch_and_no_float_rounding_hides_it() -> None:
    # 0.1 + 0.2 != 0.3 in binary floating point; as Decimal it is exact.
    captures = [cap(10, 1, "A", "0.10"), cap(11, 1, "A", "0.20")]
    assert run([row("A", "0.30")], [auth(1, "A", "0.30")], captures).clean
    found = only(run([row("A", "0.31")], [auth(1, "A", "0.30")], captures))
    assert found.kind is K.AMOUNT_MISMATCH
    assert found.ledger_amount == Decimal("0.31")
    assert found.flexiti_amount == Decimal("0.30")
    assert found.difference == Decimal("0.01")
    assert isinstance(found.flexiti_amount, Decimal)


def test_large_amounts_stay_exact() -> None:
    big = "12345678901234.56"
    assert run([row("A", big)], [auth(1, "A", big)], [cap(10, 1, "A", big)]).clean


# ------------------------------------------------------------------------------ sale rules


def test_amount_mismatch_reports_both_amounts() -> None:
    found = only(
        run([row("A", "90.00", line=2)], [auth(1, "A", "100.00")], [cap(10, 1, "A", "100.00")])
    )
    assert (found.kind, found.entry, found.reference, found.store) == (
        K.AMOUNT_MISMATCH,
        EntryKind.SALE,
        "A",
        "S1",
    )
    assert (found.ledger_amount, found.flexiti_amount) == (Decimal("90.00"), Decimal("100.00"))
    assert found.authorization_ids == (1,)
    assert found.ledger_lines == (2,)
    assert "ledger 90.00 vs Flexiti 100.00" in found.describe()


def test_partial_capture_is_compared_by_what_was_captured() -> None:
    flexiti = [auth(1, "A", "100.00", captured="60.00", released="40.00")]
    assert run([row("A", "60.00")], flexiti, [cap(10, 1, "A", "60.00")]).clean
    assert (
        only(run([row("A", "100.00")], flexiti, [cap(10, 1, "A", "60.00")])).kind
        is K.AMOUNT_MISMATCH
    )


def test_several_captures_are_summed() -> None:
    captures = [cap(10, 1, "A", "30.00"), cap(11, 1, "A", "70.00", day=6)]
    assert run([row("A", "100.00")], [auth(1, "A", "100.00")], captures).clean


def test_capture_not_listed_falls_back_to_the_authorizations_captured_amount() -> None:
    # e.g. authorized on the last day, captured after `end`: the capture is not in range.
    assert run([row("A", "100.00")], [auth(1, "A", "100.00")]).clean


def test_open_authorization_with_nothing_captured_counts_for_its_amount() -> None:
    flexiti = [auth(1, "A", "80.00", captured="0", day=30)]
    assert run([row("A", "80.00", day=30)], flexiti).clean
    found = only(run([], flexiti))
    assert (found.kind, found.flexiti_amount) == (K.MISSING_IN_LEDGER, Decimal("80.00"))


def test_fully_released_authorization_needs_no_ledger_row() -> None:
    flexiti = [auth(1, "A", "80.00", captured="0", released="80.00")]
    report = run([], flexiti)
    assert report.clean
    assert report.stats["voided_authorizations"] == 1
    # ...but a ledger sale against it is a mismatch (Flexiti will pay nothing).
    found = only(run([row("A", "80.00")], flexiti))
    assert (found.kind, found.flexiti_amount) == (K.AMOUNT_MISMATCH, Decimal("0"))


def test_missing_in_flexiti_and_missing_in_ledger() -> None:
    report = run(
        [row("L-ONLY", "10.00", line=7)],
        [auth(1, "F-ONLY", "20.00")],
        [cap(10, 1, "F-ONLY", "20.00")],
    )
    missing_f, missing_l = report.discrepancies
    assert (
        missing_f.kind,
        missing_f.reference,
        missing_f.ledger_amount,
        missing_f.flexiti_amount,
    ) == (K.MISSING_IN_FLEXITI, "L-ONLY", Decimal("10.00"), None)
    assert missing_f.ledger_lines == (7,)
    assert (missing_l.kind, missing_l.reference, missing_l.flexiti_amount) == (
        K.MISSING_IN_LEDGER,
        "F-ONLY",
        Decimal("20.00"),
    )
    assert report.matched == 0


def test_unreferenced_authorization_is_missing_in_ledger_by_id() -> None:
    found = only(run([], [auth(5, None, "20.00")], [cap(10, 5, None, "20.00")]))
    assert found.kind is K.MISSING_IN_LEDGER
    assert found.key == ("missing_in_ledger", "#5", "sale")


# ------------------------------------------------------------------------------ returns


def test_returns_match_the_captures_returned_amount() -> None:
    ledger = [
        row("A", "100.00"),
        row("A", "10.00", kind=EntryKind.RETURN, day=9),
        row("A", "-15.00", kind=EntryKind.RETURN, day=12),
    ]
    flexiti = [auth(1, "A", "100.00", returned="25.00")]
    assert run(ledger, flexiti, [cap(10, 1, "A", "100.00", returned="25.00")]).clean


def test_return_mismatch_and_missing_on_either_side() -> None:
    flexiti_returned = [auth(1, "A", "100.00", returned="25.00")]
    captures = [cap(10, 1, "A", "100.00", returned="25.00")]
    ret = row("A", "20.00", kind=EntryKind.RETURN)
    found = only(run([row("A", "100.00"), ret], flexiti_returned, captures))
    assert (found.kind, found.entry, found.ledger_amount, found.flexiti_amount) == (
        K.AMOUNT_MISMATCH,
        EntryKind.RETURN,
        Decimal("20.00"),
        Decimal("25.00"),
    )
    found = only(run([row("A", "100.00")], flexiti_returned, captures))
    assert (found.kind, found.entry) == (K.MISSING_IN_LEDGER, EntryKind.RETURN)
    plain = [auth(1, "A", "100.00")]
    found = only(run([row("A", "100.00"), ret], plain, [cap(10, 1, "A", "100.00")]))
    assert (found.kind, found.entry, found.ledger_amount) == (
        K.MISSING_IN_FLEXITI,
        EntryKind.RETURN,
        Decimal("20.00"),
    )


def test_returns_follow_their_sale_whatever_their_date() -> None:
    ledger = [row("A", "100.00", day=31), row("A", "25.00", kind=EntryKind.RETURN, day=40)]
    flexiti = [auth(1, "A", "100.00", returned="25.00", day=31)]
    report = run(ledger, flexiti)
    assert report.clean
    assert report.stats["ledger_rows_outside_range"] == 0


def test_rows_outside_the_range_are_counted_and_listed_not_reconciled() -> None:
    ledger = [
        row("OLD", "1.00", day=0),
        row("NEW", "1.00", day=32),
        row("OLD", "1.00", kind=EntryKind.RETURN, day=3),
        row("LATE", "1.00", kind=EntryKind.RETURN, day=40),
    ]
    report = run(ledger)
    assert report.clean
    assert report.stats["ledger_rows"] == 4
    assert report.stats["ledger_rows_outside_range"] == 4
    reasons = {r.reference: r.reason for r in report.outside_range}
    assert reasons["OLD"] in ("dated outside the range", "its sale is outside the range")
    assert sorted(r.line for r in report.outside_range) == [2, 3, 4, 5]


def test_a_return_flexiti_does_not_know_is_a_discrepancy() -> None:
    report = run([row("ORPHAN", "1.00", kind=EntryKind.RETURN, day=3)])
    assert report.keys() == {("missing_in_flexiti", "ORPHAN", "return")}
    assert report.stats["ledger_rows_outside_range"] == 0


# ------------------------------------------------------------------------------ duplicates


def test_duplicate_in_ledger() -> None:
    ledger = [row("A", "100.00", line=2), row("A", "100.00", line=9)]
    found = only(run(ledger, [auth(1, "A", "100.00")]))
    assert (found.kind, found.side, found.ledger_lines) == (
        K.DUPLICATE_REFERENCE,
        Side.LEDGER,
        (2, 9),
    )


def test_duplicate_in_flexiti() -> None:
    flexiti = [auth(1, "A", "100.00"), auth(2, "A", "100.00", day=6)]
    found = only(run([row("A", "100.00")], flexiti))
    assert (found.kind, found.side, found.authorization_ids) == (
        K.DUPLICATE_REFERENCE,
        Side.FLEXITI,
        (1, 2),
    )


def test_duplicate_on_both_sides_is_one_finding() -> None:
    flexiti = [auth(1, "A", "100.00"), auth(2, "A", "100.00")]
    found = only(run([row("A", "1.00"), row("A", "2.00")], flexiti))
    assert found.side is Side.BOTH


def test_the_same_item_seen_twice_is_not_a_duplicate() -> None:
    matcher = Matcher([row("A", "100.00")], start=START, end=END, as_of=AS_OF, stale_days=7)
    assert matcher.add_authorization(auth(1, "A", "100.00"))
    assert not matcher.add_authorization(auth(1, "A", "100.00"))
    assert matcher.add_capture(cap(10, 1, "A", "100.00"))
    assert not matcher.add_capture(cap(10, 1, "A", "100.00"))
    report = matcher.report()
    assert report.clean
    assert report.stats["repeated_items"] == 2
    assert (report.stats["authorizations"], report.stats["captures"]) == (1, 1)


# ------------------------------------------------------------------------------ stores


def test_one_reference_at_two_stores_is_two_sales() -> None:
    ledger = [row("7", "10.00", store="S1"), row("7", "20.00", store="S2")]
    flexiti = [auth(1, "7", "10.00", store="S1"), auth(2, "7", "20.00", store="S2")]
    report = run(ledger, flexiti)
    assert report.clean
    assert report.matched == 2


def test_a_side_without_store_matches_any_store() -> None:
    assert run([row("A", "10.00", store=None)], [auth(1, "A", "10.00", store="S1")]).clean
    assert run([row("A", "10.00", store="S1")], [auth(1, "A", "10.00", store=None)]).clean


def test_store_disagreement_means_missing_on_both_sides() -> None:
    report = run([row("A", "10.00", store="S1")], [auth(1, "A", "10.00", store="S2")])
    assert [(d.kind, d.store) for d in report.discrepancies] == [
        (K.MISSING_IN_FLEXITI, "S1"),
        (K.MISSING_IN_LEDGER, "S2"),
    ]


# ------------------------------------------------------------------------------ stale


def test_stale_open_authorization_is_a_release_candidate() -> None:
    # AS_OF is Feb 1; day 20 is Jan 20: 12 days old.
    flexiti = [auth(1, "A", "50.00", captured="20.00", day=20)]
    report = run([row("A", "20.00", day=20)], flexiti)
    found = only(report)
    assert (found.kind, found.flexiti_amount, found.age_days, found.created) == (
        K.STALE_AUTHORIZATION,
        Decimal("30.00"),
        12,
        date(2024, 1, 20),
    )
    assert report.matched == 1  # the sale itself agrees


def test_stale_boundary_is_strictly_older_than_stale_days() -> None:
    # Jan 25 is exactly 7 days before Feb 1: not stale; Jan 24 is 8 days: stale.
    assert run([row("A", "5.00", day=25)], [auth(1, "A", "5.00", captured="0", day=25)]).clean
    found = only(run([row("A", "5.00", day=24)], [auth(1, "A", "5.00", captured="0", day=24)]))
    assert (found.kind, found.age_days) == (K.STALE_AUTHORIZATION, 8)


def test_closed_or_fully_used_authorizations_are_never_stale() -> None:
    assert run([row("A", "5.00", day=2)], [auth(1, "A", "5.00", day=2)]).clean
    weird = auth(1, "A", "5.00", captured="5.00", day=2, status="opened")  # remaining 0
    assert run([row("A", "5.00", day=2)], [weird]).clean


def test_stale_days_zero_flags_every_open_authorization_before_as_of() -> None:
    report = run(
        [row("A", "5.00", day=31)], [auth(1, "A", "5.00", captured="0", day=31)], stale_days=0
    )
    assert only(report).age_days == 1


# ------------------------------------------------------------------------------ windows


def test_items_outside_their_window_are_ignored() -> None:
    matcher = Matcher([row("A", "1.00", day=3)], start=START, end=END, as_of=AS_OF, stale_days=7)
    window = (date(2024, 1, 2), date(2024, 1, 2))
    assert not matcher.add_authorization(auth(1, "A", "1.00", day=3), window)
    assert matcher.add_authorization(
        auth(1, "A", "1.00", day=3), (date(2024, 1, 3), date(2024, 1, 3))
    )
    assert matcher.add_authorization(auth(2, "B", "1.00", day=40))  # after `end`
    report = matcher.report()
    assert report.clean
    assert report.stats["out_of_window_items"] == 1
    assert report.outside_authorizations == (2,)


def test_non_utc_timestamps_are_placed_on_their_utc_day() -> None:
    eastern = timezone(timedelta(hours=-5))
    late = Authorization(
        authorization_id=1,
        reference="A",
        amount=Decimal("1.00"),
        captured_amount=Decimal("1.00"),
        authorization_status="closed",
        creation_date=datetime(2024, 1, 2, 21, tzinfo=eastern),
    )
    matcher = Matcher([row("A", "1.00", day=3)], start=START, end=END, as_of=AS_OF, stale_days=7)
    assert not matcher.add_authorization(late, (date(2024, 1, 2), date(2024, 1, 2)))
    assert matcher.add_authorization(late, (date(2024, 1, 3), date(2024, 1, 3)))


def test_captures_of_authorizations_outside_the_range_are_counted_and_ignored() -> None:
    report = run([], [], [cap(10, 99, "EARLIER", "5.00")])
    assert report.clean
    assert report.stats["captures_without_authorization"] == 1
    report = run([row("A", "5.00")], [auth(1, "A", "5.00")], [cap(10, 99, "A", "7.00")])
    assert report.clean  # the stray capture belongs to another authorization
    assert report.stats["captures_without_authorization"] == 1


def test_matcher_validates_its_range() -> None:
    with pytest.raises(ValueError, match="after"):
        Matcher([], start=END, end=START, as_of=AS_OF, stale_days=1)
    with pytest.raises(ValueError, match="stale_days"):
        Matcher([], start=START, end=END, as_of=AS_OF, stale_days=-1)


# ------------------------------------------------------------------------------ report


def sample_report() -> Report:
    return run(
        [
            row("A", "90.00", line=2),
            row("L", "1.00", line=3),
            row("D", "1.00", line=4),
            row("D", "1.00", line=5),
        ],
        [
            auth(1, "A", "100.00"),
            auth(2, "F", "3.00"),
            auth(3, "S", "9.00", captured="0", day=2),
            auth(4, "D", "1.00"),
        ],
    )


def test_report_counts_keys_and_sorting() -> None:
    report = sample_report()
    assert {k.value: n for k, n in report.counts().items()} == {
        "amount_mismatch": 1,
        "missing_in_flexiti": 1,
        "missing_in_ledger": 2,
        "duplicate_reference": 1,
        "date_mismatch": 0,
        "stale_authorization": 1,
    }
    assert report.keys() >= {("amount_mismatch", "A", "sale"), ("stale_authorization", "S", "sale")}
    kinds = [d.kind.value for d in report.discrepancies]
    assert kinds == sorted(kinds)
    assert [d.reference for d in report.of_kind("missing_in_ledger")] == ["F", "S"]
    assert not report.clean


def test_report_json_and_csv_parse(tmp_path: Path) -> None:
    report = sample_report()
    data: dict[str, Any] = json.loads(report.to_json())
    assert data["counts"]["amount_mismatch"] == 1
    first = next(d for d in data["discrepancies"] if d["kind"] == "amount_mismatch")
    assert (first["ledger_amount"], first["flexiti_amount"], first["difference"]) == (
        "90.00",
        "100.00",
        "-10.00",
    )
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(rows) == len(report.discrepancies)
    assert rows[0]["kind"] == report.discrepancies[0].kind.value
    for suffix in (".csv", ".json"):
        path = tmp_path / f"report{suffix}"
        report.write(path)
        assert path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=r"\.csv or \.json"):
        report.write(tmp_path / "report.txt")
