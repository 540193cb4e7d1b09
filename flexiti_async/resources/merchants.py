"""Merchants: the deprecated merchant login."""

from __future__ import annotations

import warnings

from .._checks import drop_none
from ..errors import InvalidRequestError
from ..models.merchants import MerchantLogin
from ._base import Resource
from ._validate import check_text

__all__ = ["Merchants"]


class Merchants(Resource):
    """``flexiti.merchants``: merchant-level calls."""

    __slots__ = ()

    async def login(
        self,
        *,
        merchant_username: str | None = None,
        merchant_password: str | None = None,
        lang: str | None = None,
    ) -> MerchantLogin:
        """Log in a sales representative/location and fetch localized form options.

        .. deprecated:: Flexiti deprecated this endpoint in release 20.3 ("no longer
           necessary to authenticate the merchant"); calling it emits a
           `DeprecationWarning`.

        ``POST v2.5/merchants/login``; customer or merchant scope; online (before the
        widget, historically). ``merchant_username`` and ``merchant_password`` go
        together (the password never appears in an error message). Moves no money, so it
        is retried like a GET.

        Raises `InvalidRequestError` (before any I/O); `NotPermittedError`
        (``authentication_failure``, ``invalid_role``); `PermissionDeniedError`.
        """
        warnings.warn(
            "merchants.login is deprecated by Flexiti (release 20.3) and no longer needed",
            DeprecationWarning,
            stacklevel=2,
        )
        if (merchant_username is None) != (merchant_password is None):
            raise InvalidRequestError(
                "give merchant_username and merchant_password together",
                field="merchant_password" if merchant_password is None else "merchant_username",
            )
        body = {
            "merchant_username": check_text(
                merchant_username, "merchant_username", max_length=100, required=True
            )
            if merchant_username is not None
            else None,
            "merchant_password": None,
        }
        if merchant_password is not None:
            if not isinstance(merchant_password, str) or not merchant_password:
                raise InvalidRequestError(
                    "merchant_password must be a non-empty string", field="merchant_password"
                )
            if len(merchant_password) > 100:
                raise InvalidRequestError(
                    "merchant_password is longer than 100 characters", field="merchant_password"
                )
            body["merchant_password"] = merchant_password
        return await self._client._request(
            "POST",
            "merchants/login",
            params={"lang": self._lang(lang)},
            json=drop_none(body),
            cast_to=MerchantLogin,
            idempotent=True,
        )
