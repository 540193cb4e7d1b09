"""The reconciliation result: `Report`, `Discrepancy` and its kinds, CSV and JSON writers."""

from __future__ import annotations

import csv
import enum
import io
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from ._ledger import EntryKind

__all__ = ["Discrepancy", "DiscrepancyKind", "Report", "Side"]


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
            "description": self.describe(),
        }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


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
    "description",
)


@frozen(kw_only=True)
class Report:
    """The outcome of one reconciliation.

    ``discrepancies`` are sorted by kind, then reference. ``matched`` counts references
    whose sale (and returns) agree on both sides; a matched reference can still be listed
    as a stale authorization. ``stats`` holds the counters of the run (ledger rows read,
    rows outside the range, authorizations and captures seen, repeated and out-of-window
    items ignored, voided authorizations, windows, pages).
    """

    start: date
    end: date
    as_of: date
    stale_days: int
    matched: int
    discrepancies: tuple[Discrepancy, ...] = field(converter=_sorted)
    stats: Mapping[str, int] = field(factory=dict)

    @property
    def clean(self) -> bool:
        """True when nothing needs attention."""
        return not self.discrepancies

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
        """JSON-ready dict: range, counts, stats and every discrepancy."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "stale_days": self.stale_days,
            "clean": self.clean,
            "matched": self.matched,
            "counts": {kind.value: n for kind, n in self.counts().items()},
            "stats": dict(self.stats),
            "discrepancies": [item.to_dict() for item in self.discrepancies],
        }

    def to_json(self) -> str:
        """The report as JSON text (money as strings with their exact digits)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_csv(self) -> str:
        """One CSV row per discrepancy (header: `CSV_COLUMNS`)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for item in self.discrepancies:
            data = item.to_dict()
            data["authorization_ids"] = " ".join(str(i) for i in item.authorization_ids)
            data["ledger_lines"] = " ".join(str(i) for i in item.ledger_lines)
            writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
        return out.getvalue()

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the report as CSV or JSON, chosen by the file suffix (``.csv``, ``.json``)."""
        name = os.fspath(path)
        suffix = os.path.splitext(name)[1].lower()
        if suffix == ".json":
            text = self.to_json()
        elif suffix == ".csv":
            text = self.to_csv()
        else:
            raise ValueError(f"report path must end in .csv or .json, got {name!r}")
        with open(name, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
