"""Customers: search, lookup, driver's licence decoding."""

from __future__ import annotations

from typing import Any

from ..models.customers import CustomerProfile
from ._base import Resource
from ._validate import check_account_number, check_customer_id, check_vcc_number, exactly_one

__all__ = ["Customers"]


class Customers(Resource):
    """``flexiti.customers``: find and identify customers (merchant scope, in-store)."""

    __slots__ = ()

    async def lookup(
        self,
        *,
        account_number: int | str | None = None,
        vcc_number: str | None = None,
        customer_id: int | str | None = None,
        lang: str | None = None,
    ) -> CustomerProfile:
        """Identify one customer by exactly one of account number, FlexitiCard number or
        customer id. ``GET v2.5/customers/lookup``; merchant scope; in-store and online.

        >>> profile = await flexiti.customers.lookup(account_number=100000001)  # doctest: +SKIP
        >>> profile.available_credit                                          # doctest: +SKIP
        Decimal('500.00')

        Raises `InvalidRequestError` (before any I/O) unless exactly one identifier is given;
        `NotFoundError` (``not_found``); `AccountStatusError` (``user_not_able_to_purchase``,
        ``user_not_active``); `PermissionDeniedError` (customer-scope token).
        """
        name, value = exactly_one(
            account_number=account_number, vcc_number=vcc_number, customer_id=customer_id
        )
        checked: Any
        if name == "account_number":
            checked = check_account_number(value)
        elif name == "vcc_number":
            checked = check_vcc_number(value)
        else:
            checked = check_customer_id(value)
        return await self._client._request(
            "GET",
            "customers/lookup",
            params={name: checked, "lang": self._lang(lang)},
            cast_to=CustomerProfile,
        )
