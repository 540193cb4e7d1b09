"""The classification's working state: one `Slot` per key, and the `Buckets` it fills."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ._ledger import LedgerRow
from ._report import Discrepancy, OutsideRow
from ._state import AuthState, CaptureState

__all__ = ["Buckets", "Slot"]


class Slot:
    """Everything known about one key on both sides."""

    __slots__ = ("auths", "captures", "reference", "returns", "sales", "store")

    def __init__(self, reference: str | None, store: str | None) -> None:
        self.reference = reference
        self.store = store
        # Shared empty tuples until first use: most keys have one sale, one authorization,
        # one capture and no return, and a slot exists per key (memory grows with them).
        self.sales: Sequence[tuple[int, LedgerRow]] = ()
        self.returns: Sequence[tuple[int, LedgerRow]] = ()
        self.auths: Sequence[AuthState] = ()  # each once: ids are deduplicated upstream
        self.captures: Sequence[CaptureState] = ()

    def add(self, name: str, item: Any) -> None:
        """Append to ``sales``, ``returns``, ``auths`` or ``captures`` (a list from now on)."""
        items = getattr(self, name)
        if isinstance(items, tuple):
            setattr(self, name, [item])
        else:
            items.append(item)

    def lines(self) -> list[int]:
        """The ledger lines of the key (sales, then returns)."""
        return [line for line, _ in (*self.sales, *self.returns)]

    def auth_ids(self) -> list[int]:
        """The ids of the key's authorizations."""
        return [auth.authorization_id for auth in self.auths]


class Buckets:
    """Where each ledger line and authorization went; findings; counters."""

    def __init__(self) -> None:
        self.found: list[Discrepancy] = []
        self.ledger_lines: Counter[int] = Counter()  # every row's line, to check the buckets
        self.matched = 0
        self.matched_lines: list[int] = []
        self.unchecked_lines: list[int] = []
        self.outside: list[OutsideRow] = []
        self.matched_auths: list[int] = []
        self.outside_auths: list[int] = []
        self.unchecked_auths: list[int] = []
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "ledger_rows",
                "ledger_rows_outside_range",
                "captures_without_authorization",
                "captures_after_as_of",
                "voided_authorizations",
            ),
            0,
        )
