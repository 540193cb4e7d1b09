"""In-memory records of the sandbox world: merchants, tokens, accounts, money movements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from .._redact import mask_last4

__all__ = [
    "Account",
    "Authorization",
    "Capture",
    "HistoryRecord",
    "Merchant",
    "PendingVerification",
    "Plan",
    "Release",
    "Return",
    "Store",
    "Token",
    "Transaction",
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
