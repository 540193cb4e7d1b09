"""The merchant ledger: `LedgerRow`, and the CSV reader that reports every bad row at once."""

from __future__ import annotations

import csv
import enum
import io
import os
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import frozen

__all__ = [
    "COLUMNS",
    "EntryKind",
    "LedgerError",
    "LedgerRow",
    "RowError",
    "check_ledger_dates",
    "ledger_csv",
    "parse_ledger",
    "read_ledger",
]

#: The columns a ledger CSV must have (in any order; extra columns are ignored).
COLUMNS = ("reference", "store", "amount", "date", "kind")

# Plain decimal notation with at most two places: "12", "12.5", "-3.99". Exponents, NaN,
# thousands separators and currency signs are refused rather than guessed at.
_AMOUNT = re.compile(r"[+-]?\d+(\.\d{1,2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The first errors go into the exception message; all of them are on `LedgerError.errors`.
_MESSAGE_ERRORS = 20


class EntryKind(str, enum.Enum):
    """What a ledger row records: a ``sale`` or a ``return``."""

    SALE = "sale"
    RETURN = "return"

    def __str__(self) -> str:
        return self.value


@frozen(kw_only=True)
class LedgerRow:
    """One row of the merchant ledger.

    ``amount`` is a `Decimal` with at most two places. A sale is never negative; a return
    may be written either way (``25.00`` or ``-25.00``): the reader keeps its magnitude and
    the matcher compares magnitudes.
    ``store`` is None when the cell is empty. ``line`` is the CSV line the row starts on
    (1 is the header), or None for rows built in code.
    """

    reference: str
    amount: Decimal
    date: date
    kind: EntryKind = EntryKind.SALE
    store: str | None = None
    line: int | None = None


@frozen
class RowError:
    """One problem in the ledger file: ``line`` (1 is the header), ``column``, ``message``."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.message}"


class LedgerError(ValueError):
    """The ledger could not be read. ``errors`` lists every bad row (not only the first);
    ``path`` is the file, when there was one. Nothing is reconciled from a bad ledger.
    """

    def __init__(self, errors: Iterable[RowError], *, path: str | None = None) -> None:
        self.errors = tuple(errors)
        self.path = path
        shown = [f"  {error}" for error in self.errors[:_MESSAGE_ERRORS]]
        if len(self.errors) > _MESSAGE_ERRORS:
            shown.append(f"  ... and {len(self.errors) - _MESSAGE_ERRORS} more")
        source = f"{path}: " if path else ""
        count = len(self.errors)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}{count} {noun} in the ledger:\n" + "\n".join(shown))


def _amount(text: str, kind: EntryKind | None) -> Decimal | str:
    """The amount, or an error message."""
    if not text:
        return "amount is empty"
    if not _AMOUNT.fullmatch(text):
        if re.fullmatch(r"[+-]?\d+\.\d{3,}", text):
            return f"amount {text!r} has more than two decimal places"
        return f"amount {text!r} is not a number like 12.34"
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already rules this out
        return f"amount {text!r} is not a number like 12.34"
    if value < 0:
        if kind is EntryKind.SALE:
            return f"a sale's amount must not be negative, got {text}"
        value = -value
    return value


def _date(text: str) -> date | str:
    """The date, or an error message."""
    if not text:
        return "date is empty"
    if not _DATE.fullmatch(text):
        return f"date {text!r} is not YYYY-MM-DD"
    try:
        return date.fromisoformat(text)
    except ValueError:
        return f"date {text!r} does not exist"


def _kind(text: str) -> EntryKind | str:
    """The entry kind, or an error message."""
    try:
        return EntryKind(text.lower())
    except ValueError:
        if not text:
            return "kind is empty (expected sale or return)"
        return f"kind {text!r} is not sale or return"


def _header(fields: list[str] | None) -> tuple[dict[str, int], list[RowError]]:
    """Map each required column to its position, or explain what is wrong with the header."""
    if not fields or all(not f.strip() for f in fields):
        return {}, [RowError(1, None, f"the file is empty; expected a header: {','.join(COLUMNS)}")]
    names = [f.strip().lower() for f in fields]
    errors: list[RowError] = []
    positions: dict[str, int] = {}
    for column in COLUMNS:
        if names.count(column) > 1:
            errors.append(RowError(1, column, "the column appears more than once in the header"))
        elif column in names:
            positions[column] = names.index(column)
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        errors.append(
            RowError(
                1,
                None,
                f"the header lacks the column(s) {', '.join(missing)} "
                f"(expected {','.join(COLUMNS)}; got {','.join(names)})",
            )
        )
    return positions, errors


def _rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Records with the line they start on (a quoted cell may span lines)."""
    line = 1
    for record in reader:
        start = line + 1
        line = reader.line_num
        if not record or all(not cell.strip() for cell in record):
            continue  # blank lines separate nothing and hold nothing
        yield start, record


def parse_ledger(source: Iterable[str], *, path: str | None = None) -> list[LedgerRow]:
    """Parse ledger CSV text (an open text file or any iterable of lines).

    The first line is the header (``reference,store,amount,date,kind`` in any order, any
    case; extra columns are ignored). Every row is checked and every problem is collected:
    a bad amount, a bad or impossible date, an unknown kind, an empty reference, a missing
    or extra cell. If there is any, `LedgerError` is raised listing all of them with their
    line numbers; no row is silently dropped. Blank lines are skipped.

    >>> rows = parse_ledger(["reference,store,amount,date,kind", "A1,S1,10.00,2024-01-02,sale"])
    >>> rows[0].amount
    Decimal('10.00')
    """
    reader = csv.reader(iter(source))
    try:
        fields = next(reader, None)
    except csv.Error as exc:
        raise LedgerError([RowError(1, None, f"not valid CSV: {exc}")], path=path) from None
    positions, errors = _header(fields)
    if errors:
        raise LedgerError(errors, path=path)
    width = len(fields or ())
    rows: list[LedgerRow] = []
    try:
        for line, record in _rows(reader):
            row = _row(line, record, positions, width, errors)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, None, f"not valid CSV: {exc}"))
    if errors:
        raise LedgerError(errors, path=path)
    return rows


def _row(
    line: int, record: list[str], positions: dict[str, int], width: int, errors: list[RowError]
) -> LedgerRow | None:
    """One ledger row, or None after appending its problems to ``errors``."""
    found = len(errors)
    if len(record) > width:
        errors.append(
            RowError(line, None, f"{len(record)} cells but the header has {width} columns")
        )
        return None
    missing = [c for c, i in positions.items() if i >= len(record)]
    if missing:
        errors.append(RowError(line, None, f"missing column(s) {', '.join(missing)}"))
        return None
    cell = {column: record[i].strip() for column, i in positions.items()}
    reference = cell["reference"]
    if not reference:
        errors.append(RowError(line, "reference", "reference is empty"))
    kind = _kind(cell["kind"])
    if not isinstance(kind, EntryKind):  # EntryKind is a str too: test for it, not for str
        errors.append(RowError(line, "kind", kind))
    amount = _amount(cell["amount"], kind if isinstance(kind, EntryKind) else None)
    if isinstance(amount, str):
        errors.append(RowError(line, "amount", amount))
    when = _date(cell["date"])
    if isinstance(when, str):
        errors.append(RowError(line, "date", when))
    if len(errors) > found:
        return None
    assert isinstance(kind, EntryKind)
    assert isinstance(amount, Decimal)
    assert isinstance(when, date)
    return LedgerRow(
        reference=reference,
        store=cell["store"] or None,
        amount=amount,
        date=when,
        kind=kind,
        line=line,
    )


def read_ledger(path: str | os.PathLike[str]) -> list[LedgerRow]:
    """Read a ledger CSV file (UTF-8, a byte-order mark is fine); see `parse_ledger`.

    Raises `LedgerError` for bad content and `OSError` when the file cannot be read.

    >>> rows = read_ledger("ledger.csv")                              # doctest: +SKIP
    """
    name = os.fspath(path)
    with open(name, encoding="utf-8-sig", newline="") as handle:
        try:
            return parse_ledger(handle, path=name)
        except UnicodeDecodeError as exc:
            raise LedgerError(
                [RowError(1, None, f"the file is not UTF-8 text ({exc.reason})")], path=name
            ) from None


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
