"""History listings: ``GET authorizations`` and ``GET captures``, paged and filtered."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

from ._context import Call, Env
from ._validate import account_number, bad, day, optional_integer, optional_string
from ._views import authorization_view, capture_view

__all__ = ["list_authorizations", "list_captures"]


def _paging(env: Env, call: Call) -> tuple[int, int]:
    number = optional_integer(call.query, "page_number")
    size = optional_integer(call.query, "page_size")
    number = 1 if number is None else number
    size = env.options.default_page_size if size is None else size
    if number < 1:
        raise bad("page_number", "invalid", number)
    if not 1 <= size <= env.options.max_page_size:
        raise bad("page_size", f"must be between 1 and {env.options.max_page_size}", size)
    return number, size


def _window(call: Call) -> tuple[datetime | None, datetime | None]:
    start, end = day(call.query, "creation_date_from"), day(call.query, "creation_date_to")
    if start and end and end < start:
        raise bad("creation_date_to", "before creation_date_from", end)
    lo = datetime.combine(start, time(), timezone.utc) if start else None
    hi = datetime.combine(end + timedelta(days=1), time(), timezone.utc) if end else None
    return lo, hi


def _page(items: list[Any], number: int, size: int) -> tuple[list[Any], dict[str, Any]]:
    total = len(items)
    chunk = items[(number - 1) * size : number * size]
    meta = {
        "page_number": number,
        "page_size": size,
        "total_count": total,
        "total_pages": -(-total // size),
    }
    return chunk, meta


def _envelope(env: Env, name: str, views: list[Any], meta: dict[str, Any]) -> object:
    if env.options.listing_envelope == "list":
        return views
    return {name: views, **meta}


def list_authorizations(env: Env, call: Call) -> object:
    """``GET authorizations``: paged, filtered, sorted by creation time then id."""
    number, size = _paging(env, call)
    lo, hi = _window(call)
    q = call.query
    account = account_number(q)
    kind = optional_string(q, "transaction_type", 30)
    status = optional_string(q, "authorization_status", 10)
    if status is not None and status not in ("opened", "closed"):
        raise bad("authorization_status", "invalid", status)
    store = optional_string(q, "external_location_id", 50) if env.options.store_filter else None
    client = call.client_id
    items = [
        a
        for a in env.world.auth_index.between(lo, hi)
        if a.client_id == client
        and (account is None or a.account_number == account)
        and (kind is None or a.transaction_type == kind)
        and (status is None or a.status == status)
        and (store is None or a.external_location_id == store)
    ]
    chunk, meta = _page(items, number, size)
    views = [
        authorization_view(env.world, a, version=call.version, lang=call.lang, with_captures=False)
        for a in chunk
    ]
    return _envelope(env, "authorizations", views, meta)


def list_captures(env: Env, call: Call) -> object:
    """``GET captures``: paged, filtered, sorted by creation time then id."""
    number, size = _paging(env, call)
    lo, hi = _window(call)
    q = call.query
    account = account_number(q)
    auth_id = optional_integer(q, "authorization_id")
    store = optional_string(q, "external_location_id", 50) if env.options.store_filter else None
    client = call.client_id
    items = [
        c
        for c in env.world.capture_index.between(lo, hi)
        if c.client_id == client
        and (account is None or c.account_number == account)
        and (auth_id is None or c.authorization_id == auth_id)
        and (store is None or c.external_location_id == store)
    ]
    chunk, meta = _page(items, number, size)
    auths = env.world.authorizations
    views = [capture_view(c, auths[c.authorization_id], lang=call.lang) for c in chunk]
    return _envelope(env, "captures", views, meta)
