"""Captures: the capture history listing."""

from __future__ import annotations

import datetime as _dt

from ..models.authorizations import Capture
from ..pagination import AsyncPaginator
from ._base import Resource
from ._listing import paginate
from ._validate import LOCATION_MAX, check_account_number, check_date_range, check_id, check_text

__all__ = ["Captures"]

#: Item keys tried, in order, when a listing page is an object.
CAPTURE_ITEM_KEYS = ("captures", "data", "items", "results", "content")


class Captures(Resource):
    """``flexiti.captures``: capture history (captures are made with
    ``flexiti.authorizations.capture``)."""

    __slots__ = ()

    def list(
        self,
        *,
        account_number: int | str | None = None,
        authorization_id: int | str | None = None,
        creation_date_from: _dt.date | str | None = None,
        creation_date_to: _dt.date | str | None = None,
        external_location_id: str | None = None,
        page_size: int = 100,
        page_number: int = 1,
        prefetch: int = 1,
        max_items: int | None = None,
        lang: str | None = None,
    ) -> AsyncPaginator[Capture]:
        """Capture history, page by page (a plain method returning a paginator).

        ``GET v2.5.1/captures``; merchant scope; back office. Flexiti never published
        this endpoint's parameters: they are assumed to mirror ``GET authorizations``
        (see docs/wire-assumptions.md). ``external_location_id`` is sent **and** applied
        client-side (only that store's captures are yielded). ``page_size`` 1-500.

        >>> async for capture in flexiti.captures.list(                 # doctest: +SKIP
        ...         creation_date_from=date(2024, 1, 1), creation_date_to=date(2024, 1, 31)):
        ...     print(capture.capture_id, capture.amount)

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
            "authorization_id": None
            if authorization_id is None
            else check_id(authorization_id, "authorization_id"),
            "creation_date_from": lo,
            "creation_date_to": hi,
            "external_location_id": store,
            "lang": self._lang(lang),
        }
        return paginate(
            self._client,
            "captures",
            Capture,
            params=params,
            item_keys=CAPTURE_ITEM_KEYS,
            page_size=page_size,
            page_number=page_number,
            prefetch=prefetch,
            max_items=max_items,
            external_location_id=store,
        )
