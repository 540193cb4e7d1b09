"""`merge`: combine the partials of a plan per reference and classify them into a `Report`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo

from ._classify import classify
from ._gc import paused_gc
from ._ledger import LedgerRow
from ._plan import Listing, Shard, local_span, resolve_tz
from ._report import Report
from ._shard import Partial
from ._state import AuthState, CaptureState

__all__ = ["MergeError", "merge"]


class MergeError(ValueError):
    """The partials cannot be merged as given: the same shard twice, or overlapping shards."""


def _tz_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")


_Group = tuple[Listing, tuple[str, ...] | None]


def _check_disjoint(shards: Sequence[Shard]) -> None:
    """No listing of a store on a day is done by two shards (`MergeError` names them).

    Checked on day intervals per store group, not per store and day: a plan of thousands
    of stores x a year stays a few sorted passes.
    """
    groups: dict[_Group, list[Shard]] = {}
    for shard in shards:
        for listing in shard.listings:
            groups.setdefault((listing, shard.stores), []).append(shard)
    for members in groups.values():
        members.sort(key=lambda s: s.first)
        reach = members[0]  # the shard reaching furthest so far
        for shard in members[1:]:
            if shard.first <= reach.last:
                raise MergeError(f"shards {reach.describe()} and {shard.describe()} overlap")
            reach = shard
    pairs: set[tuple[_Group, _Group]] = set()
    owner: dict[tuple[Listing, str], _Group] = {}
    for group in groups:
        listing, stores = group
        if stores is None:
            continue
        if (listing, None) in groups:  # "every store" covers this group's stores too
            pairs.add(((listing, None), group))
        for store in stores:
            first = owner.setdefault((listing, store), group)
            if first != group:
                pairs.add((first, group))
    for one, other in sorted(pairs, key=repr):
        _between(groups[one], groups[other])


def _between(left: Sequence[Shard], right: Sequence[Shard]) -> None:
    """Two lists sorted by first day, each disjoint within itself, never meet."""
    i = j = 0
    while i < len(left) and j < len(right):  # bounded: each pass advances i or j
        a, b = left[i], right[j]
        if a.last < b.first:
            i += 1
        elif b.last < a.first:
            j += 1
        else:
            raise MergeError(f"shards {a.describe()} and {b.describe()} overlap")


def _combine(
    partials: Iterable[Partial],
) -> tuple[list[Partial], dict[int, AuthState], dict[int, CaptureState], dict[str, int]]:
    """Every authorization and capture once (by id), refusing the same work twice."""
    seen: dict[object, Shard] = {}
    auths: dict[int, AuthState] = {}
    captures: dict[int, CaptureState] = {}
    stats = dict.fromkeys(("pages", "items", "repeated_items", "out_of_window_items"), 0)
    done: list[Partial] = []
    for partial in partials:
        shard = partial.shard
        if shard.key in seen:
            raise MergeError(f"shard {shard.describe()} was merged twice")
        seen[shard.key] = shard
        done.append(partial)
        for key, value in partial.stats.items():
            stats[key] = stats.get(key, 0) + value
        for state in partial.references.values():
            for auth in state.authorizations:
                if auth.authorization_id in auths:
                    stats["repeated_items"] += 1  # a boundary item listed by two shards
                auths[auth.authorization_id] = auth
            for capture in state.captures:
                if capture.capture_id in captures:
                    stats["repeated_items"] += 1
                captures[capture.capture_id] = capture
    _check_disjoint([p.shard for p in done])
    return done, auths, captures, stats


def merge(
    partials: Iterable[Partial],
    ledger: Iterable[LedgerRow],
    *,
    start: date,
    end: date,
    as_of: date | None = None,
    tz: str | tzinfo | None = None,
    stale_days: int = 7,
    tolerance_days: int = 1,
    plan: Sequence[Shard] | None = None,
    extra_stats: Mapping[str, int] | None = None,
) -> Report:
    """Merge shard partials per reference and classify them against the ledger.

    The partials may come in any order, from any process. A reference whose records fall
    into several shards merges as one; a record listed by two shards counts once. The same
    shard twice, or two shards covering the same listing, store and day, raise `MergeError`.

    ``plan`` (the shards the run was meant to do): when some are missing from
    ``partials``, the report is ``partial``: keys touching a day whose listings did not all
    finish are left unchecked (``Report.unchecked_lines``) instead of being misjudged.
    Without ``plan``, the partials are taken as the whole run. With it, the report's
    ``windows`` stat counts the plan's authorization windows.
    """
    with paused_gc():
        return _merge(
            partials, ledger, start=start, end=end, as_of=as_of, tz=tz, stale_days=stale_days,
            tolerance_days=tolerance_days, plan=plan, extra_stats=extra_stats,
        )  # fmt: skip


def _merge(
    partials: Iterable[Partial],
    ledger: Iterable[LedgerRow],
    *,
    start: date,
    end: date,
    as_of: date | None,
    tz: str | tzinfo | None,
    stale_days: int,
    tolerance_days: int,
    plan: Sequence[Shard] | None,
    extra_stats: Mapping[str, int] | None,
) -> Report:
    done, auths, captures, stats = _combine(partials)
    zone = resolve_tz(tz)
    today = as_of if as_of is not None else datetime.now(timezone.utc).astimezone(zone).date()
    covered_fn: Callable[[date], bool] | None = None
    missing: list[Shard] = []
    if plan is not None:
        finished = {p.shard.key for p in done}
        missing = [shard for shard in plan if shard.key not in finished]
    if missing:
        covered_fn = _coverage(missing, zone)
    buckets = classify(
        ledger,
        auths.values(),
        captures.values(),
        start=start,
        end=end,
        as_of=today,
        tz=zone,
        stale_days=stale_days,
        tolerance_days=tolerance_days,
        covered=covered_fn,
        # Capture-only shards after the range not done: a sale may lack a late capture.
        captures_complete=not any(s.listings == ("captures",) for s in missing),
    )
    merged_stats = dict(buckets.stats)
    merged_stats.update(stats)
    merged_stats["authorizations"] = len(auths)
    merged_stats["captures"] = len(captures)
    merged_stats["shards"] = len(done)
    if plan is not None:
        merged_stats["windows"] = sum(1 for shard in plan if "authorizations" in shard.listings)
    if extra_stats:
        merged_stats.update(extra_stats)
    report = Report(
        start=start,
        end=end,
        as_of=today,
        stale_days=stale_days,
        tolerance_days=tolerance_days,
        tz=_tz_name(zone),
        matched=buckets.matched,
        discrepancies=buckets.found,
        stats=merged_stats,
        partial=bool(missing),
        windows_done=tuple(
            (listing, p.shard.first, p.shard.last)
            for p in sorted(done, key=lambda p: p.shard.index)
            for listing in p.shard.listings
        ),
        outside_range=tuple(sorted(buckets.outside, key=lambda r: r.line)),
        matched_lines=buckets.matched_lines,
        unchecked_lines=buckets.unchecked_lines,
        matched_authorizations=buckets.matched_auths,
        outside_authorizations=buckets.outside_auths,
        unchecked_authorizations=buckets.unchecked_auths,
    )
    _check_accounted(report, buckets.ledger_lines)
    return report


def _coverage(missing: Sequence[Shard], zone: tzinfo) -> Callable[[date], bool]:
    """``covered(local_day)``: no UTC day it touches is in an unfinished shard (of any
    store group) listing authorizations."""
    gaps = {
        shard.first + timedelta(days=i)
        for shard in missing
        if "authorizations" in shard.listings
        for i in range((shard.last - shard.first).days + 1)
    }

    def covered(day: date) -> bool:
        first, last = local_span(day, day, zone)
        return first not in gaps and last not in gaps

    return covered


def _check_accounted(report: Report, expected: Counter[int]) -> None:
    """Every ledger row in exactly one bucket; a failure here is a bug, never hidden.

    Compared as multisets of line numbers: rows joined from two files may share numbers.
    """
    lines = Counter(report.matched_lines)
    lines.update(report.unchecked_lines)
    lines.update(row.line for row in report.outside_range)
    for item in report.discrepancies:
        lines.update(item.ledger_lines)
    if lines != expected:
        raise AssertionError(
            f"internal error: {sum(expected.values())} ledger rows but "
            f"{sum(lines.values())} bucket entries; please report it"
        )
