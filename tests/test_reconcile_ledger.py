"""The ledger CSV reader: good rows, and every bad row reported at once with its line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from flexiti_async.reconcile import (
    EntryKind,
    LedgerError,
    LedgerRow,
    ledger_csv,
    parse_ledger,
    read_ledger,
)

HEADER = "reference,store,amount,date,kind"


def parse(*lines: str) -> list[LedgerRow]:
    return parse_ledger(list(lines))


def errors_of(*lines: str) -> list[tuple[int, str | None, str]]:
    with pytest.raises(LedgerError) as info:
        parse(*lines)
    return [(e.line, e.column, e.message) for e in info.value.errors]


def test_good_rows_parse_with_decimal_amounts_and_line_numbers() -> None:
    rows = parse(
        HEADER,
        "A1,S1,10.00,2024-01-02,sale",
        "A1,S1,-2.5,2024-01-05,RETURN",
        "B2,,7,2024-01-03,sale",
    )
    assert rows == [
        LedgerRow(
            reference="A1",
            store="S1",
            amount=Decimal("10.00"),
            date=date(2024, 1, 2),
            kind=EntryKind.SALE,
            line=2,
        ),
        LedgerRow(
            reference="A1",
            store="S1",
            amount=Decimal("2.5"),
            date=date(2024, 1, 5),
            kind=EntryKind.RETURN,
            line=3,
        ),
        LedgerRow(
            reference="B2",
            store=None,
            amount=Decimal("7"),
            date=date(2024, 1, 3),
            kind=EntryKind.SALE,
            line=4,
        ),
    ]
    assert all(isinstance(row.amount, Decimal) for row in rows)


def test_header_in_any_order_and_case_with_extra_columns() -> None:
    rows = parse(" Kind ,DATE,amount,Note,store,Reference", "sale,2024-01-02,1.10,hello,S9,R1")
    assert rows[0].reference == "R1"
    assert rows[0].store == "S9"
    assert rows[0].amount == Decimal("1.10")


def test_blank_lines_are_skipped_and_quoted_newlines_keep_line_numbers() -> None:
    text = f'{HEADER},note\n\nA,S1,1.00,2024-01-02,sale,"two\nlines"\nC,S1,oops,2024-01-02,sale,\n'
    with pytest.raises(LedgerError) as info:
        parse_ledger(text.splitlines(keepends=True))
    assert [(e.line, e.column) for e in info.value.errors] == [(5, "amount")]


def test_every_bad_row_is_reported_at_once() -> None:
    found = errors_of(
        HEADER,
        "A,S,12.345,2024-01-02,sale",  # 2: three decimals
        "B,S,abc,2024-01-02,sale",  # 3: not a number
        "C,S,10.00,2024-02-30,sale",  # 4: impossible date
        "D,S,10.00,02/01/2024,sale",  # 5: wrong date format
        "E,S,10.00,2024-01-02,refund",  # 6: unknown kind
        ",S,10.00,2024-01-02,sale",  # 7: empty reference
        "F,S,10.00",  # 8: missing cells
        "G,S,10.00,2024-01-02,sale,extra",  # 9: extra cell
        "H,S,-1.00,2024-01-02,sale",  # 10: negative sale
        "I,S,NaN,,",  # 11: three problems on one row
        "J,S,1e3,2024-01-02,sale",  # 12: exponent refused
        "K,S,10.00,2024-01-02,sale",  # fine
    )
    lines = [line for line, _, _ in found]
    assert lines == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11, 11, 12]
    by_line = {(line, column): message for line, column, message in found}
    assert "more than two decimal places" in by_line[(2, "amount")]
    assert "not a number" in by_line[(3, "amount")]
    assert "does not exist" in by_line[(4, "date")]
    assert "YYYY-MM-DD" in by_line[(5, "date")]
    assert "not sale or return" in by_line[(6, "kind")]
    assert "reference is empty" in by_line[(7, "reference")]
    assert "missing column(s) date, kind" in by_line[(8, None)]
    assert "6 cells" in by_line[(9, None)]
    assert "must not be negative" in by_line[(10, "amount")]
    assert {(11, "amount"), (11, "date"), (11, "kind")} <= set(by_line)


def test_error_message_names_the_lines() -> None:
    with pytest.raises(LedgerError) as info:
        parse_ledger([HEADER, "A,S,x,2024-01-02,sale"], path="ledger.csv")
    text = str(info.value)
    assert text.startswith("ledger.csv: 1 problem in the ledger")
    assert "line 2, column 'amount'" in text
    assert isinstance(info.value, ValueError)


def test_long_error_lists_are_cut_in_the_message_but_complete_on_the_exception() -> None:
    lines = [HEADER] + [f"R{i},S,bad,2024-01-02,sale" for i in range(30)]
    with pytest.raises(LedgerError) as info:
        parse_ledger(lines)
    assert len(info.value.errors) == 30
    assert "... and 10 more" in str(info.value)


def test_missing_header_column_is_one_clear_error() -> None:
    found = errors_of("reference,amount,date", "A,1.00,2024-01-02")
    assert len(found) == 1
    line, _, message = found[0]
    assert line == 1
    assert "lacks the column(s) kind" in message


def test_duplicate_header_column_and_empty_file() -> None:
    assert "more than once" in errors_of("reference,store,amount,date,kind,amount")[0][2]
    assert "the file is empty" in errors_of()[0][2]


def test_read_ledger_from_a_file_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    path.write_bytes(("\ufeff" + HEADER + "\r\nA,S,1.00,2024-01-02,sale\r\n").encode())
    rows = read_ledger(path)
    assert [row.reference for row in rows] == ["A"]


def test_read_ledger_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    path.write_bytes(HEADER.encode() + b"\nA,S\xff,1.00,2024-01-02,sale\n")
    with pytest.raises(LedgerError, match="not UTF-8"):
        read_ledger(path)


def test_ledger_csv_round_trips() -> None:
    rows = parse(HEADER, "A,S,1.50,2024-01-02,sale", "A,,0.50,2024-01-09,return")
    again = parse_ledger(ledger_csv(rows).splitlines())
    assert again == rows
