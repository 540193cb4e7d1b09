"""The merchant ledger CSV: a reader for real exports that reports every bad row at once.

What real exports bring, and what the reader does with it:

* encodings: UTF-8 with or without a byte-order mark, UTF-16 with one (Excel's "Unicode
  text"); anything else is refused naming the line that holds the first bad byte;
* delimiters: ``,`` ``;`` or tab, detected from the header (Excel's ``sep=;`` first line is
  honoured); line ends LF, CRLF or CR; quoted cells, also spanning lines;
* header names in any order, case and surrounding whitespace; extra columns ignored;
* blank lines (also lines of empty cells, and trailing ones) skipped; empty trailing cells
  past the header ignored;
* strict cells (see ``_cells.py``): amounts ``1234.50``, dates ``2024-03-31``, ASCII
  digits only, no control characters.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal

from attrs import frozen

from ._cells import check_text, parse_amount, parse_date, parse_kind
from ._types import EntryKind, LedgerError, LedgerRow, RowError

__all__ = [
    "COLUMNS",
    "DELIMITERS",
    "EntryKind",
    "LedgerError",
    "LedgerFile",
    "LedgerRow",
    "RowError",
    "check_ledger_dates",
    "ledger_csv",
    "load_ledger",
    "parse_ledger",
    "read_ledger",
]

#: The ledger's columns (in any order; extra columns are ignored).
COLUMNS = ("reference", "store", "amount", "date", "kind")
#: Those that must be there: a single-store merchant's export may have no ``store`` column
#: (its rows then match a reference at any store, like an empty store cell).
REQUIRED = ("reference", "amount", "date", "kind")
#: Delimiters recognised from the header, with the name used in messages.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


@frozen
class LedgerFile:
    """A ledger read from a file: its rows, and how it was read."""

    rows: tuple[LedgerRow, ...]
    delimiter: str
    encoding: str

    @property
    def delimiter_name(self) -> str:
        """``comma``, ``semicolon`` or ``tab``."""
        return DELIMITERS.get(self.delimiter, repr(self.delimiter))


def _name(field: str) -> str:
    return field.strip().strip("\ufeff").strip().lower()


def _sniff(header: str) -> tuple[str, list[str]]:
    """The delimiter that makes the header hold the most required columns."""
    best: tuple[int, int, str, list[str]] | None = None
    for delimiter in DELIMITERS:
        fields = next(csv.reader([header], delimiter=delimiter), [])
        found = sum(1 for column in COLUMNS if column in {_name(f) for f in fields})
        score = (found, len(fields))
        if best is None or score > best[:2]:
            best = (found, len(fields), delimiter, fields)
    assert best is not None
    return best[2], best[3]


def _header(fields: list[str], delimiter: str) -> tuple[dict[str, int], list[RowError]]:
    """Map each required column to its position, or explain what is wrong with the header."""
    names = [_name(f) for f in fields]
    errors: list[RowError] = []
    positions: dict[str, int] = {}
    for column in COLUMNS:
        if names.count(column) > 1:
            errors.append(RowError(1, column, "the column appears more than once in the header"))
        elif column in names:
            positions[column] = names.index(column)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        errors.append(
            RowError(
                1,
                None,
                f"the header lacks the column(s) {', '.join(missing)} (expected "
                f"{','.join(COLUMNS)}, separated by a comma, semicolon or tab; read with "
                f"{DELIMITERS[delimiter]}: {', '.join(repr(n) for n in names)})",
            )
        )
    return positions, errors


class _Cursor:
    """Records with the line they start on (a quoted cell may span lines); ``next_start``
    is where the record being read began, also when the reader fails on it."""

    def __init__(self, reader: Iterator[list[str]]) -> None:
        self.reader = reader
        self.next_start = 2  # the header is line 1, read before the reader starts

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        for record in self.reader:
            start = self.next_start
            self.next_start = self.reader.line_num + 2  # type: ignore[attr-defined]
            if not record or all(not cell.strip() for cell in record):
                continue  # blank lines separate nothing and hold nothing
            yield start, record


def parse_ledger(source: Iterable[str] | str, *, path: str | None = None) -> list[LedgerRow]:
    """Parse ledger CSV text (a string, an open text file, or any iterable of lines).

    The first line is the header (``reference,store,amount,date,kind`` in any order, any
    case; extra columns are ignored; ``,`` ``;`` or tab). Every row is checked and every
    problem is collected: a bad amount, a bad or impossible date, an unknown kind, an empty
    reference, a control character, a missing or extra cell, an unclosed quote. If there is
    any, `LedgerError` is raised listing all of them with their line numbers; no row is
    silently dropped. Blank lines are skipped.

    >>> rows = parse_ledger(["reference,store,amount,date,kind", "A1,S1,10.00,2024-01-02,sale"])
    >>> rows[0].amount
    Decimal('10.00')
    """
    return list(_parse(source, path=path)[0])


def _parse(source: Iterable[str] | str, *, path: str | None) -> tuple[list[LedgerRow], str]:
    lines = iter(io.StringIO(source, newline="") if isinstance(source, str) else source)
    first = next(lines, "")
    offset = 0
    delimiter: str | None = None
    if first.strip().lower() in ("sep=,", "sep=;", "sep=\\t", "sep=\t"):
        # Excel's hint line names the delimiter; the header follows it.
        delimiter = "\t" if first.strip().lower() in ("sep=\\t", "sep=\t") else first.strip()[-1]
        first, offset = next(lines, ""), 1
    header_text = first.rstrip("\r\n")
    if not header_text.strip():
        message = f"the file is empty; expected a header: {','.join(COLUMNS)}"
        raise LedgerError([RowError(1 + offset, None, message)], path=path)
    if delimiter is None:
        delimiter, fields = _sniff(header_text)
    else:
        fields = next(csv.reader([header_text], delimiter=delimiter), [])
    positions, errors = _header(fields, delimiter)
    if errors:
        raise LedgerError([_shift(e, offset) for e in errors], path=path)
    cursor = _Cursor(csv.reader(lines, delimiter=delimiter, strict=True))
    header = [_name(f) for f in fields]
    rows: list[LedgerRow] = []
    try:
        for start, record in cursor:
            row = _row(start, record, positions, header, errors)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            message = 'a quoted cell opens on this line and is never closed (a missing ")'
        else:
            message = f"not valid CSV: {exc}"
        errors.append(RowError(cursor.next_start, None, message))
    if errors:
        raise LedgerError([_shift(e, offset) for e in errors], path=path)
    return [_shift_row(r, offset) for r in rows] if offset else rows, delimiter


def _shift(error: RowError, offset: int) -> RowError:
    return RowError(error.line + offset, error.column, error.message) if offset else error


def _shift_row(row: LedgerRow, offset: int) -> LedgerRow:
    line = None if row.line is None else row.line + offset
    return LedgerRow(
        reference=row.reference,
        store=row.store,
        amount=row.amount,
        date=row.date,
        kind=row.kind,
        line=line,
    )


def _row(
    line: int,
    record: list[str],
    positions: dict[str, int],
    header: list[str],
    errors: list[RowError],
) -> LedgerRow | None:
    """One ledger row, or None after appending its problems to ``errors``."""
    found = len(errors)
    width = len(header)
    if len(record) > width and any(cell.strip() for cell in record[width:]):
        message = f"{len(record)} cells but the header has {width} columns"
        at = positions["amount"]
        if len(record) == width + 1 and record[at].strip().isdigit() and len(record[at + 1]) <= 2:
            message += f" (a decimal comma in {record[at]},{record[at + 1]}? write 1234.50)"
        errors.append(RowError(line, None, message))
        return None
    if len(record) < width and any(i >= len(record) for i in positions.values()):
        missing = [c for c, i in positions.items() if i >= len(record)]
        errors.append(RowError(line, None, f"missing column(s) {', '.join(missing)}"))
        return None
    at = positions["reference"]
    if (
        record[at].strip().lower() == "reference"
        and [cell.strip().lower() for cell in record[:width]] == header
    ):
        errors.append(RowError(line, None, "a second header row (were two files joined?)"))
        return None
    for index, text in enumerate(record[:width]):
        if not text.isprintable():  # rare: look closer (a tab in a note is fine)
            problem = check_text(text, strict=index in positions.values())
            if problem is not None:
                errors.append(RowError(line, header[index] or f"#{index + 1}", problem))
    if len(errors) > found:
        return None
    cell = {column: record[i].strip() for column, i in positions.items()}
    reference = cell["reference"]
    if not reference:
        errors.append(RowError(line, "reference", "reference is empty"))
    kind = parse_kind(cell["kind"])
    if not isinstance(kind, EntryKind):  # EntryKind is a str too: test for it, not for str
        errors.append(RowError(line, "kind", kind))
    amount = parse_amount(cell["amount"], kind if isinstance(kind, EntryKind) else None)
    if isinstance(amount, str):
        errors.append(RowError(line, "amount", amount))
    when = parse_date(cell["date"])
    if isinstance(when, str):
        errors.append(RowError(line, "date", when))
    if len(errors) > found:
        return None
    assert isinstance(kind, EntryKind)
    assert isinstance(amount, Decimal)
    assert isinstance(when, date)
    return LedgerRow(
        reference=reference,
        store=cell.get("store") or None,
        amount=amount,
        date=when,
        kind=kind,
        line=line,
    )


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode(data: bytes, path: str) -> tuple[str, str]:
    """The text and its encoding; a decoding error names the line of the bad byte."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex().upper()
        hint = " (it looks like Latin-1 or Windows-1252)" if encoding == "utf-8" else ""
        message = (
            f"the file is not {encoding.upper().replace('-SIG', '')} text: byte 0x{bad} "
            f"cannot be read{hint}; save it as UTF-8 (Excel: CSV UTF-8)"
        )
        raise LedgerError([RowError(line, None, message)], path=path) from None


def load_ledger(path: str | os.PathLike[str]) -> LedgerFile:
    """Read a ledger CSV file; see `parse_ledger`. Also says how it was read.

    Raises `LedgerError` for bad content and `OSError` when the file cannot be read.
    """
    name = os.fspath(path)
    with open(name, "rb") as handle:
        data = handle.read()
    text, encoding = _decode(data, name)
    if text.startswith("\ufeff"):
        text = text[1:]
    rows, delimiter = _parse(text, path=name)
    return LedgerFile(rows=tuple(rows), delimiter=delimiter, encoding=encoding)


def read_ledger(path: str | os.PathLike[str]) -> list[LedgerRow]:
    """Read a ledger CSV file (UTF-8 or UTF-16, a byte-order mark is fine); see
    `parse_ledger`.

    Raises `LedgerError` for bad content and `OSError` when the file cannot be read.

    >>> rows = read_ledger("ledger.csv")                              # doctest: +SKIP
    """
    return list(load_ledger(path).rows)


def check_ledger_dates(rows: Iterable[LedgerRow], *, as_of: date, path: str | None = None) -> None:
    """Refuse rows dated after ``as_of`` (a typo such as 2062 for 2026): `LedgerError`
    naming every such row's line."""
    errors = [
        RowError(row.line if row.line is not None else index + 2, "date",
                 f"date {row.date} is after the as-of day {as_of} (a typo in the year?)")
        for index, row in enumerate(rows)
        if row.date > as_of
    ]  # fmt: skip
    if errors:
        raise LedgerError(errors, path=path)


def ledger_csv(rows: Iterable[LedgerRow]) -> str:
    """Ledger rows as CSV text with the standard header (used to write sandbox ledgers)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [row.reference, row.store or "", f"{row.amount}", row.date.isoformat(), row.kind.value]
        )
    return out.getvalue()
