"""Shared plumbing of the history listings (``GET authorizations``, ``GET captures``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _converter
from .._error_mapping import shape_error
from .._page_decode import PageSettings
from ..pagination import AsyncPaginator
from ._validate import check_page_size

if TYPE_CHECKING:
    from .._client import FlexitiClient

__all__ = ["paginate"]

T = TypeVar("T")


def _parser(cls: type[T], path: str) -> Callable[[Any], T]:
    def parse_item(raw: Any) -> T:
        try:
            return _converter.structure(raw, cls)
        except Exception as exc:  # cattrs raises several types; all mean "does not fit"
            what = f"GET {path}: a listed item"
            raise shape_error(exc, what=what, cls=cls, reference_id=None, body=raw) from None

    return parse_item


def paginate(
    client: FlexitiClient,
    path: str,
    cls: type[T],
    *,
    params: Mapping[str, Any],
    item_keys: Sequence[str],
    page_size: Any,
    page_number: Any,
    prefetch: Any,
    max_items: Any,
    external_location_id: str | None,
) -> AsyncPaginator[T]:
    """An `AsyncPaginator` over a v2.5.1 listing; every argument is checked here (no I/O)."""
    settings = PageSettings.checked(
        page_size=check_page_size(page_size),  # the API's 1-500 range
        item_keys=item_keys,
        start_page=page_number,
        start_field="page_number",
        prefetch=prefetch,
        max_items=max_items,
    )
    size = settings.page_size
    query = dict(params)

    async def fetch(number: int) -> Any:
        return await client._request(
            "GET",
            path,
            version="2.5.1",
            params={**query, "page_number": number, "page_size": size},
        )

    item_filter: Callable[[T], bool] | None = None
    if external_location_id is not None:
        store = external_location_id

        def item_filter(item: T) -> bool:
            # Flexiti does not document a store filter: keep only this store's items
            # whether or not the server applied the filter itself.
            return getattr(item, "external_location_id", None) == store

    return AsyncPaginator.from_settings(
        fetch, _parser(cls, path), settings, item_filter=item_filter, spawn=client._spawn()
    )
