"""The sandbox's money ledger: every movement applied through the API, for tests to assert on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ._state import ZERO

__all__ = ["Ledger", "LedgerEntry"]


@dataclass(slots=True, frozen=True)
class LedgerEntry:
    """One money movement applied by the sandbox.

    ``kind`` is ``authorization``, ``capture``, ``release``, ``return``, ``refund`` or
    ``transaction``; ``reference_id`` is the request's ``x-reference-id``.
    """

    kind: str
    amount: Decimal
    account_number: int
    timestamp: datetime
    client_id: str
    authorization_id: int | None = None
    capture_id: int | None = None
    return_id: int | None = None
    release_id: int | None = None
    transaction_id: int | None = None
    reference: str | None = None
    idempotency_key: str | None = None
    reference_id: str | None = None


class Ledger:
    """Every money movement applied through the API, in order.

    >>> captures = sandbox.ledger.filter(kind="capture", authorization_id=auth_id)
    >>> assert len(captures) == 1   # the capture was applied exactly once
    """

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._lock = threading.Lock()

    def append(self, entry: LedgerEntry) -> None:
        """Record a movement (called by the sandbox)."""
        with self._lock:
            self._entries.append(entry)

    @property
    def entries(self) -> list[LedgerEntry]:
        """A copy of all entries, oldest first."""
        with self._lock:
            return list(self._entries)

    def filter(self, **fields: Any) -> list[LedgerEntry]:
        """Entries whose attributes equal every given keyword (``kind="capture"``)."""
        return [e for e in self.entries if all(getattr(e, k) == v for k, v in fields.items())]

    def count(self, **fields: Any) -> int:
        """Number of entries matching ``filter(**fields)``."""
        return len(self.filter(**fields))

    def total(self, **fields: Any) -> Decimal:
        """Sum of the amounts of the matching entries."""
        return sum((e.amount for e in self.filter(**fields)), ZERO)

    def clear(self) -> None:
        """Forget all entries."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(self.entries)

    def __repr__(self) -> str:
        return f"<Ledger entries={len(self._entries)}>"
