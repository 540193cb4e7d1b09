"""Accounts: in-store verification, financing options, close (QC) and refund."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .._checks import drop_none
from ..errors import InvalidRequestError
from ..models.accounts import FinancingOptions, Verification
from ..models.authorizations import SkuData
from ..models.enums import VerifyFormat
from ..models.location import Location
from ._base import Resource
from ._validate import (
    check_account_number,
    check_amount,
    check_choice,
    check_id,
    check_location_pair,
    check_sku_data,
    check_text,
    check_vcc_number,
    path_segment,
)

__all__ = ["Accounts"]

_FORMATS = tuple(member.value for member in VerifyFormat)


class Accounts(Resource):
    """``flexiti.accounts``: calls on one account, named by its account number.

    Account numbers are the primary holder's Flexiti account number (up to 14 digits;
    an int or a digit string), never the card number or the customer id.
    """

    __slots__ = ()

    async def verify(
        self,
        account_number: int | str,
        *,
        format: VerifyFormat | str = VerifyFormat.SMS,
        request_id: str,
        vcc_number: str | None = None,
        security_qid: int | None = None,
        security_answer: str | None = None,
    ) -> Verification:
        """Verify the customer at the till and get the one-time ``verification_code``.

        ``POST v2.5/account/{account_number}/verify`` (singular ``account``); customer or
        merchant scope; **in-store only**. ``request_id`` (at most 150 characters) ties
        this verification to the following authorization or transaction: send the same
        value there. With ``format=VerifyFormat.SECURITY_QUESTION`` give ``security_qid``
        (from ``customers.lookup``) and ``security_answer``; other formats take neither.

        * ``sms`` / ``email``: the PIN goes to the customer: ``result.sent_to`` is
          ``"sms"``/``"email"`` and ``result.verification_code`` is None.
        * ``security_question``, ``regular_purchase_bypass``, ``merchant_override``: the
          PIN is in ``result.verification_code``.

        >>> result = await flexiti.accounts.verify(                 # doctest: +SKIP
        ...     100000001, format=VerifyFormat.SECURITY_QUESTION, request_id=request_id,
        ...     security_qid=profile.security_question.id, security_answer="blue")

        Not retried if the answer is lost (it may have sent an SMS or counted a try):
        `OutcomeUnknownError`. Raises `InvalidRequestError` (before any I/O);
        `BadRequestError` (``sms_not_valid_phone``); `NotFoundError` (``not_found``);
        `VerificationError` (``secret_answer_mismatch``, ``piw_mismatch``,
        ``tries_exceed``); `NotPermittedError` (``merchant_override_is_not_allowed``,
        ``regular_purchase_bypass_is_not_allowed``, ``invalid_role``);
        `InputValidationError` (``wrong_inputs``); `PermissionDeniedError`.
        """
        number = check_account_number(account_number)
        fmt = check_choice(format, "format", _FORMATS)
        body: dict[str, Any] = {
            "format": fmt,
            "request_id": check_text(request_id, "request_id", max_length=150, required=True),
        }
        if vcc_number is not None:
            body["vcc_number"] = check_vcc_number(vcc_number)
        if fmt == VerifyFormat.SECURITY_QUESTION.value:
            if security_qid is None or security_answer is None:
                raise InvalidRequestError(
                    "format='security_question' needs security_qid and security_answer",
                    field="security_qid" if security_qid is None else "security_answer",
                )
            body["security_qid"] = check_id(security_qid, "security_qid", digits=5)
            body["security_answer"] = check_text(
                security_answer, "security_answer", max_length=50, required=True
            )
        elif security_qid is not None or security_answer is not None:
            raise InvalidRequestError(
                "security_qid and security_answer are only sent with format='security_question'",
                field="security_qid" if security_qid is not None else "security_answer",
            )
        return await self._client._request(
            "POST", f"account/{path_segment(number)}/verify", json=body, cast_to=Verification
        )

    async def calculate_interest(
        self, account_number: int | str, *, amount: Decimal, lang: str | None = None
    ) -> FinancingOptions:
        """Every financing option the customer can use for ``amount`` at this merchant.

        ``POST v2.5.1/accounts/{account_number}/calculate-interest``; customer or merchant
        scope; in-store and online. Use a `PromotionalPlan` ``plan_id`` and one of its
        terms (or the regular purchase) to build the authorization's `FinancingOption`.
        ``lang`` localizes the fee and rate texts. A quote changes nothing, so it is
        retried like a GET.

        >>> options = await flexiti.accounts.calculate_interest(      # doctest: +SKIP
        ...     100000001, amount=Decimal("1200.00"))
        >>> plan = options.promotional_purchase[0]; term = plan.terms[0].term  # doctest: +SKIP

        Raises `InvalidRequestError` (before any I/O); `NotFoundError` (``not_found``);
        `NotPermittedError` (``invalid_role``); `InputValidationError` (``wrong_inputs``);
        `ConflictError` (``general_error``); `PermissionDeniedError`.
        """
        number = check_account_number(account_number)
        body = {"amount": check_amount(amount)}
        return await self._client._request(
            "POST",
            f"accounts/{path_segment(number)}/calculate-interest",
            version="2.5.1",
            params={"lang": self._lang(lang)},
            json=body,
            cast_to=FinancingOptions,
            idempotent=True,
        )

    async def close(self, account_number: int | str) -> None:
        """Close a Quebec (QC) account.

        ``POST v2.5/accounts/{account_number}/close``; customer or merchant scope;
        in-store and online. Flexiti answers ``{}``; this returns None. Not retried if
        the answer is lost (`OutcomeUnknownError`).

        Raises `InvalidRequestError` (before any I/O); `NotFoundError` (``not_found``);
        `PermissionDeniedError`; `NotPermittedError` (``invalid_role``);
        `InputValidationError` (``wrong_inputs``: Flexiti lists no code for a non-Quebec
        account; the sandbox answers this one, naming ``account_number``).
        """
        number = check_account_number(account_number)
        await self._client._request("POST", f"accounts/{path_segment(number)}/close", json={})

    async def refund(
        self,
        account_number: int | str,
        *,
        amount: Decimal,
        reference: str | None = None,
        capture_id: int | str | None = None,
        vcc_number: str | None = None,
        external_location_id: str | None = None,
        external_employee_id: str | None = None,
        location: Location | None = None,
        sku_data: SkuData | None = None,
    ) -> None:
        """Credit ``amount`` back to the account (account-level refund).

        ``POST v2.5/accounts/{account_number}/refund``; merchant scope; in-store (with
        ``external_location_id`` and ``external_employee_id``, given together) and
        online back office. For returns the capture/return path refuses (older than 100
        days, not a promotional purchase). ``reference`` is the order id (at most 40
        ASCII characters); ``capture_id`` the capture being refunded. Flexiti answers
        ``{}``; this returns None. ``location=`` (a `Location`) stands for the store pair.

        Moves money: never resent blindly. If the answer is lost it raises
        `OutcomeUnknownError`: check the account before trying again.

        Raises `InvalidRequestError` (before any I/O); `NotFoundError` (``not_found``);
        `AmountExceededError` (``refunds_limit_exceeded_amount``); `NotPermittedError`
        (``invalid_role``, ``external_location_id_not_found``,
        ``account_type_not_permitted``); `InputValidationError` (``vcc_account_mismatch``,
        ``wrong_inputs``); `ConflictError` (``general_error``); `PermissionDeniedError`.
        """
        number = check_account_number(account_number)
        store_id, employee = check_location_pair(
            external_location_id, external_employee_id, location
        )
        body: dict[str, Any] = {
            "amount": check_amount(amount),
            "reference": check_text(reference, "reference", max_length=40),
            "capture_id": None if capture_id is None else check_id(capture_id, "capture_id"),
            "vcc_number": None if vcc_number is None else check_vcc_number(vcc_number),
            "external_location_id": store_id,
            "external_employee_id": employee,
            "sku_data": check_sku_data(sku_data),
        }
        await self._client._request(
            "POST",
            f"accounts/{path_segment(number)}/refund",
            json=drop_none(body),
        )
