"""Transactions: deposits, in-store payments and trade-ins, made safe to retry."""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from typing import Any

from .. import _converter
from ..errors import InvalidRequestError
from ..models.enums import TransactionType
from ..models.location import Location
from ..models.transactions import Transaction
from ._base import Resource
from ._validate import (
    check_account_number,
    check_amount,
    check_choice,
    check_customer_id,
    check_idempotency_key,
    check_in_store,
    check_vcc_number,
    exactly_one,
)

__all__ = ["Transactions", "context_hash"]

_PAYMENTS = (
    TransactionType.DEPOSIT.value,
    TransactionType.INSTORE_PAYMENT.value,
    TransactionType.TRADEIN.value,
)


def context_hash(body: Any) -> str:
    """``x-context-hash``: lowercase hex sha256 of the canonical JSON body (keys sorted,
    no whitespace, money with two decimals): the exact bytes that are sent."""
    return hashlib.sha256(_converter.dumps(body)).hexdigest()


class Transactions(Resource):
    """``flexiti.transactions``: post deposits, in-store payments and trade-ins.

    Purchases are not posted here any more: use ``flexiti.authorizations.create``.
    """

    __slots__ = ()

    async def create(
        self,
        *,
        transaction_type: TransactionType | str,
        amount: Decimal,
        verification_code: int | str,
        account_number: int | str | None = None,
        vcc_number: str | None = None,
        customer_id: int | str | None = None,
        request_id: str | None = None,
        external_location_id: str | None = None,
        external_employee_id: str | None = None,
        location: Location | None = None,
        idempotency_key: str | None = None,
        lang: str | None = None,
    ) -> Transaction:
        """Post a deposit, in-store payment or trade-in to a customer's account.

        ``POST v2.5/transactions``; merchant scope; **in-store**: the customer is
        identified by exactly one of ``account_number``, ``vcc_number``, ``customer_id``
        and verified with ``verification_code`` (from `Accounts.verify`), which travels
        with the same ``request_id`` as the verify call, ``external_location_id`` and
        ``external_employee_id`` (all four are required; ``location=``, a `Location`, stands
        for the last two).

        Version: Flexiti's newest page shows this endpoint under v2.5.1 but its changelog
        never moved it (Open question 12); the documented v2.5 path is used.

        Safe to retry: the request carries ``x-idempotency-key`` (``idempotency_key``, or
        a generated one) and ``x-context-hash`` (sha256 of the canonical JSON body), the
        same on every retry, so Flexiti processes it once; it is retried like a GET. To
        retry yourself after an error, pass the same ``idempotency_key`` and arguments.

        >>> txn = await flexiti.transactions.create(                    # doctest: +SKIP
        ...     transaction_type=TransactionType.DEPOSIT, amount=Decimal("10.00"),
        ...     account_number=100000001, verification_code=pin, request_id=request_id,
        ...     external_location_id="00-12345", external_employee_id="12345-SMITH",
        ...     idempotency_key=f"deposit-{order_id}")

        Raises `InvalidRequestError` (before any I/O); `NotFoundError` (``not_found``);
        `VerificationError` (``wrong_verification_code``, ``verification_code_required``,
        ``not_verified``); `AccountStatusError` (``user_not_active``,
        ``user_not_able_to_purchase``); `AmountExceededError`
        (``limit_payment_amount_24``); `InsufficientCreditError` (``not_enough_credit``);
        `NotPermittedError` (``invalid_role``, ``external_location_id_not_found``,
        ``account_type_not_permitted``); `InputValidationError`
        (``invalid_transaction_type``, ``vcc_account_mismatch``); `ConflictError`
        (``general_error``, or a reused key with a different body);
        `PermissionDeniedError`.
        """
        kind_value = (
            transaction_type.value
            if isinstance(transaction_type, TransactionType)
            else transaction_type
        )
        if kind_value in (
            TransactionType.PROMOTIONAL_PURCHASE.value,
            TransactionType.REGULAR_PURCHASE.value,
        ):
            raise InvalidRequestError(
                "purchases are made with authorizations.create, not transactions.create",
                field="transaction_type",
            )
        body: dict[str, Any] = {
            "transaction_type": check_choice(transaction_type, "transaction_type", _PAYMENTS),
            "amount": check_amount(amount),
        }
        name, value = exactly_one(
            account_number=account_number, vcc_number=vcc_number, customer_id=customer_id
        )
        if name == "account_number":
            body[name] = check_account_number(value)
        elif name == "vcc_number":
            body[name] = check_vcc_number(value)
        else:
            body[name] = check_customer_id(value)
        body.update(
            check_in_store(
                verification_code=verification_code,
                request_id=request_id,
                external_location_id=external_location_id,
                external_employee_id=external_employee_id,
                location=location,
                required=True,
            )
        )
        key = (
            uuid.uuid4().hex if idempotency_key is None else check_idempotency_key(idempotency_key)
        )
        return await self._client._request(
            "POST",
            "transactions",
            params={"lang": self._lang(lang)},
            json=body,
            headers={"x-idempotency-key": key, "x-context-hash": context_hash(body)},
            idempotent=True,
            cast_to=Transaction,
        )
