"""Report writers: spreadsheet-safe CSV, raw JSON, atomic writes with the user's umask."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from flexiti_async.reconcile import (
    Discrepancy,
    DiscrepancyKind,
    LedgerRow,
    Report,
    check_output_path,
    merge,
    neutralise,
)


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_are_neutralised(first: str) -> None:
    assert neutralise(first + "1+2") == "'" + first + "1+2"
    assert neutralise("ORD-" + first) == "ORD-" + first


def report_with(reference: str, store: str) -> Report:
    return Report(
        start=date(2024, 1, 1),
        end=date(2024, 1, 2),
        as_of=date(2024, 1, 3),
        stale_days=7,
        matched=0,
        discrepancies=[
            Discrepancy(
                kind=DiscrepancyKind.AMOUNT_MISMATCH,
                reference=reference,
                store=store,
                ledger_amount=Decimal("10.00"),
                flexiti_amount=Decimal("12.50"),
                ledger_lines=(2,),
            )
        ],
    )


def test_csv_text_cells_are_inert_numbers_stay_numbers_json_stays_raw() -> None:
    report = report_with("=1+1", "@SUM(A1)")
    (row,) = csv.DictReader(io.StringIO(report.to_csv()))
    assert (row["reference"], row["store"]) == ("'=1+1", "'@SUM(A1)")
    assert row["difference"] == "-2.50"  # a number, not text
    assert row["ledger_lines"] == "2"
    data = json.loads(report.to_json())
    assert data["discrepancies"][0]["reference"] == "=1+1"


def test_write_is_atomic_and_honours_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    old = os.umask(0o022)
    try:
        report_with("A", "S").write(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["report.json"]  # no temporary file left behind
    assert json.loads(path.read_text(encoding="utf-8"))["clean"] is False


def test_output_paths_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "r.csv")
    with pytest.raises(ValueError, match=r"\.csv or \.json"):
        check_output_path(tmp_path / "r.xlsx")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ValueError, match="folder"):
        check_output_path(tmp_path / "dir.json")
    assert check_output_path(tmp_path / "R.JSON").endswith("R.JSON")


def test_rows_joined_from_two_files_may_share_line_numbers() -> None:
    rows = [
        LedgerRow(reference=ref, amount=Decimal(1), date=date(2024, 1, 2), line=2)
        for ref in ("A", "B")
    ]
    report = merge([], rows, start=date(2024, 1, 1), end=date(2024, 1, 3), as_of=date(2024, 1, 5))
    assert report.keys() == {
        ("missing_in_flexiti", "A", "sale"),
        ("missing_in_flexiti", "B", "sale"),
    }
