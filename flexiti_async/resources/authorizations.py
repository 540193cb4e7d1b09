"""Authorizations: create, retrieve, list, capture, release, return."""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any

import attrs

from .._checks import drop_none
from ..errors import InvalidRequestError
from ..models.authorizations import (
    Authorization,
    Capture,
    FinancingOption,
    Release,
    Return,
    SkuData,
)
from ..models.enums import AuthorizationStatus, TransactionType
from ..models.location import Location
from ..pagination import AsyncPaginator
from ._base import Resource
from ._listing import paginate
from ._validate import (
    LOCATION_MAX,
    check_account_number,
    check_amount,
    check_choice,
    check_date_range,
    check_id,
    check_in_store,
    check_location_pair,
    check_sku_data,
    check_text,
    check_vcc_number,
    path_segment,
)

__all__ = ["Authorizations"]

_PURCHASES = (
    TransactionType.PROMOTIONAL_PURCHASE.value,
    TransactionType.REGULAR_PURCHASE.value,
)
#: Item keys tried, in order, when a listing page is an object.
AUTHORIZATION_ITEM_KEYS = ("authorizations", "data", "items", "results", "content")


def _financing_option(value: Any) -> dict[str, Any]:
    if not isinstance(value, FinancingOption):
        raise InvalidRequestError(
            "financing_option must be a FinancingOption", field="financing_option"
        )
    kind = check_choice(value.transaction_type, "financing_option.transaction_type", _PURCHASES)
    option: dict[str, Any] = {"transaction_type": kind}
    if kind == TransactionType.PROMOTIONAL_PURCHASE.value:
        if value.plan_id is None or value.term is None:
            raise InvalidRequestError(
                "a promotional purchase needs financing_option.plan_id and .term "
                "(from accounts.calculate_interest)",
                field="financing_option",
            )
        option["plan_id"] = check_id(value.plan_id, "financing_option.plan_id", digits=3)
        option["term"] = check_id(value.term, "financing_option.term", digits=3)
    elif value.plan_id is not None or value.term is not None:
        raise InvalidRequestError(
            "plan_id and term apply to promotional purchases only", field="financing_option"
        )
    return option


class Authorizations(Resource):
    """``flexiti.authorizations``: credit holds for purchases and what happens to them.

    Lifecycle: `create` (hold) -> `capture` (fund, possibly in parts) -> `return_capture`
    (full or partial return of a capture); `release` cancels what is left of the hold.

    In-store calls send the store and employee codes together: pass ``location=`` (a
    `flexiti_async.models.Location`) or the two keywords ``external_location_id=`` and
    ``external_employee_id=`` (not both forms at once).
    """

    __slots__ = ()

    async def create(
        self,
        *,
        account_number: int | str,
        amount: Decimal,
        financing_option: FinancingOption,
        auto_capture: bool = False,
        reference: str | None = None,
        vcc_number: str | None = None,
        verification_code: int | str | None = None,
        request_id: str | None = None,
        external_location_id: str | None = None,
        external_employee_id: str | None = None,
        location: Location | None = None,
        sku_data: SkuData | None = None,
        lang: str | None = None,
    ) -> Authorization:
        """Hold credit for a promotional or regular purchase (optionally capture at once).

        ``POST v2.5.1/authorization``; merchant scope (in-store), customer or merchant
        scope (online, after the widget). Channels:

        * **in-store**: give ``verification_code`` (from `Accounts.verify`), the same
          ``request_id`` as the verify call, ``external_location_id`` and
          ``external_employee_id``: all four or none.
        * **online**: give none of them (Flexiti refuses a ``verification_code`` here).

        A promotional ``financing_option`` needs ``plan_id`` and ``term`` (from
        ``accounts.calculate_interest``). ``reference`` is your order id (at most 40 ASCII
        characters); ``vcc_number`` a business authorized user's card.

        >>> auth = await flexiti.authorizations.create(              # doctest: +SKIP
        ...     account_number=100000001, amount=Decimal("1200.00"),
        ...     financing_option=FinancingOption(
        ...         transaction_type=TransactionType.PROMOTIONAL_PURCHASE, plan_id=1, term=12),
        ...     reference="ORDER-1", verification_code=pin, request_id=request_id,
        ...     external_location_id="00-12345", external_employee_id="12345-SMITH")

        Moves money: never resent blindly. If the answer is lost it raises
        `OutcomeUnknownError`: list the account's authorizations and match on
        ``reference`` before trying again.

        Raises `InvalidRequestError` (before any I/O); `NotFoundError` (``not_found``,
        ``customer_identity_not_found``); `InsufficientCreditError` (``credit_exceeded``);
        `AccountStatusError` (``user_not_able_to_purchase``); `VerificationError`
        (``not_verified``); `NotPermittedError` (``invalid_role``, ``not_permitted``,
        ``auth_not_allowed``, ``plan_term_not_set``, ``plan_term_not_available``,
        ``external_location_id_not_found``, ``account_type_not_permitted``);
        `InputValidationError` (``vcc_account_mismatch``, ``wrong_inputs``);
        `ConflictError` (``general_error``); `PermissionDeniedError`.
        """
        if not isinstance(auto_capture, bool):
            raise InvalidRequestError("auto_capture must be a bool", field="auto_capture")
        body: dict[str, Any] = {
            "account_number": check_account_number(account_number),
            "amount": check_amount(amount),
            "financing_option": _financing_option(financing_option),
            "auto_capture": auto_capture,
            "reference": check_text(reference, "reference", max_length=40),
            "vcc_number": None if vcc_number is None else check_vcc_number(vcc_number),
            "sku_data": check_sku_data(sku_data),
        }
        body.update(
            check_in_store(
                verification_code=verification_code,
                request_id=request_id,
                external_location_id=external_location_id,
                external_employee_id=external_employee_id,
                location=location,
            )
        )
        return await self._client._request(
            "POST",
            "authorization",
            version="2.5.1",
            params={"lang": self._lang(lang)},
            json=drop_none(body),
            cast_to=Authorization,
        )

    async def retrieve(
        self, authorization_id: int | str, *, lang: str | None = None
    ) -> Authorization:
        """One authorization, with its captures.

        ``GET v2.5.1/authorization/{authorization_id}``; merchant scope; in-store and
        online back office. Retried on transient failures (a read).

        Raises `InvalidRequestError` (before any I/O); `NotFoundError` (``not_found``);
        `NotPermittedError` (``invalid_role``); `PermissionDeniedError`.
        """
        number = check_id(authorization_id, "authorization_id")
        return await self._client._request(
            "GET",
            f"authorization/{path_segment(number)}",
            version="2.5.1",
            params={"lang": self._lang(lang)},
            cast_to=Authorization,
        )

    def list(
        self,
        *,
        account_number: int | str | None = None,
        transaction_type: TransactionType | str | None = None,
        authorization_status: AuthorizationStatus | str | None = None,
        creation_date_from: _dt.date | str | None = None,
        creation_date_to: _dt.date | str | None = None,
        external_location_id: str | None = None,
        page_size: int = 100,
        page_number: int = 1,
        prefetch: int = 1,
        max_items: int | None = None,
        lang: str | None = None,
    ) -> AsyncPaginator[Authorization]:
        """Authorization history, page by page (a plain method returning a paginator).

        ``GET v2.5.1/authorizations``; merchant scope; back office. Filters: account,
        ``transaction_type`` (promotional/regular purchase), ``authorization_status``
        (e.g. ``opened``), inclusive creation dates. ``external_location_id`` is sent
        (Flexiti does not document a store filter) **and** applied client-side: only
        that store's authorizations are yielded, whether or not the server filtered.
        ``page_size`` 1-500; ``page_number`` is the first page to read (resume after an
        error with ``exc.page_number``); ``prefetch`` pages are read ahead.

        >>> async for auth in flexiti.authorizations.list(            # doctest: +SKIP
        ...         creation_date_from=date(2024, 1, 1), authorization_status="opened"):
        ...     print(auth.authorization_id, auth.remaining_authorization_amount)
        >>> first_page = await flexiti.authorizations.list(page_size=50)  # doctest: +SKIP

        Raises `InvalidRequestError` here (before any I/O); while iterating
        `NotPermittedError` (``invalid_role``), `InputValidationError` (``wrong_inputs``),
        `PermissionDeniedError`, `ResponseValidationError`, `PaginationError`.
        """
        lo, hi = check_date_range(
            creation_date_from,
            creation_date_to,
            start_field="creation_date_from",
            end_field="creation_date_to",
        )
        status: str | None = None
        if authorization_status is not None:
            status = check_text(
                authorization_status.value
                if isinstance(authorization_status, AuthorizationStatus)
                else authorization_status,
                "authorization_status",
                max_length=20,
                required=True,
            )
            try:  # a documented status in any case is sent as Flexiti spells it
                status = AuthorizationStatus(status).value
            except ValueError:
                pass  # Flexiti documents only ``opened``: other values go as given
        store = check_text(
            external_location_id,
            "external_location_id",
            max_length=LOCATION_MAX,
            required=external_location_id is not None,
        )
        params = {
            "account_number": None
            if account_number is None
            else check_account_number(account_number),
            "transaction_type": None
            if transaction_type is None
            else check_choice(transaction_type, "transaction_type", _PURCHASES),
            "authorization_status": status,
            "creation_date_from": lo,
            "creation_date_to": hi,
            "external_location_id": store,
            "lang": self._lang(lang),
        }
        return paginate(
            self._client,
            "authorizations",
            Authorization,
            params=params,
            item_keys=AUTHORIZATION_ITEM_KEYS,
            page_size=page_size,
            page_number=page_number,
            prefetch=prefetch,
            max_items=max_items,
            external_location_id=store,
        )

    async def capture(
        self,
        authorization_id: int | str,
        *,
        amount: Decimal,
        reference: str | None = None,
        external_location_id: str | None = None,
        external_employee_id: str | None = None,
        location: Location | None = None,
        sku_data: SkuData | None = None,
        lang: str | None = None,
    ) -> Capture:
        """Capture (fund) all or part of what remains of an authorization.

        ``POST v2.5/authorization/{authorization_id}/capture``; merchant scope; in-store
        (with ``external_location_id`` and ``external_employee_id``, together) and online
        back office. Several partial captures are allowed. ``lang`` localizes the
        response's ``message``. ``sku_data`` is printed on the customer's statement.

        >>> capture = await flexiti.authorizations.capture(            # doctest: +SKIP
        ...     auth.authorization_id, amount=Decimal("400.00"), reference="ORDER-1")

        Moves money: never resent blindly. If the answer is lost it raises
        `OutcomeUnknownError`: `retrieve` the authorization before trying again.

        Raises `InvalidRequestError` (before any I/O); `NotFoundError` (``not_found``);
        `TransactionStateError` (``authorization_ended``); `AmountExceededError`
        (``auth_amount_exceeded``); `NotPermittedError` (``not_permitted``,
        ``invalid_role``); `ConflictError` (``general_error``/``generic_error``).
        """
        number = check_id(authorization_id, "authorization_id")
        store_id, employee = check_location_pair(
            external_location_id, external_employee_id, location
        )
        body = {
            "amount": check_amount(amount),
            "reference": check_text(reference, "reference", max_length=40),
            "external_location_id": store_id,
            "external_employee_id": employee,
            "sku_data": check_sku_data(sku_data),
        }
        capture = await self._client._request(
            "POST",
            f"authorization/{path_segment(number)}/capture",
            params={"lang": self._lang(lang)},
            json=drop_none(body),
            cast_to=Capture,
        )
        if capture.authorization_id is None:
            capture = attrs.evolve(capture, authorization_id=number)
        return capture

    async def release(
        self,
        authorization_id: int | str,
        *,
        amount: Decimal | None = None,
        external_location_id: str | None = None,
        external_employee_id: str | None = None,
        location: Location | None = None,
    ) -> Release:
        """Release (cancel) uncaptured credit of an authorization: the way to cancel a
        pending purchase.

        ``POST v2.5/authorization/{authorization_id}/release``; merchant scope; in-store
        (with ``external_location_id`` and ``external_employee_id``, together) and online
        back office. ``amount=None`` releases everything that remains: ``amount`` is then
        left out of the body (Open question 8: Flexiti does not say whether it is
        required; omitting it is the tolerant choice). The result's ``authorization_id``
        is filled from the call when Flexiti's answer lacks it.

        Never resent blindly: if the answer is lost it raises `OutcomeUnknownError`.

        Raises `InvalidRequestError` (before any I/O); `NotFoundError` (``not_found``);
        `TransactionStateError` (``authorization_ended``); `AmountExceededError`
        (``auth_amount_exceeded``); `NotPermittedError` (``not_permitted``);
        `ConflictError` (``general_error``/``generic_error``).
        """
        number = check_id(authorization_id, "authorization_id")
        store_id, employee = check_location_pair(
            external_location_id, external_employee_id, location
        )
        body = {
            "amount": None if amount is None else check_amount(amount),
            "external_location_id": store_id,
            "external_employee_id": employee,
        }
        release = await self._client._request(
            "POST",
            f"authorization/{path_segment(number)}/release",
            json=drop_none(body),
            cast_to=Release,
        )
        if release.authorization_id is None:
            release = attrs.evolve(release, authorization_id=number)
        return release

    async def return_capture(
        self,
        authorization_id: int | str,
        capture_id: int | str,
        *,
        amount: Decimal | None = None,
        reference: str | None = None,
        vcc_number: str | None = None,
        external_location_id: str | None = None,
        external_employee_id: str | None = None,
        location: Location | None = None,
        sku_data: SkuData | None = None,
    ) -> Return:
        """Return all or part of a capture.

        ``POST v2.5/authorization/{authorization_id}/capture/{capture_id}/return``;
        merchant scope; in-store (with ``external_location_id`` and
        ``external_employee_id``, together) and online back office. ``amount=None`` is a
        full return: ``full_return: true`` and no ``amount``; an amount is a partial
        return: ``full_return: false`` plus ``amount`` (Open question 9). Captures older
        than 100 days must go through `Accounts.refund`.

        >>> ret = await flexiti.authorizations.return_capture(          # doctest: +SKIP
        ...     auth.authorization_id, capture.capture_id, amount=Decimal("50.00"))

        Moves money: never resent blindly. If the answer is lost it raises
        `OutcomeUnknownError`.

        Raises `InvalidRequestError` (before any I/O); `NotFoundError` (``not_found``);
        `AmountExceededError` (``capture_amount_exceeded``); `TransactionStateError`
        (``return_date_exceeded``, ``wrong_transaction_type``); `NotPermittedError`
        (``not_permitted``, ``invalid_role``, ``external_location_id_not_found``,
        ``account_type_not_permitted``); `InputValidationError`
        (``vcc_account_mismatch``); `ConflictError` (``general_error``);
        `PermissionDeniedError`.
        """
        auth_number = check_id(authorization_id, "authorization_id")
        capture_number = check_id(capture_id, "capture_id")
        store_id, employee = check_location_pair(
            external_location_id, external_employee_id, location
        )
        body = {
            "full_return": amount is None,
            "amount": None if amount is None else check_amount(amount),
            "reference": check_text(reference, "reference", max_length=40),
            "vcc_number": None if vcc_number is None else check_vcc_number(vcc_number),
            "external_location_id": store_id,
            "external_employee_id": employee,
            "sku_data": check_sku_data(sku_data),
        }
        return await self._client._request(
            "POST",
            f"authorization/{path_segment(auth_number)}/capture/"
            f"{path_segment(capture_number)}/return",
            json=drop_none(body),
            cast_to=Return,
        )
