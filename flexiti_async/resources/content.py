"""Content: terms and conditions and localized strings (undocumented: decoded JSON)."""

from __future__ import annotations

from typing import Any

from ._base import Resource

__all__ = ["Content"]


class Content(Resource):
    """``flexiti.content``: texts for customer-facing screens."""

    __slots__ = ()

    async def terms_and_conditions(self, *, lang: str | None = None) -> Any:
        """The terms / cardholder agreement to show before an application.

        ``GET v2.5/terms-and-conditions``; customer (or merchant) scope; online and
        in-store. Flexiti never documented its parameters or answer (Open question 11):
        ``lang`` is sent as a query parameter and the decoded JSON is returned as is.

        Raises `InvalidRequestError` (bad ``lang``, before any I/O); `NotPermittedError`
        (``invalid_role``); `ConflictError` (``general_error``); `PermissionDeniedError`.
        """
        return await self._client._request(
            "GET", "terms-and-conditions", params={"lang": self._lang(lang)}
        )

    async def i18n(self, *, lang: str | None = None) -> Any:
        """Localized UI strings for customer-facing screens.

        ``GET v2.5/i18n``; customer (or merchant) scope; online. Undocumented (the scope
        list says POST, the error page GET: GET is used; Open question 11): ``lang`` is
        sent as a query parameter and the decoded JSON is returned as is.

        Raises `InvalidRequestError` (bad ``lang``, before any I/O); `NotPermittedError`
        (``invalid_role``); `InputValidationError` (``wrong_inputs``); `ConflictError`
        (``general_error``); `PermissionDeniedError`.
        """
        return await self._client._request("GET", "i18n", params={"lang": self._lang(lang)})
