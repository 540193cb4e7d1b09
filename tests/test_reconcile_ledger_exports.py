"""The ledger reader on what merchants' real exports look like, and on hostile input."""

from __future__ import annotations

import codecs
from decimal import Decimal
from pathlib import Path

import pytest

from flexiti_async.reconcile import LedgerError, load_ledger, parse_ledger

HEADER = "reference,store,amount,date,kind"


def errors(text: str) -> list[tuple[int, str | None, str]]:
    with pytest.raises(LedgerError) as info:
        parse_ledger(text)
    return [(e.line, e.column, e.message) for e in info.value.errors]


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "ledger.csv"
    path.write_bytes(data)
    return path


def test_excel_style_export_bom_crlf_quotes_trailing_blank_lines(tmp_path: Path) -> None:
    data = (
        "\ufeff Reference ,STORE,Amount,Date,Kind,Customer note\r\n"
        '"A-1","S 1","12.50","2024-03-01","Sale","said ""thanks"", paid"\r\n'
        'A-2,S1,3,2024-03-02,sale,"two\r\nlines"\r\n'
        "A-3,,0.10,2024-03-02,RETURN,,,\r\n"
        ",,,,,\r\n"
        "\r\n\r\n"
    ).encode()
    ledger = load_ledger(write(tmp_path, data))
    assert [(r.reference, r.store, r.amount, r.line) for r in ledger.rows] == [
        ("A-1", "S 1", Decimal("12.50"), 2),
        ("A-2", "S1", Decimal("3"), 3),
        ("A-3", None, Decimal("0.10"), 5),
    ]
    assert ledger.delimiter_name == "comma"


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab")])
def test_semicolon_and_tab_files_are_detected(tmp_path: Path, delimiter: str, name: str) -> None:
    text = (
        HEADER.replace(",", delimiter)
        + "\n"
        + delimiter.join(["A", "S1", "1.00", "2024-03-01", "sale"])
    )
    ledger = load_ledger(write(tmp_path, text.encode()))
    assert ledger.delimiter_name == name
    assert ledger.rows[0].amount == Decimal("1.00")


def test_excel_sep_line_and_utf16_unicode_text(tmp_path: Path) -> None:
    text = "sep=;\n" + HEADER.replace(",", ";") + "\nA;S1;1.00;2024-03-01;sale\n"
    ledger = load_ledger(write(tmp_path, text.encode()))
    assert ledger.rows[0].line == 3
    tab = HEADER.replace(",", "\t") + "\r\nB\tS1\t2.00\t2024-03-01\tsale\r\n"
    ledger = load_ledger(write(tmp_path, codecs.BOM_UTF16_LE + tab.encode("utf-16-le")))
    assert (ledger.rows[0].reference, ledger.delimiter_name) == ("B", "tab")


def test_a_header_without_the_columns_says_which_delimiter_was_tried() -> None:
    ((line, _, message),) = errors("reference|store|amount|date|kind\nA|S|1|2024-03-01|sale\n")
    assert line == 1
    assert "comma, semicolon or tab" in message


def test_latin1_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    good = "".join(f"R{i},S1,1.00,2024-03-01,sale\n" for i in range(199))
    data = (HEADER + "\n" + good).encode() + "Caf\u00e9,S1,1.00,2024-03-01,sale\n".encode("latin-1")
    with pytest.raises(LedgerError) as info:
        load_ledger(write(tmp_path, data))
    (error,) = info.value.errors
    assert error.line == 201
    assert "0xE9" in error.message
    assert "UTF-8" in error.message


def test_an_unclosed_quote_is_named_with_the_line_it_opens_on() -> None:
    found = errors(
        f'{HEADER}\nA,S1,1.00,2024-03-01,sale\n"B,S1,1.00,2024-03-01,sale\nC,S1,1,2024-03-01,sale\n'
    )
    assert found == [
        (3, None, 'a quoted cell opens on this line and is never closed (a missing ")')
    ]


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f", "\n", "\u200b", "\u202e"])
def test_control_and_invisible_characters_are_refused_with_line_and_column(char: str) -> None:
    found = errors(f'{HEADER}\nA,S1,1.00,2024-03-01,sale\n"B{char}C",S1,1.00,2024-03-01,sale\n')
    assert [(line, column) for line, column, _ in found] == [(3, "reference")]
    assert f"U+{ord(char):04X}" in found[0][2]


def test_control_characters_in_an_extra_column_are_refused_too() -> None:
    found = errors(f"{HEADER},note\nA,S1,1.00,2024-03-01,sale,a\x00b\n")
    assert [(line, column) for line, column, _ in found] == [(2, "note")]


@pytest.mark.parametrize(
    ("amount", "hint"),
    [
        ("\u0663\u0664.\u0665\u0660", "ASCII digits"),
        ("\uff11\uff12.\uff10\uff10", "ASCII digits"),
        ('"12,50"', "decimal comma"),
        ('"1,234.50"', "thousands separator"),
        ("$12.50", "currency sign"),
        ("12.50 CAD", "currency sign"),
        ("(12.50)", "minus sign"),
        (".50", "leading zero"),
        ("1e3", "exponent"),
    ],
)
def test_amounts_are_strict_and_the_hint_names_the_accepted_form(amount: str, hint: str) -> None:
    ((line, column, message),) = errors(f"{HEADER}\nA,S1,{amount},2024-03-01,sale\n")
    assert (line, column) == (2, "amount")
    assert hint in message
    assert "1234.50" in message or "0.50" in message or "minus" in message


@pytest.mark.parametrize(
    ("day", "hint"),
    [
        ("\u0662\u0660\u0662\u0664-03-01", "ASCII digits"),
        ("2024-03-01T10:00:00Z", "without a time"),
        ("01/03/2024", "YYYY-MM-DD"),
    ],
)
def test_dates_are_strict(day: str, hint: str) -> None:
    ((line, column, message),) = errors(f"{HEADER}\nA,S1,1.00,{day},sale\n")
    assert (line, column) == (2, "date")
    assert hint in message


def test_an_unquoted_decimal_comma_gets_a_hint_too() -> None:
    ((line, _, message),) = errors(f"{HEADER}\nA,S1,12,50,2024-03-01,sale\n")
    assert line == 2
    assert "decimal comma in 12,50? write 1234.50" in message


def test_a_repeated_header_row_is_named() -> None:
    found = errors(f"{HEADER}\nA,S1,1.00,2024-03-01,sale\n{HEADER.upper()}\n")
    assert found == [(3, None, "a second header row (were two files joined?)")]


def test_non_empty_cells_past_the_header_are_refused() -> None:
    found = errors(f"{HEADER}\nA,S1,1.00,2024-03-01,sale,,surprise\n")
    assert found == [(2, None, "7 cells but the header has 5 columns")]


def test_amounts_padded_with_zeros_are_whole_cents() -> None:
    rows = parse_ledger(f"{HEADER}\nA,S1,12.500,2024-03-01,sale\nB,S1,7.0000,2024-03-01,sale\n")
    assert [row.amount for row in rows] == [Decimal("12.50"), Decimal("7.00")]
    ((_, column, message),) = errors(f"{HEADER}\nA,S1,12.505,2024-03-01,sale\n")
    assert column == "amount"
    assert "not whole cents" in message


def test_a_negative_sale_says_how_to_book_a_refund() -> None:
    ((_, column, message),) = errors(f"{HEADER}\nA,S1,-12.50,2024-03-01,sale\n")
    assert column == "amount"
    assert "kind return" in message


def test_a_single_store_export_may_have_no_store_column() -> None:
    rows = parse_ledger("Reference;Amount;Date;Kind\nA;1.00;2024-03-01;sale\n")
    assert [(row.reference, row.store) for row in rows] == [("A", None)]
