"""In-memory records of the sandbox world: merchants, tokens, accounts, money movements."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .._redact import mask_last4

__all__ = [
    "Account",
    "Authorization",
    "Capture",
    "HistoryRecord",
    "Ledger",
    "LedgerEntry",
    "Merchant",
    "PendingVerification",
    "Plan",
    "Release",
    "Return",
    "Stats",
    "Store",
    "Token",
    "Transaction",
    "World",
]

ZERO = Decimal("0.00")
PRIME_RATINGS = frozenset({"L", "M", "H", "X", "XH", "XXH", "XXXH"})


@dataclass(slots=True, eq=False)
class Merchant:
    """A developer client (client id + secret) and the merchant settings behind it."""

    client_id: str
    client_secret: str = field(repr=False)
    merchant_id: str = "100"
    merchant_name: str = "Sandbox Merchant"
    merchant_override: bool = False


@dataclass(slots=True, eq=False)
class Token:
    """An issued access token and its refresh token (values never shown in a repr)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    client_id: str
    scope: str
    issued_at: datetime
    expires_at: datetime
    grant_type: str
    revoked: bool = False
    refreshed: bool = False


@dataclass(slots=True, frozen=True)
class Plan:
    """A promotional financing plan offered by the merchant."""

    plan_id: int
    plan_name: str
    offer_category: str  # equal_billing | deferred_payment
    term_options: tuple[int, ...]
    rate: str = "0.0000"  # annual rate, emitted verbatim
    admin_fee: Decimal = ZERO
    prime_only: bool = False
    excluded_provinces: frozenset[str] = frozenset()


@dataclass(slots=True, frozen=True)
class Store:
    """A merchant location registered with Flexiti (``external_location_id``)."""

    external_location_id: str
    name: str


@dataclass(slots=True, eq=False)
class PendingVerification:
    """The one-time PIN issued by ``verify``, tied to its ``request_id``."""

    pin: int = field(repr=False)
    request_id: str | None
    format: str
    issued_at: datetime
    client_id: str


@dataclass(slots=True, eq=False)
class Account:
    """A customer account. Secrets (security answer, card numbers) stay out of the repr."""

    account_number: int
    customer_id: str
    first_name: str
    last_name: str
    dob: date
    postal_code: str
    status: str = "N"
    reason_code: str = "NNOR"
    credit_limit: Decimal = Decimal("5000.00")
    available_credit: Decimal = Decimal("5000.00")
    risk_rating: str = "M"
    province: str = "ON"
    account_type: str = "consumer"
    vccs: list[str] = field(default_factory=list, repr=False)
    security_qid: int = 6
    security_question: str = "What is your favourite colour?"
    security_answer: str = field(default="blue", repr=False)
    phone_number: str | None = "4165550100"
    email: str | None = "customer@example.com"
    preferred_language: str = "en-CA"
    address_1: str = "1 Sandbox Street"
    city: str = "Toronto"
    active: bool = True
    tos_agreement: bool = True
    payment_protection: bool = False
    creation_date: date = date(2020, 1, 1)
    air: str = "0.2999"
    wrong_answers: list[datetime] = field(default_factory=list, repr=False)
    regular_purchases: list[datetime] = field(default_factory=list, repr=False)
    payments: list[tuple[datetime, Decimal]] = field(default_factory=list, repr=False)
    pending: PendingVerification | None = field(default=None, repr=False)

    @property
    def is_prime(self) -> bool:
        """Prime risk ratings (L, M, H, X) see prime-only plans."""
        return self.risk_rating in PRIME_RATINGS

    @property
    def card_ending_in(self) -> str:
        """Last four digits of the primary FlexitiCard."""
        return self.vccs[0][-4:] if self.vccs else ""

    @property
    def masked_cards(self) -> list[str]:
        """Card numbers masked to their last four digits."""
        return [mask_last4(v) for v in self.vccs]


@dataclass(slots=True, eq=False)
class Authorization:
    """A credit authorization (hold) and its running totals."""

    authorization_id: int
    client_id: str
    account_number: int
    amount: Decimal
    created: datetime
    transaction_type: str = "regular_purchase"
    plan_id: int | None = None
    term: int | None = None
    reference: str | None = None
    external_location_id: str | None = None
    external_employee_id: str | None = None
    auto_capture: bool = False
    captured_amount: Decimal = ZERO
    released_amount: Decimal = ZERO
    returned_amount: Decimal = ZERO
    capture_ids: list[int] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        """Amount neither captured nor released."""
        return self.amount - self.captured_amount - self.released_amount

    @property
    def status(self) -> str:
        """``opened`` while something remains, else ``closed``."""
        return "opened" if self.remaining > 0 else "closed"


@dataclass(slots=True, eq=False)
class Capture:
    """A capture against an authorization."""

    capture_id: int
    authorization_id: int
    client_id: str
    account_number: int
    amount: Decimal
    created: datetime
    reference: str | None = None
    external_location_id: str | None = None
    external_employee_id: str | None = None
    returned_amount: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        """Captured amount not yet returned."""
        return self.amount - self.returned_amount


@dataclass(slots=True, eq=False)
class Release:
    """A release of (part of) the remaining authorization amount."""

    release_id: int
    authorization_id: int
    amount: Decimal
    created: datetime


@dataclass(slots=True, eq=False)
class Return:
    """A return against a capture."""

    return_id: int
    capture_id: int
    authorization_id: int
    amount: Decimal
    created: datetime
    reference: str | None = None


@dataclass(slots=True, eq=False)
class Transaction:
    """A deposit, in-store payment or trade-in posted with ``POST transactions``."""

    transaction_id: int
    client_id: str
    transaction_type: str
    account_number: int
    amount: Decimal
    created: datetime
    external_location_id: str | None = None


@dataclass(slots=True, frozen=True)
class HistoryRecord:
    """What ``add_history`` created: an authorization and its capture/return/release."""

    authorization: Authorization
    capture: Capture | None = None
    returned: Return | None = None
    release: Release | None = None


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


class Stats:
    """Request counters.

    ``requests[(route, status)]`` counts responses (status ``0`` = connection dropped);
    ``token_grants["client_credentials"]`` counts issued tokens by grant type;
    ``max_in_flight`` / ``max_in_flight_token`` are high-water marks of concurrent requests
    on API routes and on the token route.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.token_grants: Counter[str] = Counter()
        self.total_requests = 0
        self.in_flight = 0
        self.in_flight_token = 0
        self.max_in_flight = 0
        self.max_in_flight_token = 0

    def count(self, route: str | None = None, status: int | None = None) -> int:
        """Requests for ``route`` (any if None) that ended with ``status`` (any if None)."""
        with self._lock:
            return sum(
                n
                for (r, s), n in self.requests.items()
                if (route is None or r == route) and (status is None or s == status)
            )

    def enter(self, token_route: bool) -> None:
        """A request started (called by the sandbox)."""
        with self._lock:
            self.total_requests += 1
            if token_route:
                self.in_flight_token += 1
                self.max_in_flight_token = max(self.max_in_flight_token, self.in_flight_token)
            else:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self, route: str, status: int, token_route: bool) -> None:
        """A request ended (called by the sandbox)."""
        with self._lock:
            self.requests[(route, status)] += 1
            if token_route:
                self.in_flight_token -= 1
            else:
                self.in_flight -= 1

    def grant(self, grant_type: str) -> None:
        """A token was issued (called by the sandbox)."""
        with self._lock:
            self.token_grants[grant_type] += 1

    def reset(self) -> None:
        """Zero every counter (in-flight gauges keep counting requests still running)."""
        with self._lock:
            self.requests.clear()
            self.token_grants.clear()
            self.total_requests = 0
            self.max_in_flight = self.in_flight
            self.max_in_flight_token = self.in_flight_token

    def __repr__(self) -> str:
        return (
            f"<Stats total={self.total_requests} max_in_flight={self.max_in_flight}"
            f" max_in_flight_token={self.max_in_flight_token}"
            f" token_grants={dict(self.token_grants)}>"
        )


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
