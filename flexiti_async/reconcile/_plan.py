"""`plan`: split a reconciliation into small, picklable shards (store set x UTC date window).

Flexiti filters its history by UTC creation date, so shards are UTC date windows; the range
the merchant asked for is in local days (``tz``). The plan lists every UTC day that touches
a local day of ``[start - tolerance_days, end + tolerance_days]`` (the margin lets a sale
booked a day early or late still meet its authorization), for both authorizations and
captures, and then the captures only, up to the end of ``as_of``: an authorization in range
captured after ``end`` is still compared with everything it captured.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import frozen

from .._checks import check_int
from ..concurrency import date_windows
from ..errors import InvalidRequestError

__all__ = ["Listing", "Shard", "local_span", "plan", "resolve_tz"]

Listing = Literal["authorizations", "captures"]
BOTH: tuple[Listing, ...] = ("authorizations", "captures")
CAPTURES_ONLY: tuple[Listing, ...] = ("captures",)
#: Days per capture-only shard after the range (at least ``window_days``).
TAIL_WINDOW_DAYS = 7


def resolve_tz(tz: str | tzinfo | None) -> tzinfo:
    """A time zone from an IANA name (``America/Toronto``), a `tzinfo`, or None (UTC)."""
    if tz is None:
        return timezone.utc
    if isinstance(tz, tzinfo):
        return tz
    if tz.upper() in ("UTC", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequestError(
            f"unknown time zone {tz!r}: use an IANA name such as America/Toronto or UTC",
            field="tz",
        ) from None


def local_span(first: date, last: date, tz: tzinfo) -> tuple[date, date]:
    """The UTC dates that local days ``first..last`` (inclusive) touch."""
    begin = datetime.combine(first, time.min, tz).astimezone(timezone.utc).date()
    finish = datetime.combine(last, time.max, tz).astimezone(timezone.utc).date()
    return begin, finish


@frozen
class Shard:
    """One unit of fetching: ``listings`` of ``stores`` (None: every store) created on UTC
    days ``first..last`` (inclusive). ``index`` is its place in the plan.
    """

    index: int
    first: date
    last: date
    stores: tuple[str, ...] | None = None
    listings: tuple[Listing, ...] = BOTH

    @property
    def key(self) -> tuple[tuple[Listing, ...], tuple[str, ...] | None, date, date]:
        """What the shard covers; two partials with one key are the same work done twice."""
        return (self.listings, self.stores, self.first, self.last)

    def describe(self) -> str:
        """``authorizations+captures 2024-01-01..2024-01-07 (all stores)``, for messages."""
        span = str(self.first) if self.first == self.last else f"{self.first}..{self.last}"
        stores = "all stores" if self.stores is None else f"stores {','.join(self.stores)}"
        return f"#{self.index} {'+'.join(self.listings)} {span} ({stores})"


def plan(
    start: date,
    end: date,
    *,
    as_of: date | None = None,
    tz: str | tzinfo | None = None,
    window_days: int = 1,
    tolerance_days: int = 1,
    stores: Sequence[str] | None = None,
    stores_per_shard: int | None = None,
) -> list[Shard]:
    """The shards of one reconciliation of local days ``[start, end]``, in a fixed order.

    Deterministic: the same arguments give the same list. ``window_days`` UTC days per
    shard. ``stores`` (default: all stores in one listing) splits each window into groups of
    ``stores_per_shard`` stores (default: every store in one shard); a shard with stores
    lists each store on its own (Flexiti's filter takes one store). ``as_of`` (default
    ``end``) extends the plan with capture-only shards after the range, a week (or
    ``window_days``, if more) each.

    >>> [s.describe() for s in plan(date(2024, 1, 1), date(2024, 1, 2), tolerance_days=0)]
    ['#0 authorizations+captures 2024-01-01 (all stores)', '#1 authorizations+captures 2024-01-02 (all stores)']
    """  # noqa: E501
    check_int("window_days", window_days)
    check_int("tolerance_days", tolerance_days, low=0)
    if start > end:
        raise InvalidRequestError(f"start ({start}) is after end ({end})", field="start")
    zone = resolve_tz(tz)
    margin = timedelta(days=tolerance_days)
    first, last = local_span(start - margin, end + margin, zone)
    until = as_of if as_of is not None else end
    tail_last = local_span(until, until, zone)[1]
    groups = _store_groups(stores, stores_per_shard)
    shards: list[Shard] = []
    for lo, hi in date_windows(first, last, days=window_days):
        for group in groups:
            shards.append(Shard(len(shards), lo, hi, group, BOTH))
    if tail_last > last:
        # Capture-only listings after the range are paged anyway: a week per listing keeps
        # an as-of day long after the range from costing one request per empty day.
        tail_days = max(window_days, TAIL_WINDOW_DAYS)
        for lo, hi in date_windows(last + timedelta(days=1), tail_last, days=tail_days):
            for group in groups:
                shards.append(Shard(len(shards), lo, hi, group, CAPTURES_ONLY))
    return shards


def _store_groups(
    stores: Sequence[str] | None, per_shard: int | None
) -> list[tuple[str, ...] | None]:
    if stores is None:
        return [None]
    unique = sorted(set(stores))
    if not unique:
        raise InvalidRequestError("stores is empty (None means every store)", field="stores")
    size = len(unique) if per_shard is None else per_shard
    check_int("stores_per_shard", size)
    return [tuple(unique[i : i + size]) for i in range(0, len(unique), size)]
