"""Reconciliation of a merchant ledger against Flexiti's authorizations and captures.

Pure logic plus one async entry point; no printing, no formatting beyond the report
writers. The ``flexiti reconcile`` command is a thin layer over this::

    from datetime import date
    from flexiti_async import FlexitiClient
    from flexiti_async.reconcile import read_ledger, reconcile

    async with FlexitiClient.from_env() as flexiti:
        report = await reconcile(flexiti, read_ledger("ledger.csv"),
                                 start=date(2024, 1, 1), end=date(2024, 1, 31))
    report.write("report.json")

Matching rules (the details live in ``_match.py``):

* key = ``reference``, plus the store (``external_location_id``) where both sides have one;
* ledger sales dated in ``[start, end]`` are reconciled; returns follow their sale;
* a sale is compared with what Flexiti captured (the listed captures, else the
  authorization's ``captured_amount``); an open authorization with nothing captured counts
  for its authorized amount; a fully released one counts for 0 and needs no ledger row;
* returns: the sum of the ledger's return rows vs the captures' ``returned_amount``;
* the same key twice on one side is a ``duplicate_reference`` and is not compared;
* open authorizations older than ``stale_days`` are release candidates (never released).
"""

from __future__ import annotations

from ._ledger import (
    COLUMNS,
    EntryKind,
    LedgerError,
    LedgerRow,
    RowError,
    ledger_csv,
    parse_ledger,
    read_ledger,
)
from ._match import Matcher
from ._report import Discrepancy, DiscrepancyKind, Report, Side
from ._run import Listing, Progress, ReconcileClient, reconcile

__all__ = [
    "COLUMNS",
    "Discrepancy",
    "DiscrepancyKind",
    "EntryKind",
    "LedgerError",
    "LedgerRow",
    "Listing",
    "Matcher",
    "Progress",
    "ReconcileClient",
    "Report",
    "RowError",
    "Side",
    "ledger_csv",
    "parse_ledger",
    "read_ledger",
    "reconcile",
]
