"""captures.list: the capture history."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from flexiti_async.models import Capture
from tests._resources import (
    GLOBAL_ERRORS,
    api_with,
    assert_wire,
    check_error,
    fixture_bytes,
    only_request,
    paged_api,
    refused,
)

pytestmark = pytest.mark.anyio


def _capture(n: int, store: str = "00-00001") -> dict[str, Any]:
    return {"capture_id": n, "amount": "10.00", "external_location_id": store}


async def test_captures_list_wire_and_paging() -> None:
    pages = {
        1: {"captures": [_capture(1), _capture(2)], "total_pages": 2},
        2: {"captures": [_capture(3)], "total_pages": 2},
    }
    api = paged_api(pages)
    async with api.client() as flexiti:
        captures = [
            c
            async for c in flexiti.captures.list(
                account_number=100000001,
                authorization_id="123456",
                creation_date_from="2022-01-01",
                creation_date_to=dt.date(2022, 1, 31),
                page_size=2,
                lang="fr",
            )
        ]
    assert [c.capture_id for c in captures] == [1, 2, 3]
    assert all(isinstance(c, Capture) and c.amount == Decimal("10.00") for c in captures)
    expected = {
        "account_number": "100000001",
        "authorization_id": "123456",
        "creation_date_from": "2022-01-01",
        "creation_date_to": "2022-01-31",
        "lang": "fr",
        "page_size": "2",
    }
    first, second = api.api_requests
    assert_wire(first, "GET", "captures", version="2.5.1", params={**expected, "page_number": "1"})
    assert_wire(second, "GET", "captures", version="2.5.1", params={**expected, "page_number": "2"})


async def test_captures_list_parses_the_recorded_capture() -> None:
    api = api_with({"data": [json.loads(fixture_bytes("capture.json"))]})
    async with api.client() as flexiti:
        page = await flexiti.captures.list()
    (capture,) = page.items
    assert capture.capture_id == 100000000
    assert capture.remaining_capture_amount == Decimal("100.00")
    assert dict(only_request(api).url.params) == {"page_number": "1", "page_size": "100"}


async def test_captures_list_store_filter() -> None:
    api = api_with([_capture(1, "A"), _capture(2, "B")])
    async with api.client() as flexiti:
        got = [c.capture_id async for c in flexiti.captures.list(external_location_id="B")]
    assert got == [2]
    assert only_request(api).url.params["external_location_id"] == "B"


async def test_captures_list_is_retried_like_a_read() -> None:
    api = api_with([_capture(1)])
    api.script = [httpx.Response(503), httpx.ConnectError("refused")]
    async with api.client() as flexiti:
        page = await flexiti.captures.list()
    assert len(page.items) == 1
    assert len(api.api_requests) == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page_size": 0},
        {"page_size": 1000},
        {"page_number": -1},
        {"authorization_id": "abc"},
        {"account_number": -1},
        {"creation_date_from": dt.date(2022, 2, 1), "creation_date_to": dt.date(2022, 1, 1)},
        {"external_location_id": "x" * 51},
        {"max_items": "3"},
        {"lang": "de"},
    ],
)
async def test_captures_list_validation_happens_at_call_time(kwargs: dict[str, Any]) -> None:
    await refused(lambda f: f.captures.list(**kwargs))


@pytest.mark.parametrize(("status", "code", "cls"), GLOBAL_ERRORS)
async def test_captures_list_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.captures.list().first_page(), status, code, cls)
