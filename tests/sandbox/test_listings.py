"""GET authorizations / captures: paging, filters, envelopes; bulk history."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from flexiti_async.testing import FlexitiSandbox

from .conftest import Api

pytestmark = pytest.mark.anyio


async def _all(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for number in range(1, 1000):
        page = (await api.get(path, version="v2.5.1", page_number=number, **params)).json()
        items.extend(page[path])
        if number >= page["total_pages"]:
            return items
    raise AssertionError("too many pages")


async def test_envelope_and_paging(api: Api, sandbox: FlexitiSandbox) -> None:
    sandbox.seed_history(days=3, stores=2, per_day=5, start=date(2024, 1, 1), seed=9)
    first = (await api.get("authorizations", version="v2.5.1", page_size=7)).json()
    assert set(first) == {
        "authorizations",
        "page_number",
        "page_size",
        "total_count",
        "total_pages",
    }
    assert (first["page_number"], first["page_size"], first["total_count"]) == (1, 7, 30)
    assert first["total_pages"] == 5
    assert len(first["authorizations"]) == 7
    items = await _all(api, "authorizations", page_size=7)
    assert len(items) == 30
    keys = [(i["creation_date"], i["authorization_id"]) for i in items]
    assert keys == sorted(keys)
    beyond = (await api.get("authorizations", version="v2.5.1", page_number=9)).json()
    assert beyond["authorizations"] == []


async def test_paging_validation(api: Api) -> None:
    for params in ({"page_size": 0}, {"page_size": 501}, {"page_number": 0}, {"page_size": "x"}):
        response = await api.get("authorizations", version="v2.5.1", **params)
        assert response.status_code == 409, params


async def test_filters(api: Api, sandbox: FlexitiSandbox) -> None:
    records = sandbox.seed_history(days=4, stores=3, per_day=6, start=date(2024, 1, 1), seed=3)
    store = sandbox.stores[1].external_location_id
    day2 = await _all(
        api,
        "authorizations",
        creation_date_from="2024-01-02",
        creation_date_to="2024-01-03",
        external_location_id=store,
        page_size=4,
    )
    expected = {
        r.authorization.authorization_id
        for r in records
        if r.authorization.external_location_id == store
        and date(2024, 1, 2) <= r.authorization.created.date() <= date(2024, 1, 3)
    }
    assert {i["authorization_id"] for i in day2} == expected
    assert len(expected) == 12
    opened = await _all(api, "authorizations", authorization_status="opened", page_size=50)
    assert {i["authorization_id"] for i in opened} == {
        r.authorization.authorization_id for r in records if r.authorization.status == "opened"
    }
    acct = records[0].authorization.account_number
    mine = await _all(api, "authorizations", account_number=acct, page_size=50)
    assert mine
    assert all(i["account_number"] == acct for i in mine)
    kind = await _all(api, "authorizations", transaction_type="promotional_purchase")
    assert kind == []
    bad = await api.get("authorizations", version="v2.5.1", authorization_status="weird")
    assert bad.status_code == 409
    backwards = await api.get(
        "authorizations",
        version="v2.5.1",
        creation_date_from="2024-01-03",
        creation_date_to="2024-01-01",
    )
    assert backwards.status_code == 409


async def test_capture_listing(api: Api, sandbox: FlexitiSandbox) -> None:
    records = sandbox.seed_history(days=2, stores=2, per_day=5, start=date(2024, 2, 1), seed=5)
    captured = [r.capture for r in records if r.capture is not None]
    items = await _all(api, "captures", page_size=3)
    assert [i["capture_id"] for i in items] == [
        c.capture_id for c in sorted(captured, key=lambda c: (c.created, c.capture_id))
    ]
    one = captured[0]
    by_auth = await _all(api, "captures", authorization_id=one.authorization_id)
    assert [i["capture_id"] for i in by_auth] == [one.capture_id]
    assert Decimal(str(by_auth[0]["amount"])) == one.amount


async def test_store_filter_can_be_ignored() -> None:
    sandbox = FlexitiSandbox(seed=6, store_filter=False)
    sandbox.seed_history(days=1, stores=2, per_day=3, start=date(2024, 1, 1))
    async with sandbox.http_client() as http:
        api = await Api(http, sandbox).login()
        store = sandbox.stores[0].external_location_id
        page = (
            await api.get("authorizations", version="v2.5.1", external_location_id=store)
        ).json()
    assert page["total_count"] == 6  # both stores: the client must filter


async def test_list_envelope_variant() -> None:
    sandbox = FlexitiSandbox(seed=7, listing_envelope="list")
    sandbox.seed_history(days=1, stores=1, per_day=4, start=date(2024, 1, 1))
    async with sandbox.http_client() as http:
        api = await Api(http, sandbox).login()
        auths = (await api.get("authorizations", version="v2.5.1", page_size=3)).json()
        caps = (await api.get("captures", version="v2.5.1", page_size=10)).json()
    assert isinstance(auths, list)
    assert len(auths) == 3
    assert isinstance(caps, list)


async def test_listing_only_shows_own_merchant(api: Api, sandbox: FlexitiSandbox) -> None:
    other = sandbox.add_client()
    sandbox.seed_history(
        days=1, stores=1, per_day=3, start=date(2024, 1, 1), client_id=other.client_id
    )
    page = (await api.get("authorizations", version="v2.5.1")).json()
    assert page["total_count"] == 0


async def test_retrieve_authorization_with_captures(api: Api, sandbox: FlexitiSandbox) -> None:
    record = sandbox.add_history(
        created=datetime(2024, 1, 5, 10, tzinfo=timezone.utc),
        amount="90.00",
        captured="60.00",
        returned="10.00",
        released=True,
        reference="H-1",
        external_location_id=sandbox.stores[0].external_location_id,
    )
    aid = record.authorization.authorization_id
    body = (await api.get(f"authorization/{aid}", version="v2.5.1")).json()
    assert body["authorization_status"] == "closed"
    assert (body["captured_amount"], body["released_amount"], body["returned_amount"]) == (
        60,
        30,
        10,
    )
    assert [c["capture_id"] for c in body["captures"]] == [record.capture.capture_id]  # type: ignore[union-attr]
    assert body["captures"][0]["remaining_capture_amount"] == 50
    missing = await api.get("authorization/1", version="v2.5.1")
    assert missing.status_code == 404
    assert len(sandbox.ledger) == 0  # history is not an applied movement


def test_add_history_validation(sandbox: FlexitiSandbox) -> None:
    when = datetime(2024, 1, 1)
    with pytest.raises(ValueError):
        sandbox.add_history(created=when, amount="10.00", captured="11.00")
    with pytest.raises(ValueError):
        sandbox.add_history(created=when, amount="10.00", external_location_id="nope")
    record = sandbox.add_history(created=when, amount="10.00", captured=False)
    assert record.capture is None
    assert record.authorization.created.tzinfo is not None


def test_seed_history_is_deterministic_and_bulk() -> None:
    def build() -> list[Any]:
        box = FlexitiSandbox(seed=11)
        records = box.seed_history(days=10, stores=5, per_day=20, start=date(2024, 1, 1), seed=1)
        return [(r.authorization.reference, r.authorization.amount) for r in records]

    first = build()
    assert len(first) == 1000
    assert first == build()


def test_hundred_thousand_history_records() -> None:
    sandbox = FlexitiSandbox(seed=12)
    records = sandbox.seed_history(days=100, stores=10, per_day=100, start=date(2023, 1, 1))
    assert len(records) == 100_000
    assert len(sandbox.stores) == 10
    window = sandbox.authorizations
    assert len(window) == 100_000
    assert window[0].created < window[-1].created
    assert all(r.authorization.created.date() < date(2023, 4, 11) for r in records[-5:])
    assert records[-1].authorization.created - records[0].authorization.created < timedelta(
        days=100
    )
