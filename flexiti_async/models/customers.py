"""Customer models: customers/search, customers/lookup, customers/driverslicense."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from .._redact import mask_last4, redacted_repr
from .enums import (
    AccountStatus,
    AccountStatusReason,
    AccountType,
    GovIdType,
    OfferCategory,
    Province,
    RiskRating,
)

__all__ = [
    "CustomerAccount",
    "CustomerProfile",
    "DriversLicense",
    "OfferType",
    "SecurityQuestion",
]


@frozen(kw_only=True)
class CustomerAccount:
    """One account found by ``GET customers/search`` (the endpoint returns a list of these).

    ``account_number`` is what the next calls (lookup, verify, calculate-interest,
    authorization) need. For an authorized business user ``customer_id`` may be of the
    form ``"<master-customer-id>-<authorized-user-id>"``.
    """

    account_number: int
    customer_id: str | None = None
    account_status: AccountStatus | str | None = None
    account_status_reason_code: AccountStatusReason | str | None = None
    tos_agreement: bool | None = None
    risk_rating: RiskRating | str | None = None
    account_type: AccountType | str | None = None
    credit_limit: Decimal | None = None
    #: Open-to-buy.
    available_credit: Decimal | None = None
    originating_merchant_id: str | None = None
    originating_merchant_name: str | None = None
    creation_date: date | None = None
    first_name: str | None = None
    last_name: str | None = None
    #: Last four digits of the FlexitiCard (not secret).
    card_ending_in: str | None = None
    #: A locale such as ``"en-CA"`` or ``"fr-CA"``.
    preferred_language: str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)

    @property
    def can_purchase(self) -> bool:
        """True when the account status is normal, the only one that allows purchases."""
        return self.account_status == AccountStatus.NORMAL


@frozen(kw_only=True)
class SecurityQuestion:
    """The customer's security question (``security_qid`` in ``GET customers/lookup``).

    Pass ``id`` as ``security_qid`` to ``verify`` with format ``security_question``.
    """

    id: int
    text: str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class OfferType:
    """A promotional plan offered to the customer (``offer_types[]`` in customers/lookup).

    Flexiti spells the term list both ``term_options`` and ``terms_options``.
    """

    plan_id: int
    plan_name: str | None = None
    offer_category: OfferCategory | str | None = None
    #: Available terms, in months.
    term_options: tuple[int, ...] = ()
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class CustomerProfile:
    """The customer/account identified by ``GET customers/lookup``.

    Fields are the union of the documented page versions (``email`` and ``phone_number``
    only appear in older ones). ``security_question`` is the wire's ``security_qid``
    object.
    """

    account_number: int
    customer_id: str | None = None
    available_credit: Decimal | None = None
    security_question: SecurityQuestion | None = None
    email: str | None = None
    phone_number: str | None = None
    address_1: str | None = None
    address_2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    province: Province | str | None = None
    #: Whether the account carries payment-protection insurance.
    payment_protection: bool | None = None
    risk_rating: RiskRating | str | None = None
    offer_types: tuple[OfferType, ...] = ()
    #: Last four digits of the FlexitiCard (not secret).
    card_ending_in: str | None = None
    preferred_language: str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class DriversLicense:
    """Applicant fields decoded from a licence barcode by ``POST customers/driverslicense``.

    The document number shows only its last four characters in ``repr``; the date of
    birth is not shown at all.
    """

    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    dob: date | None = field(default=None, repr=redacted_repr)
    address_1: str | None = None
    address_2: str | None = None
    city: str | None = None
    province: Province | str | None = None
    postal_code: str | None = None
    govid_type: GovIdType | str | None = None
    #: Issuing province or authority code.
    govid_issuedby: str | None = None
    govid_number: str | None = field(default=None, repr=mask_last4)
    govid_expiry: date | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)
