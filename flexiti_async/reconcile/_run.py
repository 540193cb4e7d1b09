"""The one async entry point, `reconcile`: fan out over day windows, stream into a `Matcher`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable
from datetime import date, datetime, timezone
from typing import Any, Literal, Protocol, TypeVar

import attrs

from ..concurrency import bounded_map, date_windows
from ..errors import InvalidRequestError
from ..models.authorizations import Authorization, Capture
from ..pagination import AsyncPaginator
from ._ledger import LedgerRow, read_ledger
from ._match import Matcher
from ._report import Report

__all__ = ["Listing", "Progress", "ReconcileClient", "reconcile"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Window = tuple[date, date]

Listing = Literal["authorizations", "captures"]


class _Lister(Protocol[T_co]):
    """A resource group with a history listing (``authorizations`` or ``captures``)."""

    def list(
        self, *, creation_date_from: date, creation_date_to: date, page_size: int = ...
    ) -> AsyncIterable[T_co]: ...


class ReconcileClient(Protocol):
    """What `reconcile` needs from its client: a `FlexitiClient` (or a test double)."""

    @property
    def authorizations(self) -> _Lister[Authorization]: ...

    @property
    def captures(self) -> _Lister[Capture]: ...


@attrs.define(kw_only=True)
class Progress:
    """Live counters of one run, updated by `reconcile` as it goes (read them any time).

    ``windows_total`` is the number of listings (two per day window: authorizations and
    captures); ``windows_done`` those finished, named in ``completed`` as ``(listing, first
    day, last day)``. ``pages`` and ``items`` count pages and items received. ``retries``
    is not touched by the engine (it never sees a retry); a caller may count them, e.g.
    from the client's debug log, as the CLI does.
    """

    windows_total: int = 0
    windows_done: int = 0
    pages: int = 0
    items: int = 0
    retries: int = 0
    completed: list[tuple[Listing, date, date]] = attrs.field(factory=list)

    def done_by_listing(self) -> dict[Listing, int]:
        """How many windows of each listing are finished."""
        counts: dict[Listing, int] = {"authorizations": 0, "captures": 0}
        for listing, _, _ in self.completed:
            counts[listing] += 1
        return counts


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidRequestError(f"{name} must be an integer >= {low}, got {value!r}", field=name)


def _rows(ledger: Iterable[LedgerRow] | str | os.PathLike[str]) -> Iterable[LedgerRow]:
    if isinstance(ledger, (str, os.PathLike)):
        return read_ledger(ledger)
    return ledger


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
    progress: Progress | None = None,
    on_progress: Callable[[Progress], Any] | None = None,
) -> Report:
    """Reconcile a merchant ledger against Flexiti's authorizations and captures.

    ``ledger`` is a path to a ledger CSV (see `read_ledger`) or `LedgerRow` objects.
    ``[start, end]`` (inclusive) is split into windows of ``window_days`` days; for every
    window the authorizations (by creation date) and the captures (by capture date) are
    listed, at most ``concurrency`` listings at once, and streamed page by page into the
    matching state. Keep ``concurrency`` at or below the client's ``max_concurrency``.

    ``as_of`` (default: today, UTC) is the day stale authorizations are measured from: an
    authorization still open, with money remaining, created more than ``stale_days`` days
    before it is reported as a release candidate. Nothing is ever released.

    ``progress`` (created if not given) is updated as pages arrive; ``on_progress`` is
    called with it after every page and every finished window (keep it quick: it runs on
    the event loop). If the run is cancelled, ``progress.completed`` says what finished.

    The first error a listing raises (after the client's retries) cancels the others and
    propagates. Matching rules: see `flexiti_async.reconcile` (summary: key = reference
    plus store where both sides have one; a sale is compared with what Flexiti captured,
    or with the authorized amount while capture is pending; returns with the captures'
    returned amount; duplicates on either side are reported, not compared).

    >>> async with FlexitiClient.from_env() as flexiti:                # doctest: +SKIP
    ...     report = await reconcile(flexiti, "ledger.csv",
    ...                              start=date(2024, 1, 1), end=date(2024, 1, 31))
    ...     for item in report.discrepancies:
    ...         print(item.kind, item.reference, item.describe())
    """
    _check_int("concurrency", concurrency, 1)
    _check_int("stale_days", stale_days, 0)
    _check_int("window_days", window_days, 1)
    _check_int("page_size", page_size, 1)
    windows = date_windows(start, end, days=window_days)
    today = as_of if as_of is not None else datetime.now(timezone.utc).date()
    matcher = Matcher(_rows(ledger), start=start, end=end, as_of=today, stale_days=stale_days)
    progress = progress if progress is not None else Progress()
    jobs: list[tuple[Listing, Window]] = []
    for window in windows:
        # Interleaved so a window's captures are listed soon after its authorizations.
        jobs.append(("authorizations", window))
        jobs.append(("captures", window))
    progress.windows_total = len(jobs)

    def notify() -> None:
        if on_progress is not None:
            on_progress(progress)

    async def drain(
        source: AsyncIterable[T], add: Callable[[T, tuple[date, date]], bool], window: Window
    ) -> None:
        if isinstance(source, AsyncPaginator):
            async with source.pages() as pages:
                async for page in pages:
                    for item in page.items:
                        add(item, window)
                    progress.pages += 1
                    progress.items += len(page.items)
                    notify()
        else:  # any async iterable of items (test doubles): pages are not visible
            async for item in source:
                add(item, window)
                progress.items += 1

    async def run(job: tuple[Listing, Window]) -> None:
        listing, window = job
        first, last = window
        if listing == "authorizations":
            await drain(
                client.authorizations.list(
                    creation_date_from=first, creation_date_to=last, page_size=page_size
                ),
                matcher.add_authorization,
                window,
            )
        else:
            await drain(
                client.captures.list(
                    creation_date_from=first, creation_date_to=last, page_size=page_size
                ),
                matcher.add_capture,
                window,
            )
        progress.windows_done += 1
        progress.completed.append((listing, first, last))
        notify()

    async with bounded_map(run, jobs, limit=concurrency, ordered=False) as results:
        async for _ in results:
            pass
    return matcher.report({"windows": len(windows), "pages": progress.pages})
