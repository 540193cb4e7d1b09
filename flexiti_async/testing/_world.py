"""``World``: all sandbox state, its id counters and its creation-time indexes."""

from __future__ import annotations

import bisect
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from ._state import (
    Account,
    Authorization,
    Capture,
    Merchant,
    Plan,
    Release,
    Return,
    Store,
    Token,
    Transaction,
)

__all__ = ["World"]


class _SortedRecords:
    """Records kept sorted by (created, id) lazily, with a bisectable creation index."""

    def __init__(self, id_attr: str) -> None:
        self._id_attr = id_attr
        self._items: list[Any] = []
        self._created: list[datetime] = []
        self._dirty = False

    def add(self, record: Any) -> None:
        items = self._items
        if items and (record.created, getattr(record, self._id_attr)) < (
            items[-1].created,
            getattr(items[-1], self._id_attr),
        ):
            self._dirty = True
        items.append(record)
        if not self._dirty:
            self._created.append(record.created)

    def between(self, start: datetime | None, end: datetime | None) -> list[Any]:
        """Records with ``start <= created < end``, sorted."""
        if self._dirty:
            id_attr = self._id_attr
            self._items.sort(key=lambda r: (r.created, getattr(r, id_attr)))
            self._created = [r.created for r in self._items]
            self._dirty = False
        lo = 0 if start is None else bisect.bisect_left(self._created, start)
        hi = len(self._items) if end is None else bisect.bisect_left(self._created, end)
        return self._items[lo:hi]

    def __len__(self) -> int:
        return len(self._items)


class World:
    """All sandbox state. Mutated only while holding ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.merchants: dict[str, Merchant] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, Token] = {}
        self.plans: dict[int, Plan] = {}
        self.stores: dict[str, Store] = {}
        self.accounts: dict[int, Account] = {}
        self.accounts_by_vcc: dict[str, Account] = {}
        self.accounts_by_customer: dict[str, Account] = {}
        self.authorizations: dict[int, Authorization] = {}
        self.captures: dict[int, Capture] = {}
        self.releases: list[Release] = []
        self.returns: list[Return] = []
        self.transactions: list[Transaction] = []
        # (client id, key) -> (sha256 of the canonical body, status, raw answer)
        self.idempotency: dict[tuple[str, str], tuple[str, int, bytes]] = {}
        # (client id, account number) -> widget_session_ids of its open purchase widgets
        self.widget_sessions: dict[tuple[str, int], list[str]] = {}
        self.auth_index = _SortedRecords("authorization_id")
        self.capture_index = _SortedRecords("capture_id")
        self._ids = {
            "authorization": 100_000_000,
            "capture": 200_000_000,
            "release": 300_000_000,
            "transaction": 400_000_000,
            "return": 1_000_000_000_000_000,
        }

    def next_id(self, kind: str) -> int:
        """The next id of a kind (authorization, capture, release, return, transaction)."""
        self._ids[kind] += 1
        return self._ids[kind]

    def add_account(self, account: Account) -> None:
        """Register an account and its card numbers."""
        self.accounts[account.account_number] = account
        self.accounts_by_customer[account.customer_id] = account
        for vcc in account.vccs:
            self.accounts_by_vcc[vcc] = account

    def add_authorization(self, auth: Authorization) -> None:
        """Register an authorization."""
        self.authorizations[auth.authorization_id] = auth
        self.auth_index.add(auth)

    def add_capture(self, capture: Capture) -> None:
        """Register a capture and link it to its authorization."""
        self.captures[capture.capture_id] = capture
        self.capture_index.add(capture)
        self.authorizations[capture.authorization_id].capture_ids.append(capture.capture_id)

    def new_capture(
        self,
        auth: Authorization,
        amount: Decimal,
        created: datetime,
        *,
        reference: str | None,
        location: str | None,
        employee: str | None,
    ) -> Capture:
        """Capture ``amount`` of ``auth`` at ``created``: registered, and counted on ``auth``."""
        capture = Capture(
            capture_id=self.next_id("capture"),
            authorization_id=auth.authorization_id,
            client_id=auth.client_id,
            account_number=auth.account_number,
            amount=amount,
            created=created,
            reference=reference,
            external_location_id=location,
            external_employee_id=employee,
        )
        auth.captured_amount += amount
        self.add_capture(capture)
        return capture

    def new_return(
        self,
        capture: Capture,
        auth: Authorization,
        amount: Decimal,
        created: datetime,
        reference: str | None,
    ) -> Return:
        """Return ``amount`` of ``capture`` at ``created``: recorded on the capture and ``auth``."""
        done = Return(
            return_id=self.next_id("return"),
            capture_id=capture.capture_id,
            authorization_id=auth.authorization_id,
            amount=amount,
            created=created,
            reference=reference,
        )
        capture.returned_amount += amount
        auth.returned_amount += amount
        self.returns.append(done)
        return done

    def new_release(self, auth: Authorization, amount: Decimal, created: datetime) -> Release:
        """Release ``amount`` of ``auth`` at ``created``: recorded on ``auth``."""
        done = Release(self.next_id("release"), auth.authorization_id, amount, created)
        auth.released_amount += amount
        self.releases.append(done)
        return done
