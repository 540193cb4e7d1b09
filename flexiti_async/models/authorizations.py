"""Authorization lifecycle models: the request parts of authorization/capture and the
authorization, capture, release and return responses.

Flexiti never published the authorization, capture and release response bodies; their
shapes are assumed (see docs/wire-assumptions.md) and every field but the id the next call
needs is optional. The return response is documented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from .._redact import mask_last4
from .accounts import AnnualRate
from .enums import AuthorizationStatus, TransactionType

__all__ = [
    "Authorization",
    "Capture",
    "FinancingOption",
    "Release",
    "Return",
    "SkuData",
    "SkuProduct",
]


@frozen(kw_only=True)
class FinancingOption:
    """Request part: the ``financing_option`` of ``POST authorization``.

    ``transaction_type`` is ``promotional_purchase`` (then ``plan_id`` and ``term`` come
    from calculate-interest) or ``regular_purchase``.
    """

    transaction_type: TransactionType | str
    plan_id: int | None = None
    term: int | None = None


@frozen(kw_only=True)
class SkuProduct:
    """Request part: one line item of ``sku_data.products[]`` (printed on the statement)."""

    sku_id: str | None = None
    category: str | None = None
    description: str | None = None
    quantity: int | None = None
    unit_price: Decimal | None = None
    extended_price: Decimal | None = None


def _products(value: Iterable[SkuProduct]) -> tuple[SkuProduct, ...]:
    """Accept any iterable (a list is natural to write) and keep an immutable tuple."""
    return tuple(value)


@frozen(kw_only=True)
class SkuData:
    """Request part: ``sku_data`` of authorization, capture, return and refund.

    Flexiti prints it on the customer's statement and does not validate it; totals are
    negative on returns.
    """

    #: At most 10 characters.
    purchase_order: str | None = None
    #: Till / register id, at most 50 characters.
    register_id: str | None = None
    shipping_total: Decimal | None = None
    transaction_discount_total: Decimal | None = None
    transaction_subtotal: Decimal | None = None
    transaction_total: Decimal | None = None
    gst_hst: Decimal | None = None
    pst: Decimal | None = None
    products: tuple[SkuProduct, ...] = field(default=(), converter=_products)


@frozen(kw_only=True)
class Capture:
    """A capture: ``POST authorization/{id}/capture``, ``GET captures`` items, and the
    ``captures`` of ``GET authorization/{id}``.

    Shape assumed (docs/wire-assumptions.md). ``date`` also parses from ``creation_date``
    or ``created_at``.
    """

    capture_id: int
    authorization_id: int | None = None
    account_number: int | None = None
    #: Merchant order id.
    reference: str | None = None
    date: datetime | None = None
    amount: Decimal | None = None
    remaining_authorization_amount: Decimal | None = None
    remaining_capture_amount: Decimal | None = None
    returned_amount: Decimal | None = None
    external_location_id: str | None = None
    #: Localized text (``lang``).
    message: str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class Authorization:
    """A credit authorization (purchase hold): ``POST (v2.5.1) authorization``,
    ``GET authorization/{id}`` and ``GET authorizations`` items.

    Shape assumed (docs/wire-assumptions.md). Accepted spellings: ``status`` for
    ``authorization_status``; ``remaining_amount`` for ``remaining_authorization_amount``;
    ``created_at`` or ``date`` for ``creation_date``; ``apr`` (v2.5) beside
    ``annual_rates`` (v2.5.1). ``capture_id`` is set when ``auto_capture`` was true.
    """

    authorization_id: int
    account_number: int | None = None
    vcc_number: str | None = field(default=None, repr=mask_last4)
    #: Merchant order id.
    reference: str | None = None
    authorization_status: AuthorizationStatus | str | None = None
    transaction_type: TransactionType | str | None = None
    plan_id: int | None = None
    term: int | None = None
    amount: Decimal | None = None
    captured_amount: Decimal | None = None
    released_amount: Decimal | None = None
    returned_amount: Decimal | None = None
    remaining_authorization_amount: Decimal | None = None
    creation_date: datetime | None = None
    external_location_id: str | None = None
    external_employee_id: str | None = None
    auto_capture: bool | None = None
    capture_id: int | None = None
    captures: tuple[Capture, ...] = ()
    annual_rates: AnnualRate | None = None
    apr: Decimal | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)

    @property
    def is_open(self) -> bool:
        """True while the authorization is ``opened`` (it can still be captured/released)."""
        return self.authorization_status == AuthorizationStatus.OPENED


@frozen(kw_only=True)
class Release:
    """The answer of ``POST authorization/{id}/release``.

    Shape assumed (docs/wire-assumptions.md); the client fills ``authorization_id`` from
    the call when the body lacks it. Accepted spellings: ``status``,
    ``remaining_amount``.
    """

    authorization_id: int | None = None
    release_id: int | None = None
    #: The released amount.
    amount: Decimal | None = None
    remaining_authorization_amount: Decimal | None = None
    date: datetime | None = None
    authorization_status: AuthorizationStatus | str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen(kw_only=True)
class Return:
    """The answer of ``POST authorization/{id}/capture/{cid}/return`` (documented shape)."""

    return_id: int
    #: Merchant order id stored with the capture.
    reference: str | None = None
    capture_id: int | None = None
    date: datetime | None = None
    #: The returned amount.
    amount: Decimal | None = None
    remaining_capture_amount: Decimal | None = None
    remaining_authorization_amount: Decimal | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)
