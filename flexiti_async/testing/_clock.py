"""The sandbox clock: real time plus an offset that tests move forward."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

__all__ = ["SandboxClock"]


class SandboxClock:
    """Injectable UTC clock used for token lifetimes, the 100-day return rule, daily limits.

    By default it follows real time; ``advance`` moves it forward without sleeping.
    ``frozen=True`` stops it at ``start`` (or now) so only ``advance`` moves it.

    >>> clock = SandboxClock(start=datetime(2024, 1, 1, tzinfo=timezone.utc), frozen=True)
    >>> clock.advance(1200)
    >>> clock.now().isoformat()
    '2024-01-01T00:20:00+00:00'
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        real = datetime.now(timezone.utc)
        base = real if start is None else _aware(start)
        self._frozen = frozen
        self._base = base
        self._offset = base - real
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current sandbox time (timezone-aware, UTC)."""
        with self._lock:
            if self._frozen:
                return self._base
            return datetime.now(timezone.utc) + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (negative values are refused)."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        delta = timedelta(seconds=seconds)
        with self._lock:
            self._base += delta
            self._offset += delta

    def __repr__(self) -> str:
        return f"SandboxClock(now={self.now().isoformat()!r}, frozen={self._frozen})"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
