"""The single-process engine: `plan` -> `run_shard` (bounded fan-out) -> `merge`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timezone, tzinfo
from typing import Any

import anyio

from .._checks import check_int
from ..concurrency import bounded_map
from ._ledger import LedgerRow, check_ledger_dates, read_ledger
from ._merge import merge
from ._plan import Shard, plan, resolve_tz
from ._progress import Progress
from ._report import Report
from ._shard import Partial, ReconcileClient, run_shard

__all__ = ["reconcile", "run_shards"]


def _rows(ledger: Iterable[LedgerRow] | str | os.PathLike[str]) -> list[LedgerRow]:
    if isinstance(ledger, (str, os.PathLike)):
        return read_ledger(ledger)
    return list(ledger)


async def run_shards(
    client: ReconcileClient,
    shards: Sequence[Shard],
    *,
    concurrency: int = 8,
    page_size: int = 100,
    progress: Progress | None = None,
    on_progress: Callable[[Progress], Any] | None = None,
    on_partial: Callable[[Partial], Any] | None = None,
) -> list[Partial]:
    """Run ``shards`` in this process, at most ``concurrency`` listings in flight.

    ``on_partial`` is called with each finished shard's `Partial` as it completes (keep
    them: if the run is cancelled, they are what a partial report is merged from). Returns
    the partials in completion order. The first error cancels the rest and propagates.
    """
    check_int("concurrency", concurrency)
    check_int("page_size", page_size)
    progress = progress if progress is not None else Progress()
    progress.shards_total = len(shards)
    progress.windows_total = sum(
        len(s.listings) * (1 if s.stores is None else len(s.stores)) for s in shards
    )
    limiter = anyio.CapacityLimiter(concurrency)
    done: list[Partial] = []

    async def one(shard: Shard) -> None:
        partial = await run_shard(
            client,
            shard,
            page_size=page_size,
            limiter=limiter,
            progress=progress,
            on_progress=on_progress,
        )
        done.append(partial)
        if on_partial is not None:
            on_partial(partial)

    async with bounded_map(one, shards, limit=concurrency, ordered=False) as results:
        async for _ in results:
            pass
    return done


async def reconcile(
    client: ReconcileClient,
    ledger: Iterable[LedgerRow] | str | os.PathLike[str],
    *,
    start: date,
    end: date,
    concurrency: int = 8,
    stale_days: int = 7,
    window_days: int = 1,
    page_size: int = 100,
    as_of: date | None = None,
    tz: str | tzinfo | None = None,
    tolerance_days: int = 1,
    progress: Progress | None = None,
    on_progress: Callable[[Progress], Any] | None = None,
    on_partial: Callable[[Partial], Any] | None = None,
) -> Report:
    """Reconcile a merchant ledger against Flexiti's authorizations and captures.

    ``ledger`` is a path to a ledger CSV (see `read_ledger`) or `LedgerRow` objects.
    ``[start, end]`` (inclusive) are local days in ``tz`` (an IANA name such as
    ``America/Toronto``; default UTC). The run is `plan`-ned into shards of ``window_days``
    UTC days (the range plus ``tolerance_days`` on each side, then captures only up to
    ``as_of``), each listed by `run_shard` with at most ``concurrency`` listings in flight
    (keep it at or below the client's ``max_concurrency``), and the partials are `merge`-d.

    ``as_of`` (default: today in ``tz``) is the day stale authorizations are measured from
    and the last day captures are looked up to; a ledger row dated after it is refused
    (`LedgerError`). An authorization still open, with money remaining, created more than
    ``stale_days`` days before it is a release candidate. Nothing is ever released.

    ``progress`` (created if not given) is updated as pages arrive; ``on_progress`` is
    called with it after every page and every finished listing (keep it quick: it runs on
    the event loop). ``on_partial`` gets each finished shard: if the run is cancelled,
    ``merge(those, ledger, ..., plan=plan(...))`` gives the partial report.

    The first error a listing raises (after the client's retries) cancels the others and
    propagates. Matching rules: see `flexiti_async.reconcile`.

    >>> async with FlexitiClient.from_env() as flexiti:                # doctest: +SKIP
    ...     report = await reconcile(flexiti, "ledger.csv", tz="America/Toronto",
    ...                              start=date(2024, 1, 1), end=date(2024, 1, 31))
    ...     for item in report.discrepancies:
    ...         print(item.kind, item.reference, item.describe())
    """
    check_int("concurrency", concurrency)
    check_int("stale_days", stale_days, low=0)
    check_int("page_size", page_size)
    zone = resolve_tz(tz)
    today = as_of if as_of is not None else datetime.now(timezone.utc).astimezone(zone).date()
    shards = plan(
        start, end, as_of=today, tz=zone, window_days=window_days, tolerance_days=tolerance_days
    )
    rows = _rows(ledger)
    check_ledger_dates(rows, as_of=today)
    partials = await run_shards(
        client,
        shards,
        concurrency=concurrency,
        page_size=page_size,
        progress=progress,
        on_progress=on_progress,
        on_partial=on_partial,
    )
    return merge(
        partials,
        rows,
        start=start,
        end=end,
        as_of=today,
        tz=zone,
        stale_days=stale_days,
        tolerance_days=tolerance_days,
        plan=shards,
    )
