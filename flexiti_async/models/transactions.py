"""Transaction model: the ``POST transactions`` response."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from .._redact import mask_last4
from .enums import TransactionType

__all__ = ["Transaction"]


@frozen(kw_only=True)
class Transaction:
    """A deposit, in-store payment or trade-in posted by ``POST transactions``.

    The current response was never published: the shape is assumed (see
    docs/wire-assumptions.md) and keeps the legacy fields ``customer_name``,
    ``customer_lname``, ``total_amount`` and ``verified``. ``transaction_id`` is a string
    because the legacy example renders it as one.
    """

    transaction_id: str | None = None
    transaction_type: TransactionType | str | None = None
    amount: Decimal | None = None
    account_number: int | None = None
    vcc_number: str | None = field(default=None, repr=mask_last4)
    date: datetime | None = None
    verified: bool | None = None
    #: Legacy: the customer's first name.
    customer_name: str | None = None
    #: Legacy: the customer's last name.
    customer_lname: str | None = None
    #: Legacy: the posted total.
    total_amount: Decimal | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)
