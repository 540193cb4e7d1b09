"""The ledger's data types: `EntryKind`, `LedgerRow`, and the errors that name lines."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from attrs import frozen

__all__ = ["EntryKind", "LedgerError", "LedgerRow", "RowError"]

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
