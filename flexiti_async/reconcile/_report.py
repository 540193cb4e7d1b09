"""The reconciliation result: `Report`, `Discrepancy` and its kinds, CSV and JSON writers."""

from __future__ import annotations

import contextlib
import csv
import enum
import io
import json
import os
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from ._ledger import EntryKind

__all__ = [
    "Discrepancy",
    "DiscrepancyKind",
    "OutsideRow",
    "Report",
    "Side",
    "check_output_path",
    "neutralise",
]


class DiscrepancyKind(str, enum.Enum):
    """What is wrong with one reference (see `reconcile` for the exact rules)."""

    #: Both sides have it, the amounts differ (``ledger_amount`` vs ``flexiti_amount``).
    AMOUNT_MISMATCH = "amount_mismatch"
    #: The ledger has it, Flexiti does not (in the range).
    MISSING_IN_FLEXITI = "missing_in_flexiti"
    #: Flexiti has it (captured or pending capture, or a return), the ledger does not.
    MISSING_IN_LEDGER = "missing_in_ledger"
    #: The same reference (and store) twice on one side; ``side`` says which.
    DUPLICATE_REFERENCE = "duplicate_reference"
    #: Both sides have the sale with the same amount, but the ledger's date and Flexiti's
    #: creation date (in the merchant's time zone) differ by more than the tolerance.
    DATE_MISMATCH = "date_mismatch"
    #: An authorization still open, with money remaining, older than ``stale_days``:
    #: a release candidate. Never released automatically.
    STALE_AUTHORIZATION = "stale_authorization"

    def __str__(self) -> str:
        return self.value


class Side(str, enum.Enum):
    """Where a duplicate reference was seen."""

    LEDGER = "ledger"
    FLEXITI = "flexiti"
    BOTH = "both"

    def __str__(self) -> str:
        return self.value


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(sorted(value))


@frozen(kw_only=True)
class Discrepancy:
    """One finding.

    ``entry`` says whether the sale or the return of ``reference`` is concerned.
    ``ledger_amount`` / ``flexiti_amount`` are the compared figures (None when that side
    has nothing). ``authorization_ids`` and ``ledger_lines`` point at the records involved.
    ``side`` is set for duplicates; ``created`` and ``age_days`` for stale authorizations.
    """

    kind: DiscrepancyKind
    reference: str | None
    store: str | None = None
    entry: EntryKind = EntryKind.SALE
    ledger_amount: Decimal | None = None
    flexiti_amount: Decimal | None = None
    authorization_ids: tuple[int, ...] = field(default=(), converter=_ints)
    ledger_lines: tuple[int, ...] = field(default=(), converter=_ints)
    side: Side | None = None
    created: date | None = None
    age_days: int | None = None
    ledger_date: date | None = None
    flexiti_date: date | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """``(kind, reference, entry)``: what identifies a finding when comparing runs.

        A stale authorization without a reference uses ``#<authorization_id>``.
        """
        reference = self.reference
        if reference is None:
            reference = "#" + ",".join(str(i) for i in self.authorization_ids)
        return (self.kind.value, reference, self.entry.value)

    @property
    def difference(self) -> Decimal | None:
        """``ledger_amount - flexiti_amount`` when both are known."""
        if self.ledger_amount is None or self.flexiti_amount is None:
            return None
        return self.ledger_amount - self.flexiti_amount

    def describe(self) -> str:
        """A one-line human description."""
        kind = self.kind
        entry = self.entry.value
        if kind is DiscrepancyKind.AMOUNT_MISMATCH:
            return f"{entry}: ledger {self.ledger_amount} vs Flexiti {self.flexiti_amount}"
        if kind is DiscrepancyKind.MISSING_IN_FLEXITI:
            return f"{entry} of {self.ledger_amount} in the ledger, not in Flexiti"
        if kind is DiscrepancyKind.MISSING_IN_LEDGER:
            return f"{entry} of {self.flexiti_amount} in Flexiti, not in the ledger"
        if kind is DiscrepancyKind.DATE_MISMATCH:
            return f"{entry}: ledger dated {self.ledger_date}, Flexiti created {self.flexiti_date}"
        if kind is DiscrepancyKind.DUPLICATE_REFERENCE:
            where = {Side.LEDGER: "in the ledger", Side.FLEXITI: "in Flexiti"}.get(
                self.side or Side.BOTH, "on both sides"
            )
            return f"reference used more than once {where}"
        return (
            f"open since {self.created} ({self.age_days} days), "
            f"{self.flexiti_amount} remaining: release candidate"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (money as strings, so no float ever touches it)."""
        return {
            "kind": self.kind.value,
            "reference": self.reference,
            "store": self.store,
            "entry": self.entry.value,
            "ledger_amount": _money(self.ledger_amount),
            "flexiti_amount": _money(self.flexiti_amount),
            "difference": _money(self.difference),
            "authorization_ids": list(self.authorization_ids),
            "ledger_lines": list(self.ledger_lines),
            "side": self.side.value if self.side else None,
            "created": self.created.isoformat() if self.created else None,
            "age_days": self.age_days,
            "ledger_date": _day(self.ledger_date),
            "flexiti_date": _day(self.flexiti_date),
            "description": self.describe(),
        }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sort_key(item: Discrepancy) -> tuple[str, str, str, str, tuple[int, ...]]:
    return (item.kind.value, item.reference or "", item.store or "", item.entry.value,
            item.authorization_ids)  # fmt: skip


def _sorted(items: Iterable[Discrepancy]) -> tuple[Discrepancy, ...]:
    return tuple(sorted(items, key=_sort_key))


CSV_COLUMNS = (
    "kind",
    "reference",
    "store",
    "entry",
    "ledger_amount",
    "flexiti_amount",
    "difference",
    "authorization_ids",
    "ledger_lines",
    "side",
    "created",
    "age_days",
    "ledger_date",
    "flexiti_date",
    "description",
)


#: Text cells a spreadsheet would run as a formula (OWASP CSV injection): = + - @ tab CR.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Columns written as they are: numbers (a leading minus is a sign, not a formula), ids, dates.
_NUMERIC = frozenset(
    {"ledger_amount", "flexiti_amount", "difference", "authorization_ids", "ledger_lines",
     "age_days", "created", "ledger_date", "flexiti_date", "line", "amount", "date"}
)  # fmt: skip


def neutralise(text: str) -> str:
    """A text cell made inert for spreadsheets: a leading ``'`` before = + - @ tab CR."""
    return "'" + text if text.startswith(_FORMULA_START) else text


@frozen(kw_only=True)
class OutsideRow:
    """A ledger row not reconciled because it is outside the range, and why."""

    line: int
    reference: str
    store: str | None
    kind: EntryKind
    amount: Decimal
    date: date
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "line": self.line,
            "reference": self.reference,
            "store": self.store,
            "kind": self.kind.value,
            "amount": str(self.amount),
            "date": self.date.isoformat(),
            "reason": self.reason,
        }


REPORT_SUFFIXES = (".csv", ".json")


def check_output_path(path: str | os.PathLike[str]) -> str:
    """Check a report path before any work: known suffix, existing writable folder.

    Returns the path as a string; raises `ValueError` saying what is wrong.
    """
    name = os.fspath(path)
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in REPORT_SUFFIXES:
        raise ValueError(f"report path must end in .csv or .json, got {name!r}")
    if os.path.isdir(name):
        raise ValueError(f"{name!r} is a folder, not a file")
    folder = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(folder):
        raise ValueError(f"the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"the folder {folder!r} is not writable")
    if os.path.exists(name) and not os.access(name, os.W_OK):
        raise ValueError(f"{name!r} exists and is not writable")
    return name


def _lines(value: Any) -> tuple[int, ...]:
    return tuple(sorted(value))


@frozen(kw_only=True)
class Report:
    """The outcome of one reconciliation.

    ``discrepancies`` are sorted by kind, then reference. ``matched`` counts references
    whose sale (and returns) agree on both sides; a matched reference can still be listed
    as a stale authorization. ``stats`` holds the counters of the run (ledger rows read,
    rows outside the range, authorizations and captures seen, repeated and out-of-window
    items ignored, voided authorizations, windows, pages).

    Every ledger row lands in exactly one bucket, by line: ``matched_lines``, the
    ``ledger_lines`` of one discrepancy, ``outside_range`` (listed, with the reason), or
    ``unchecked_lines`` (only in a partial report: its days were not listed). Likewise every
    authorization listed: ``matched_authorizations`` (a voided one needing no ledger row
    included), one discrepancy's ``authorization_ids`` (stale findings aside: they flag an
    authorization on top of its bucket), ``outside_authorizations`` or
    ``unchecked_authorizations``.

    ``partial`` is True when the run was interrupted: ``windows_done`` lists the listings
    that finished, as ``(listing, first UTC day, last UTC day)``.
    """

    start: date
    end: date
    as_of: date
    stale_days: int
    matched: int
    discrepancies: tuple[Discrepancy, ...] = field(converter=_sorted)
    stats: Mapping[str, int] = field(factory=dict)
    tz: str = "UTC"
    tolerance_days: int = 1
    partial: bool = False
    windows_done: tuple[tuple[str, date, date], ...] = ()
    outside_range: tuple[OutsideRow, ...] = ()
    matched_lines: tuple[int, ...] = field(default=(), converter=_lines, repr=False)
    unchecked_lines: tuple[int, ...] = field(default=(), converter=_lines, repr=False)
    matched_authorizations: tuple[int, ...] = field(default=(), converter=_lines, repr=False)
    outside_authorizations: tuple[int, ...] = field(default=(), converter=_lines, repr=False)
    unchecked_authorizations: tuple[int, ...] = field(default=(), converter=_lines, repr=False)

    @property
    def clean(self) -> bool:
        """True when nothing needs attention (never for a partial report)."""
        return not self.discrepancies and not self.partial

    def counts(self) -> dict[DiscrepancyKind, int]:
        """How many discrepancies of each kind (every kind present, zeros included)."""
        found = Counter(item.kind for item in self.discrepancies)
        return {kind: found.get(kind, 0) for kind in DiscrepancyKind}

    def of_kind(self, kind: DiscrepancyKind | str) -> list[Discrepancy]:
        """The discrepancies of one kind."""
        wanted = DiscrepancyKind(kind)
        return [item for item in self.discrepancies if item.kind is wanted]

    def keys(self) -> set[tuple[str, str, str]]:
        """Every discrepancy's `Discrepancy.key`, e.g. to compare with an expected set."""
        return {item.key for item in self.discrepancies}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: range, counts, stats, every discrepancy, rows outside the range."""
        data: dict[str, Any] = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "tz": self.tz,
            "tolerance_days": self.tolerance_days,
            "stale_days": self.stale_days,
            "partial": self.partial,
            "clean": self.clean,
            "matched": self.matched,
            "counts": {kind.value: n for kind, n in self.counts().items()},
            "stats": dict(self.stats),
            "discrepancies": [item.to_dict() for item in self.discrepancies],
            "outside_range": [row.to_dict() for row in self.outside_range],
        }
        if self.partial:
            data["windows_done"] = [
                {"listing": listing, "first": first.isoformat(), "last": last.isoformat()}
                for listing, first, last in self.windows_done
            ]
            data["unchecked_lines"] = list(self.unchecked_lines)
        return data

    def to_json(self) -> str:
        """The report as JSON text (money as strings with their exact digits; raw text)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_csv(self) -> str:
        """One CSV row per discrepancy, then one per ledger row outside the range
        (kind ``outside_range``). Text cells are neutralised against formula injection."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)

        def emit(data: dict[str, Any]) -> None:
            cells = []
            for column in CSV_COLUMNS:
                value = data.get(column)
                text = "" if value is None else str(value)
                cells.append(text if column in _NUMERIC else neutralise(text))
            writer.writerow(cells)

        for item in self.discrepancies:
            data = item.to_dict()
            data["authorization_ids"] = " ".join(str(i) for i in item.authorization_ids)
            data["ledger_lines"] = " ".join(str(i) for i in item.ledger_lines)
            emit(data)
        for row in self.outside_range:
            emit(
                {
                    "kind": "outside_range",
                    "reference": row.reference,
                    "store": row.store,
                    "entry": row.kind.value,
                    "ledger_amount": row.amount,
                    "ledger_lines": row.line,
                    "ledger_date": row.date.isoformat(),
                    "description": row.reason,
                }
            )
        return out.getvalue()

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the report as CSV or JSON, chosen by the file suffix (``.csv``, ``.json``).

        Written to a temporary file in the same folder, then renamed into place: a reader
        never sees half a report.
        """
        name = check_output_path(path)
        text = self.to_json() if name.lower().endswith(".json") else self.to_csv()
        folder = os.path.dirname(os.path.abspath(name))
        temp = os.path.join(folder, f".{os.path.basename(name)}.{secrets.token_hex(4)}.tmp")
        # 0o666 less the umask, like any file the user creates (mkstemp would force 0o600).
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            os.replace(temp, name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
