"""customers.search / lookup / decode_drivers_license: wire format, parsing, errors, validation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest

from flexiti_async import errors
from flexiti_async.models import AccountStatus, CustomerAccount, Province
from tests._mock_api import CARD
from tests._resources import (
    GLOBAL_ERRORS,
    api_with,
    assert_no_io,
    assert_wire,
    check_error,
    fixture_bytes,
    only_request,
)

pytestmark = pytest.mark.anyio

LICENCE = "@\n\x1e\rANSI 636012080002DL00410278ZO03190008DLDCSDOE\nDACJANE\nDAQD1234-56789-01234"


# ------------------------------------------------------------------ search


async def test_search_wire_and_parsing() -> None:
    api = api_with(fixture_bytes("customers_search.json"))
    async with api.client(lang="fr") as flexiti:
        found = await flexiti.customers.search(
            first_name="Jane", last_name="Doe", dob=dt.date(1980, 5, 17), postal_code="a1a 1a1"
        )
    # search takes no lang, even when the client has one.
    assert_wire(
        only_request(api),
        "GET",
        "customers/search",
        params={
            "first_name": "Jane",
            "last_name": "Doe",
            "dob": "1980-05-17",
            "postal_code": "A1A1A1",
        },
    )
    assert isinstance(found, list)
    (account,) = found
    assert isinstance(account, CustomerAccount)
    assert account.account_number == 100000001
    assert account.credit_limit == Decimal("1000.00")
    assert account.available_credit == Decimal("500.00")
    assert account.account_status is AccountStatus.NORMAL
    assert account.can_purchase


async def test_search_accepts_an_iso_string_date_and_omits_postal_code() -> None:
    api = api_with(b"[]")
    async with api.client() as flexiti:
        assert await flexiti.customers.search(first_name="J", last_name="D", dob="1980-05-17") == []
    assert dict(only_request(api).url.params) == {
        "first_name": "J",
        "last_name": "D",
        "dob": "1980-05-17",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_name": "", "last_name": "D", "dob": dt.date(1980, 1, 1)},
        {"first_name": "J" * 36, "last_name": "D", "dob": dt.date(1980, 1, 1)},
        {"first_name": "J", "last_name": "D" * 51, "dob": dt.date(1980, 1, 1)},
        {"first_name": "J", "last_name": "D", "dob": "17/05/1980"},
        {"first_name": "J", "last_name": "D", "dob": dt.datetime(1980, 1, 1)},
        {"first_name": "J", "last_name": "D", "dob": dt.date(1980, 1, 1), "postal_code": "12345"},
        {"first_name": "Zoë", "last_name": "D", "dob": dt.date(1980, 1, 1)},
    ],
)
async def test_search_validation_sends_nothing(kwargs: dict[str, Any]) -> None:
    api = api_with(b"[]")
    async with api.client() as flexiti:
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.customers.search(**kwargs)
    assert_no_io(api)


SEARCH_ERRORS = [(404, "not_found", errors.NotFoundError), *GLOBAL_ERRORS]


@pytest.mark.parametrize(("status", "code", "cls"), SEARCH_ERRORS)
async def test_search_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(
        lambda f: f.customers.search(first_name="J", last_name="D", dob=dt.date(1980, 1, 1)),
        status,
        code,
        cls,
    )


# ------------------------------------------------------------------ lookup


@pytest.mark.parametrize(
    ("kwargs", "params"),
    [
        ({"account_number": "100000001"}, {"account_number": "100000001"}),
        ({"vcc_number": "4111 2222 3333 4444"}, {"vcc_number": CARD}),
        ({"customer_id": 100000}, {"customer_id": "100000"}),
        ({"customer_id": "100000-7", "lang": "fr"}, {"customer_id": "100000-7", "lang": "fr"}),
    ],
)
async def test_lookup_wire(kwargs: dict[str, Any], params: dict[str, str]) -> None:
    api = api_with(fixture_bytes("customers_lookup.json"))
    async with api.client() as flexiti:
        profile = await flexiti.customers.lookup(**kwargs)
    assert_wire(only_request(api), "GET", "customers/lookup", params=params)
    assert profile.account_number == 100000001
    assert profile.security_question is not None
    assert profile.security_question.id == 6
    assert profile.province is Province.ON
    assert profile.offer_types[0].term_options == (6, 12)
    assert profile.card_ending_in == "0000"


LOOKUP_ERRORS = [
    (404, "not_found", errors.NotFoundError),
    (409, "user_not_able_to_purchase", errors.AccountStatusError),
    (409, "user_not_active", errors.AccountStatusError),
    *GLOBAL_ERRORS,
]


@pytest.mark.parametrize(("status", "code", "cls"), LOOKUP_ERRORS)
async def test_lookup_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.customers.lookup(account_number=1), status, code, cls)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"account_number": 1, "vcc_number": CARD},
        {"account_number": 10**14},
        {"account_number": "12a"},
        {"account_number": True},
        {"vcc_number": "4111"},
        {"customer_id": "x" * 21},
        {"account_number": 1, "lang": "de"},
    ],
)
async def test_lookup_validation_sends_nothing(kwargs: dict[str, Any]) -> None:
    api = api_with(b"{}")
    async with api.client() as flexiti:
        with pytest.raises(errors.InvalidRequestError) as caught:
            await flexiti.customers.lookup(**kwargs)
    assert "4111" not in str(caught.value)
    assert_no_io(api)


# ------------------------------------------------------------------ driver's licence


async def test_decode_drivers_license_wire_and_parsing() -> None:
    api = api_with(fixture_bytes("customers_driverslicense.json"))
    async with api.client() as flexiti:
        licence = await flexiti.customers.decode_drivers_license(code=LICENCE)
    request = only_request(api)
    assert_wire(
        request,
        "POST",
        "customers/driverslicense",
        body=b'{"code":"@\\n\\u001e\\rANSI 636012080002DL00410278ZO03190008DLDCSDOE\\nDACJANE'
        b'\\nDAQD1234-56789-01234"}',
    )
    assert licence.last_name == "<LAST>"
    assert licence.dob == dt.date(1970, 1, 1)
    assert licence.govid_expiry == dt.date(2030, 1, 1)
    assert "D1234-56789" not in repr(licence)


async def test_decode_drivers_license_is_retried_like_a_read() -> None:
    api = api_with(fixture_bytes("customers_driverslicense.json"))
    api.script = [httpx.ReadError("reset")]
    async with api.client() as flexiti:
        await flexiti.customers.decode_drivers_license(code=LICENCE)
    assert len(api.api_requests) == 2


@pytest.mark.parametrize("code", ["", "   ", None, 12345, "x" * 10_001])
async def test_decode_drivers_license_validation(code: Any) -> None:
    api = api_with(b"{}")
    async with api.client() as flexiti:
        with pytest.raises(errors.InvalidRequestError) as caught:
            await flexiti.customers.decode_drivers_license(code=code)
    assert "xxxx" not in str(caught.value)
    assert_no_io(api)


@pytest.mark.parametrize(("status", "code", "cls"), GLOBAL_ERRORS)
async def test_decode_drivers_license_errors_never_echo_the_payload(
    status: int, code: str | None, cls: type[Exception]
) -> None:
    await check_error(lambda f: f.customers.decode_drivers_license(code=LICENCE), status, code, cls)
