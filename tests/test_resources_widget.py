"""widget.init: the online widget session (customer scope, lang in the body)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from flexiti_async import errors
from flexiti_async.models import AccountType, PersonalInformation, Province, WidgetFlow
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

PERSON = PersonalInformation(
    first_name="Jane", last_name="Doe", dob=dt.date(1980, 5, 17), postal_code="a1a 1a1"
)
APPLY: dict[str, Any] = {
    "flow": WidgetFlow.APPLY,
    "personal_information": PERSON,
    "tos_agreement": True,
    "email": "jane@example.com",
    "phone_number": "(416) 555-0100",
    "address_1": "1 Main St",
    "city": "Toronto",
    "province": Province.ON,
    "account_type": AccountType.CONSUMER,
}


async def test_init_purchase_wire_with_customer_scope() -> None:
    api = api_with(fixture_bytes("widget_init.json"))
    async with api.client() as flexiti:
        session = await flexiti.with_options(scope="customer").widget.init(
            flow="purchase", account_number=100000001, lang="fr"
        )
    request = only_request(api)
    assert_wire(
        request,
        "POST",
        "widget/init",
        body=b'{"customer_identification":{"account_number":100000001},"flow":"purchase",'
        b'"lang":"fr"}',
    )
    assert api.token_forms[0]["scope"] == ["customer"]
    assert session.widget_session_id == "2b7e1516-28ae-4d2a-abf7-158809cf4f3c"
    assert "0123456789abcdef" not in repr(session)


async def test_init_lang_comes_from_the_client_in_the_body_not_the_query() -> None:
    api = api_with(fixture_bytes("widget_init.json"))
    async with api.client(lang="fr") as flexiti:
        await flexiti.widget.init(flow=WidgetFlow.PURCHASE, vcc_number=CARD)
    request = only_request(api)
    assert request.url.query == b""
    assert json.loads(request.content) == {
        "customer_identification": {"vcc_number": CARD},
        "flow": "purchase",
        "lang": "fr",
    }


async def test_init_purchase_by_personal_information_normalises_postal_code() -> None:
    api = api_with(fixture_bytes("widget_init.json"))
    async with api.client() as flexiti:
        await flexiti.widget.init(flow="purchase", personal_information=PERSON)
    assert only_request(api).content == (
        b'{"customer_identification":{"personal_information":{"dob":"1980-05-17",'
        b'"first_name":"Jane","last_name":"Doe","postal_code":"A1A1A1"}},"flow":"purchase"}'
    )


async def test_init_apply_wire() -> None:
    api = api_with(fixture_bytes("widget_init.json"))
    async with api.client() as flexiti:
        await flexiti.widget.init(**APPLY, address_2="Unit 2")
    assert only_request(api).content == (
        b'{"account_type":"consumer","address_1":"1 Main St","address_2":"Unit 2",'
        b'"city":"Toronto","customer_identification":{"personal_information":{'
        b'"dob":"1980-05-17","first_name":"Jane","last_name":"Doe","postal_code":"A1A1A1"}},'
        b'"email":"jane@example.com","flow":"apply","phone_number":"4165550100",'
        b'"province":"ON","tos_agreement":true}'
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flow": "browse", "account_number": 1},
        {"flow": "purchase"},
        {"flow": "purchase", "account_number": 1, "vcc_number": CARD},
        {"flow": "purchase", "account_number": 1, "email": "a@b.c"},
        {"flow": "purchase", "vcc_number": "123"},
        {"flow": "purchase", "personal_information": {"first_name": "J"}},
        {
            "flow": "purchase",
            "personal_information": PersonalInformation(
                first_name="J", last_name="D", dob=dt.date(1980, 1, 1), postal_code="123"
            ),
        },
        {
            "flow": "purchase",
            "personal_information": PersonalInformation(
                first_name="J" * 81, last_name="D", dob=dt.date(1980, 1, 1)
            ),
        },
        {"flow": "purchase", "account_number": 1, "lang": "de"},
        {**APPLY, "tos_agreement": False},
        {**APPLY, "tos_agreement": None},
        {**APPLY, "email": None},
        {**APPLY, "email": "x" * 101},
        {**APPLY, "phone_number": "555-0100"},
        {**APPLY, "province": "ZZ"},
        {**APPLY, "account_type": "personal"},
        {**APPLY, "address_1": "x" * 251},
        {**APPLY, "personal_information": None},
        {**APPLY, "account_number": 1},
    ],
)
async def test_init_validation_sends_nothing(kwargs: dict[str, Any]) -> None:
    api = api_with(b"{}")
    async with api.client() as flexiti:
        with pytest.raises(errors.InvalidRequestError) as caught:
            await flexiti.widget.init(**kwargs)
    assert CARD not in str(caught.value)
    assert_no_io(api)


@pytest.mark.parametrize(("status", "code", "cls"), GLOBAL_ERRORS)
async def test_init_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.widget.init(flow="purchase", account_number=1), status, code, cls)
