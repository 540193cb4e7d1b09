"""Reconciliation of a merchant ledger against Flexiti's authorizations and captures.

Pure logic plus async entry points; no printing, no formatting beyond the report writers.
One engine-agnostic core, used by every path (the single-process `reconcile` included):

* `plan` -> list of `Shard` (store set x UTC day window; small, picklable, deterministic);
* `run_shard` (client, shard) -> `Partial` (compact, picklable per-reference state);
* `merge` (partials, ledger) -> `Report` (per reference; a shard merged twice is refused).

The ``flexiti reconcile`` command is a thin layer over this::

    from datetime import date
    from flexiti_async import FlexitiClient
    from flexiti_async.reconcile import read_ledger, reconcile

    async with FlexitiClient.from_env() as flexiti:
        report = await reconcile(flexiti, read_ledger("ledger.csv"),
                                 start=date(2024, 1, 1), end=date(2024, 1, 31))
    report.write("report.json")

Matching rules (the details live in ``_classify.py``):

* every ledger row and every authorization listed lands in exactly one bucket: matched, a
  named discrepancy, or outside the range (listed in the report);
* key = ``reference``, plus the store (``external_location_id``) where both sides have one;
* dates are local days in the merchant's time zone (``tz``); ledger rows dated in
  ``[start, end]`` are reconciled, with ``tolerance_days`` of slack on the dates (a
  larger gap is a ``date_mismatch``); returns follow their sale, and a return whose
  reference Flexiti does not know is ``missing_in_flexiti``;
* a sale is compared with what Flexiti captured up to ``as_of`` (the listed captures, else the
  authorization's ``captured_amount``); an open authorization with nothing captured counts
  for its authorized amount; a fully released one counts for 0 and needs no ledger row;
* returns: the sum of the ledger's return rows vs the captures' ``returned_amount``;
* the same key twice on one side is a ``duplicate_reference`` and is not compared;
* open authorizations older than ``stale_days`` are release candidates (never released).

Beyond one machine (extra ``dask``): `reconcile_on_dask` runs the same shards on a Dask
`LocalCluster` or any Dask cluster, one client per worker (`ClientFactory`); see
``docs/scaling-out.md``. Those names are imported on first use, so the core never needs dask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._ledger import (
    COLUMNS,
    EntryKind,
    LedgerError,
    LedgerFile,
    LedgerRow,
    RowError,
    check_ledger_dates,
    ledger_csv,
    load_ledger,
    parse_ledger,
    read_ledger,
)
from ._match import Matcher
from ._merge import MergeError, merge
from ._plan import Listing, Shard, plan, resolve_tz
from ._progress import Progress
from ._report import (
    Discrepancy,
    DiscrepancyKind,
    OutsideRow,
    Report,
    Side,
    check_output_path,
    neutralise,
)
from ._run import reconcile, run_shards
from ._shard import Partial, ReconcileClient, run_shard
from ._state import AuthState, CaptureState, RefState

__all__ = [
    "COLUMNS",
    "AuthState",
    "CaptureState",
    "Discrepancy",
    "DiscrepancyKind",
    "EntryKind",
    "LedgerError",
    "LedgerFile",
    "LedgerRow",
    "Listing",
    "Matcher",
    "MergeError",
    "OutsideRow",
    "Partial",
    "Progress",
    "ReconcileClient",
    "RefState",
    "Report",
    "RowError",
    "Shard",
    "Side",
    "check_ledger_dates",
    "check_output_path",
    "ledger_csv",
    "load_ledger",
    "merge",
    "neutralise",
    "parse_ledger",
    "plan",
    "read_ledger",
    "reconcile",
    "resolve_tz",
    "run_shard",
    "run_shards",
]

if TYPE_CHECKING:
    from ._dask import ClientFactory as ClientFactory
    from ._dask import DaskSession as DaskSession
    from ._dask import ShardFailedError as ShardFailedError
    from ._dask import WorkerSetupError as WorkerSetupError
    from ._dask import dask_session as dask_session
    from ._dask import local_cluster as local_cluster
    from ._dask import reconcile_on_dask as reconcile_on_dask

#: The Dask adapter's names (extra ``dask``), imported from ``_dask`` on first use.
_DASK_NAMES = frozenset(
    ("ClientFactory", "DaskSession", "ShardFailedError", "WorkerSetupError", "dask_session",
     "local_cluster", "reconcile_on_dask")
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _DASK_NAMES:
        try:
            from . import _dask
        except ImportError as exc:
            raise ImportError(
                f"{name} needs the 'dask' extra: pip install 'flexiti-async[dask]' ({exc})"
            ) from None
        return getattr(_dask, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
