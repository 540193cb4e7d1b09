"""Widget: open a Flexiti-hosted widget session (online channel)."""

from __future__ import annotations

from typing import Any

from .._checks import drop_none
from ..errors import InvalidRequestError
from ..models.enums import AccountType, Province, WidgetFlow
from ..models.widget import PersonalInformation, WidgetSession
from ._base import Resource
from ._validate import (
    check_account_number,
    check_choice,
    check_date,
    check_text,
    check_vcc_number,
    normalise_postal_code,
)

__all__ = ["Widget"]

_FLOWS = tuple(member.value for member in WidgetFlow)
_PROVINCES = tuple(member.value for member in Province)
_ACCOUNT_TYPES = tuple(member.value for member in AccountType)


def _personal(value: Any) -> dict[str, Any]:
    if not isinstance(value, PersonalInformation):
        raise InvalidRequestError(
            "personal_information must be a PersonalInformation", field="personal_information"
        )
    info: dict[str, Any] = {
        "first_name": check_text(
            value.first_name, "personal_information.first_name", max_length=80, required=True
        ),
        "last_name": check_text(
            value.last_name, "personal_information.last_name", max_length=130, required=True
        ),
        "dob": check_date(value.dob, "personal_information.dob"),
    }
    if value.postal_code is not None:
        info["postal_code"] = normalise_postal_code(
            value.postal_code, "personal_information.postal_code"
        )
    return info


def _phone(value: Any) -> str:
    text = value if isinstance(value, str) else None
    digits = "".join(ch for ch in text if ch not in " -().") if text is not None else ""
    if digits.startswith("+1"):
        digits = digits[2:]
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        raise InvalidRequestError("phone_number must be 10 digits", field="phone_number")
    return digits


def _purchase_identification(
    account_number: int | str | None,
    vcc_number: str | None,
    personal_information: PersonalInformation | None,
    applying: dict[str, Any],
) -> dict[str, Any]:
    """``customer_identification`` of a purchase: exactly one way to name the shopper."""
    extra = [name for name, value in applying.items() if value is not None]
    if extra:
        raise InvalidRequestError(f"{extra[0]} is only sent with flow='apply'", field=extra[0])
    chosen = [
        name
        for name, value in (
            ("account_number", account_number),
            ("vcc_number", vcc_number),
            ("personal_information", personal_information),
        )
        if value is not None
    ]
    if len(chosen) != 1:
        raise InvalidRequestError(
            "flow='purchase' needs exactly one of account_number, vcc_number, "
            f"personal_information (got {len(chosen)})",
            field="account_number",
        )
    if account_number is not None:
        return {"account_number": check_account_number(account_number)}
    if vcc_number is not None:
        return {"vcc_number": check_vcc_number(vcc_number)}
    return {"personal_information": _personal(personal_information)}


def _application(applying: dict[str, Any]) -> dict[str, Any]:
    """The applicant's details an ``apply`` session needs, checked (``address_2`` optional)."""
    if applying["tos_agreement"] is not True:
        raise InvalidRequestError(
            "flow='apply' needs tos_agreement=True (the applicant accepted the terms)",
            field="tos_agreement",
        )
    for name, value in applying.items():
        if value is None and name != "address_2":
            raise InvalidRequestError(f"flow='apply' needs {name}", field=name)
    return {
        "tos_agreement": True,
        "email": check_text(applying["email"], "email", max_length=100, required=True),
        "phone_number": _phone(applying["phone_number"]),
        "address_1": check_text(applying["address_1"], "address_1", max_length=250, required=True),
        "address_2": check_text(applying["address_2"], "address_2", max_length=100),
        "city": check_text(applying["city"], "city", max_length=100, required=True),
        "province": check_choice(applying["province"], "province", _PROVINCES),
        "account_type": check_choice(applying["account_type"], "account_type", _ACCOUNT_TYPES),
    }


class Widget(Resource):
    """``flexiti.widget``: the online channel's hosted widget (customer scope)."""

    __slots__ = ()

    async def init(
        self,
        *,
        flow: WidgetFlow | str,
        account_number: int | str | None = None,
        vcc_number: str | None = None,
        personal_information: PersonalInformation | None = None,
        lang: str | None = None,
        tos_agreement: bool | None = None,
        email: str | None = None,
        phone_number: str | None = None,
        address_1: str | None = None,
        address_2: str | None = None,
        city: str | None = None,
        province: Province | str | None = None,
        account_type: AccountType | str | None = None,
    ) -> WidgetSession:
        """Open a widget session and get the URL to show with ``FlexitiSDK.init``.

        ``POST v2.5/widget/init``; **customer scope** (use
        ``flexiti.with_options(scope="customer")``); **online**. ``lang`` goes in the
        body here (the URL carries it back). Refresh-sensitive: the widget reuses this
        call's access token for the whole flow.

        * ``flow="purchase"``: exactly one of ``account_number``, ``vcc_number``,
          ``personal_information`` identifies the shopper.
        * ``flow="apply"``: ``personal_information`` plus ``tos_agreement=True``,
          ``email``, ``phone_number`` (10 digits), ``address_1``, ``city``,
          ``province`` and ``account_type`` (``address_2`` optional).

        Postal codes are normalised (``"A1A 1A1"`` -> ``"A1A1A1"``). The returned
        ``widget_session_id`` ties the later ``authorization``/``apply`` to this
        session. Opening a session moves no money, so the call is retried like a GET.

        >>> customer_api = flexiti.with_options(scope="customer")      # doctest: +SKIP
        >>> session = await customer_api.widget.init(                  # doctest: +SKIP
        ...     flow="purchase", account_number=100000001, lang="fr")

        Raises `InvalidRequestError` (before any I/O); `NotPermittedError`
        (``invalid_role``); `InputValidationError` (``wrong_inputs``); `ConflictError`
        (``general_error``); `PermissionDeniedError`.
        """
        kind = check_choice(flow, "flow", _FLOWS)
        applying = {
            "tos_agreement": tos_agreement,
            "email": email,
            "phone_number": phone_number,
            "address_1": address_1,
            "address_2": address_2,
            "city": city,
            "province": province,
            "account_type": account_type,
        }
        body: dict[str, Any] = {"flow": kind, "lang": self._lang(lang)}
        if kind == WidgetFlow.PURCHASE.value:
            ident = _purchase_identification(
                account_number, vcc_number, personal_information, applying
            )
        else:
            if account_number is not None or vcc_number is not None:
                raise InvalidRequestError(
                    "flow='apply' identifies the applicant by personal_information only",
                    field="account_number" if account_number is not None else "vcc_number",
                )
            if personal_information is None:
                raise InvalidRequestError(
                    "flow='apply' needs personal_information", field="personal_information"
                )
            ident = {"personal_information": _personal(personal_information)}
            body.update(_application(applying))
        body["customer_identification"] = ident
        return await self._client._request(
            "POST",
            "widget/init",
            json=drop_none(body),
            cast_to=WidgetSession,
            idempotent=True,
        )
