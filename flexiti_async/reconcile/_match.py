"""`Matcher`: the streaming, one-object form of the engine (feed items, ask for a report).

It keeps no rules of its own: items are reduced to the same compact state a shard keeps and
classified by the same code as `merge` (see ``_classify.py`` for the rules). Useful to
reconcile items obtained some other way (a file, another API) without shards.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, tzinfo

from ..models.authorizations import Authorization, Capture
from ._classify import classify
from ._ledger import LedgerRow
from ._plan import resolve_tz
from ._report import Report
from ._state import AuthState, CaptureState

__all__ = ["Matcher"]

Window = tuple[date, date]


class Matcher:
    """Streams Flexiti items against a ledger and classifies what it saw.

    >>> matcher = Matcher(rows, start=date(2024, 1, 1), end=date(2024, 1, 31),
    ...                   as_of=date(2024, 2, 1), stale_days=7)            # doctest: +SKIP
    >>> matcher.add_authorization(auth, window=(date(2024, 1, 3), date(2024, 1, 3)))
    >>> matcher.add_capture(capture)
    >>> report = matcher.report()
    """

    def __init__(
        self,
        ledger: Iterable[LedgerRow],
        *,
        start: date,
        end: date,
        as_of: date,
        stale_days: int,
        tz: str | tzinfo | None = None,
        tolerance_days: int = 1,
    ) -> None:
        if start > end:
            raise ValueError(f"start ({start}) is after end ({end})")
        if stale_days < 0:
            raise ValueError("stale_days must be >= 0")
        if tolerance_days < 0:
            raise ValueError("tolerance_days must be >= 0")
        self.start, self.end, self.as_of = start, end, as_of
        self.stale_days = stale_days
        self.tolerance_days = tolerance_days
        self.tz = resolve_tz(tz)
        self._ledger = list(ledger)
        self._auths: dict[int, AuthState] = {}
        self._captures: dict[int, CaptureState] = {}
        self.stats = {"repeated_items": 0, "out_of_window_items": 0}

    def _in(self, day: date | None, window: Window | None) -> bool:
        if day is None or window is None:
            return True
        return window[0] <= day <= window[1]

    def add_authorization(self, auth: Authorization, window: Window | None = None) -> bool:
        """Take one listed authorization; False when it was ignored (repeat, out of window).

        ``window`` is the UTC days it was listed for (an item outside is ignored).
        """
        state = AuthState.from_model(auth)
        if not self._in(state.created.date() if state.created else None, window):
            self.stats["out_of_window_items"] += 1
            return False
        if state.authorization_id in self._auths:
            self.stats["repeated_items"] += 1
            return False
        self._auths[state.authorization_id] = state
        return True

    def add_capture(self, capture: Capture, window: Window | None = None) -> bool:
        """Take one listed capture; False when it was ignored (repeat, out of window)."""
        state = CaptureState.from_model(capture)
        if not self._in(state.date.date() if state.date else None, window):
            self.stats["out_of_window_items"] += 1
            return False
        if state.capture_id in self._captures:
            self.stats["repeated_items"] += 1
            return False
        self._captures[state.capture_id] = state
        return True

    def report(self, extra_stats: dict[str, int] | None = None) -> Report:
        """Classify everything seen so far into a `Report` (can be called more than once)."""
        buckets = classify(
            self._ledger,
            self._auths.values(),
            self._captures.values(),
            start=self.start,
            end=self.end,
            as_of=self.as_of,
            tz=self.tz,
            stale_days=self.stale_days,
            tolerance_days=self.tolerance_days,
        )
        stats = {**buckets.stats, **self.stats}
        stats["authorizations"] = len(self._auths)
        stats["captures"] = len(self._captures)
        if extra_stats:
            stats.update(extra_stats)
        return Report(
            start=self.start,
            end=self.end,
            as_of=self.as_of,
            stale_days=self.stale_days,
            tolerance_days=self.tolerance_days,
            tz=str(getattr(self.tz, "key", None) or "UTC"),
            matched=buckets.matched,
            discrepancies=buckets.found,
            stats=stats,
            outside_range=tuple(sorted(buckets.outside, key=lambda r: r.line)),
            matched_lines=buckets.matched_lines,
            matched_authorizations=buckets.matched_auths,
            outside_authorizations=buckets.outside_auths,
        )
