"""Account models: verify and calculate-interest responses."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from .._redact import redacted_repr
from .enums import AccountType, CategoryType

__all__ = [
    "AnnualRate",
    "Fee",
    "FinancingOptions",
    "InterestCustomer",
    "PlanTerm",
    "PromotionalPlan",
    "RegularPurchase",
    "Verification",
]


@frozen(kw_only=True)
class Verification:
    """The answer of ``POST account/{n}/verify``.

    Flexiti's single ``verification_code`` field carries either the one-time PIN (formats
    ``security_question``, ``regular_purchase_bypass``, ``merchant_override``) or a
    sentinel such as ``verification_sent_to_sms`` when the PIN went to the customer. The
    converter splits the two: a PIN lands in ``verification_code`` (always a ``str``,
    ``1234`` -> ``"1234"``); a sentinel leaves it ``None`` and sets ``sent_to`` to what
    follows ``verification_sent_to_`` (``"sms"``, ``"email"``, or a newer channel).
    """

    verification_code: str | None = field(default=None, repr=redacted_repr)
    sent_to: str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class Fee:
    """A fee attached to a financing option (``fees[]`` in calculate-interest)."""

    description: str | None = None
    amount: Decimal | None = None
    #: e.g. ``"admin_total"`` (total vs monthly admin fee).
    type: str | None = None
    #: Legal text, localized by ``lang``.
    message: str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class AnnualRate:
    """The v2.5.1 ``annual_rates`` object of a plan term or authorization."""

    description: str | None = None
    rate: Decimal | None = None
    type: str | None = None
    #: Legal text, localized by ``lang``.
    message: str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class PlanTerm:
    """One term of a promotional plan (``promotional_purchase[].terms[]``).

    v2.5.1 sends ``annual_rates``; v2.5 sent a bare ``apr`` number. Use `rate` to read
    whichever is present.
    """

    #: Length in months; pass it as ``financing_option.term``.
    term: int
    #: Periodic payment (or deferred amount).
    term_amount: Decimal | None = None
    annual_rates: AnnualRate | None = None
    apr: Decimal | None = None
    fees: tuple[Fee, ...] = ()
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)

    @property
    def rate(self) -> Decimal | None:
        """The annual rate: ``annual_rates.rate`` (v2.5.1) or else ``apr`` (v2.5)."""
        if self.annual_rates is not None and self.annual_rates.rate is not None:
            return self.annual_rates.rate
        return self.apr


@frozen(kw_only=True)
class PromotionalPlan:
    """A promotional plan the customer can use (``promotional_purchase[]``)."""

    #: Pass it as ``financing_option.plan_id``.
    plan_id: int
    #: Present since release 22.9.0 (v2.5.1 only).
    plan_name: str | None = None
    terms: tuple[PlanTerm, ...] = ()
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class RegularPurchase:
    """The regular (revolving) purchase option (``regular_purchase`` in calculate-interest)."""

    #: Always the purchase amount (a single term).
    term_amount: Decimal | None = None
    #: Annual interest rate, e.g. ``Decimal("0.2999")``.
    air: Decimal | None = None
    #: True when the customer may use the ``regular_purchase_bypass`` verify format.
    verify: bool | None = None
    fees: tuple[Fee, ...] = ()
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class InterestCustomer:
    """The ``customer`` object of calculate-interest."""

    available_credit: Decimal | None = None
    #: Annual interest rate, e.g. ``Decimal("0.2999")``.
    air: Decimal | None = None
    first_name: str | None = None
    last_name: str | None = None
    category_type: CategoryType | str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class FinancingOptions:
    """Every financing option for an amount: ``POST (v2.5.1) accounts/{n}/calculate-interest``.

    Build an authorization's ``FinancingOption`` from a `PromotionalPlan` ``plan_id`` and
    one of its `PlanTerm` ``term`` values, or use the regular purchase.
    """

    account_number: int | None = None
    account_type: AccountType | str | None = None
    amount: Decimal | None = None
    customer: InterestCustomer | None = None
    regular_purchase: RegularPurchase | None = None
    promotional_purchase: tuple[PromotionalPlan, ...] = ()
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)
