"""Customers: search, lookup, driver's licence decoding."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..errors import InvalidRequestError
from ..models.customers import CustomerAccount, CustomerProfile, DriversLicense
from ._base import Resource
from ._validate import (
    check_account_number,
    check_customer_id,
    check_date,
    check_text,
    check_vcc_number,
    exactly_one,
    normalise_postal_code,
)

__all__ = ["Customers"]

#: The PDF417 payload of a licence is a few hundred bytes; this only bounds nonsense.
_LICENCE_MAX = 10_000


class Customers(Resource):
    """``flexiti.customers``: find and identify customers (merchant scope, in-store)."""

    __slots__ = ()

    async def search(
        self,
        *,
        first_name: str,
        last_name: str,
        dob: _dt.date | str,
        postal_code: str | None = None,
    ) -> list[CustomerAccount]:
        """Find a customer's accounts by name and date of birth (one entry per account).

        ``GET v2.5/customers/search``; merchant scope; in-store (at the till).
        ``dob`` is a `datetime.date` (or ``"YYYY-MM-DD"``); ``postal_code`` is normalised
        (``"a1a 1a1"`` -> ``"A1A1A1"``). Names: at most 35 / 50 ASCII characters.

        >>> accounts = await flexiti.customers.search(              # doctest: +SKIP
        ...     first_name="Jane", last_name="Doe", dob=date(1980, 5, 17), postal_code="M5V 2T6")
        >>> [a.account_number for a in accounts if a.can_purchase]   # doctest: +SKIP

        Raises `InvalidRequestError` (before any I/O) for a missing or too long name, a bad
        date or postal code; `NotFoundError` (``not_found``) when no account matches;
        `PermissionDeniedError` (customer-scope token); `NotPermittedError`
        (``invalid_role``); `InputValidationError` (``wrong_inputs``).
        """
        params = {
            "first_name": check_text(first_name, "first_name", max_length=35, required=True),
            "last_name": check_text(last_name, "last_name", max_length=50, required=True),
            "dob": check_date(dob, "dob"),
            "postal_code": None if postal_code is None else normalise_postal_code(postal_code),
        }
        return await self._client._request(
            "GET",
            "customers/search",
            params=params,
            cast_to=list[CustomerAccount],
        )

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

    async def decode_drivers_license(self, *, code: str) -> DriversLicense:
        """Decode the PDF417 barcode of a Canadian driver's licence into applicant fields
        (to pre-fill an application).

        ``POST v2.5/customers/driverslicense``; customer or merchant scope; in-store and
        online. ``code`` is the raw scanned text (AAMVA, control characters included); it
        is never shown in an error message or a log line. Decoding changes nothing at
        Flexiti, so the call is retried like a GET.

        Raises `InvalidRequestError` (before any I/O) for an empty or non-string ``code``;
        `InputValidationError` (``wrong_inputs``) when Flexiti cannot decode it;
        `NotPermittedError` (``invalid_role``). Flexiti documents no specific errors.
        """
        if not isinstance(code, str) or not code.strip():
            raise InvalidRequestError("code must be the scanned barcode text", field="code")
        if len(code) > _LICENCE_MAX:
            raise InvalidRequestError(
                f"code is longer than {_LICENCE_MAX} characters", field="code"
            )
        return await self._client._request(
            "POST",
            "customers/driverslicense",
            json={"code": code},
            cast_to=DriversLicense,
            idempotent=True,
        )
