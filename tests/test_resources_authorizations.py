"""authorizations.create / retrieve / list / capture / release / return_capture."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from flexiti_async import errors
from flexiti_async.models import (
    Authorization,
    AuthorizationStatus,
    FinancingOption,
    TransactionType,
)
from tests._mock_api import CARD, MockAPI
from tests._resources import (
    GLOBAL_ERRORS,
    IN_STORE,
    PROMO,
    SKU,
    api_with,
    assert_wire,
    check_error,
    fixture_bytes,
    only_request,
    paged_api,
    refused,
    sent_once,
)

pytestmark = pytest.mark.anyio

REGULAR = FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE)

# ------------------------------------------------------------------ create


async def test_create_in_store_wire_and_parsing() -> None:
    api = api_with(fixture_bytes("authorization.json"))
    async with api.client(lang="fr") as flexiti:
        auth = await flexiti.authorizations.create(
            account_number=100000001,
            amount=Decimal("100"),
            financing_option=PROMO,
            reference="ORDER-1",
            vcc_number=CARD,
            sku_data=SKU,
            **IN_STORE,
        )
    assert_wire(
        only_request(api),
        "POST",
        "authorization",
        version="2.5.1",
        params={"lang": "fr"},
        body=b'{"account_number":100000001,"amount":100.00,"auto_capture":false,'
        b'"external_employee_id":"E-1","external_location_id":"00-00000",'
        b'"financing_option":{"plan_id":1,"term":12,"transaction_type":"promotional_purchase"},'
        b'"reference":"ORDER-1","request_id":"req-1","sku_data":{"gst_hst":10.00,'
        b'"products":[{"quantity":1,"sku_id":"S1","unit_price":90.00}],"purchase_order":"PO1",'
        b'"register_id":"R1","transaction_subtotal":90.00,"transaction_total":100.00},'
        b'"vcc_number":"4111222233334444","verification_code":1234}',
    )
    assert auth.authorization_id == 123456
    assert auth.is_open
    assert auth.amount == Decimal("100.00")
    assert auth.annual_rates is not None
    assert auth.annual_rates.rate == Decimal("0.0999")
    assert auth.creation_date == dt.datetime(2022, 1, 1, 12, 30, tzinfo=dt.timezone.utc)


async def test_create_online_sends_no_in_store_fields() -> None:
    api = api_with(fixture_bytes("authorization.json"))
    async with api.client() as flexiti:
        await flexiti.authorizations.create(
            account_number="100000001",
            amount=Decimal("49.9"),
            financing_option=REGULAR,
            auto_capture=True,
        )
    assert_wire(
        only_request(api),
        "POST",
        "authorization",
        version="2.5.1",
        body=b'{"account_number":100000001,"amount":49.90,"auto_capture":true,'
        b'"financing_option":{"transaction_type":"regular_purchase"}}',
    )


async def test_create_pin_with_leading_zero_is_sent_as_a_string() -> None:
    api = api_with(fixture_bytes("authorization.json"))
    async with api.client() as flexiti:
        await flexiti.authorizations.create(
            account_number=1,
            amount=Decimal("1"),
            financing_option=REGULAR,
            **{**IN_STORE, "verification_code": "0123"},
        )
    assert json.loads(only_request(api).content)["verification_code"] == "0123"


async def test_create_is_never_resent_blindly() -> None:
    exc, _ = await sent_once(
        lambda f: f.authorizations.create(
            account_number=1, amount=Decimal("1"), financing_option=REGULAR
        ),
        httpx.ReadTimeout("no answer"),
        errors.OutcomeUnknownError,
        body=fixture_bytes("authorization.json"),
    )
    assert exc.path == "authorization"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"financing_option": FinancingOption(transaction_type="promotional_purchase")}, None),
        (
            {
                "financing_option": FinancingOption(
                    transaction_type="promotional_purchase", plan_id=1
                )
            },
            None,
        ),
        ({"financing_option": FinancingOption(transaction_type="deposit")}, None),
        (
            {
                "financing_option": FinancingOption(
                    transaction_type=REGULAR.transaction_type, term=3
                )
            },
            None,
        ),
        ({"financing_option": {"transaction_type": "regular_purchase"}}, None),
        ({"amount": Decimal("0")}, "amount"),
        ({"amount": Decimal("12.345")}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"account_number": "abc"}, "account_number"),
        ({"auto_capture": "yes"}, "auto_capture"),
        ({"reference": "x" * 41}, "reference"),
        ({"vcc_number": "4111-0000"}, "vcc_number"),
        ({"verification_code": 1234}, None),  # the quartet: one without the others
        ({"request_id": "r"}, None),
        ({"external_location_id": "00-0"}, None),
        ({**IN_STORE, "external_employee_id": None}, "external_employee_id"),
        ({**IN_STORE, "verification_code": "12ab"}, "verification_code"),
        ({**IN_STORE, "verification_code": -5}, "verification_code"),
        ({**IN_STORE, "request_id": "r" * 151}, "request_id"),
        ({**IN_STORE, "external_location_id": "x" * 51}, "external_location_id"),
        ({"lang": "es"}, "lang"),
    ],
)
async def test_create_validation_sends_nothing(change: dict[str, Any], field: str | None) -> None:
    kwargs: dict[str, Any] = {
        "account_number": 1,
        "amount": Decimal("10"),
        "financing_option": REGULAR,
        **change,
    }
    exc = await refused(lambda f: f.authorizations.create(**kwargs))
    if field is not None:
        assert exc.field == field
    assert "1234" not in str(exc)


CREATE_ERRORS = [
    (404, "not_found", errors.NotFoundError),
    (404, "customer_identity_not_found", errors.NotFoundError),
    (409, "credit_exceeded", errors.InsufficientCreditError),
    (409, "not_permitted", errors.NotPermittedError),
    (409, "auth_not_allowed", errors.NotPermittedError),
    (409, "plan_term_not_set", errors.NotPermittedError),
    (409, "plan_term_not_available", errors.NotPermittedError),
    (409, "user_not_able_to_purchase", errors.AccountStatusError),
    (409, "not_verified", errors.VerificationError),
    (409, "external_location_id_not_found", errors.NotPermittedError),
    (409, "account_type_not_permitted", errors.NotPermittedError),
    (409, "vcc_account_mismatch", errors.InputValidationError),
    *GLOBAL_ERRORS,
]


@pytest.mark.parametrize(("status", "code", "cls"), CREATE_ERRORS)
async def test_create_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(
        lambda f: f.authorizations.create(
            account_number=1, amount=Decimal("1"), financing_option=PROMO
        ),
        status,
        code,
        cls,
    )


# ------------------------------------------------------------------ retrieve


async def test_retrieve_wire_and_captures() -> None:
    raw = json.loads(fixture_bytes("authorization.json"))
    raw["captures"] = [json.loads(fixture_bytes("capture.json"))]
    api = api_with(raw)
    async with api.client() as flexiti:
        auth = await flexiti.authorizations.retrieve("123456", lang="en")
    assert_wire(
        only_request(api), "GET", "authorization/123456", version="2.5.1", params={"lang": "en"}
    )
    assert auth.captures[0].capture_id == 100000000


@pytest.mark.parametrize("value", [0, -3, "12/34", "..", "1e3", True, None, 10**18])
async def test_retrieve_validation(value: Any) -> None:
    await refused(lambda f: f.authorizations.retrieve(value))


RETRIEVE_ERRORS = [(404, "not_found", errors.NotFoundError), *GLOBAL_ERRORS]


@pytest.mark.parametrize(("status", "code", "cls"), RETRIEVE_ERRORS)
async def test_retrieve_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.authorizations.retrieve(1), status, code, cls)


async def test_retrieve_response_that_does_not_fit() -> None:
    api = api_with({"authorization_id": "not a number"})
    async with api.client() as flexiti:
        with pytest.raises(errors.ResponseValidationError):
            await flexiti.authorizations.retrieve(1)


# ------------------------------------------------------------------ list


def _auth(n: int, store: str = "00-00001") -> dict[str, Any]:
    return {"authorization_id": n, "amount": "10.00", "external_location_id": store}


async def test_list_wire_filters_and_pages() -> None:
    pages = {
        1: {"authorizations": [_auth(1), _auth(2)], "total_count": 3},
        2: {"authorizations": [_auth(3)], "total_count": 3},
    }
    api = paged_api(pages)
    async with api.client(lang="fr") as flexiti:
        paginator = flexiti.authorizations.list(
            account_number="100000001",
            transaction_type=TransactionType.PROMOTIONAL_PURCHASE,
            authorization_status=AuthorizationStatus.OPENED,
            creation_date_from=dt.date(2022, 1, 1),
            creation_date_to="2022-01-31",
            page_size=2,
        )
        assert api.api_requests == []  # a plain def: nothing is sent until iterated
        ids = [auth.authorization_id async for auth in paginator]
    assert ids == [1, 2, 3]
    first, second = api.api_requests
    expected = {
        "lang": "fr",
        "account_number": "100000001",
        "transaction_type": "promotional_purchase",
        "authorization_status": "opened",
        "creation_date_from": "2022-01-01",
        "creation_date_to": "2022-01-31",
        "page_size": "2",
    }
    assert_wire(
        first, "GET", "authorizations", version="2.5.1", params={**expected, "page_number": "1"}
    )
    assert_wire(
        second, "GET", "authorizations", version="2.5.1", params={**expected, "page_number": "2"}
    )


async def test_list_accepts_bare_list_pages_and_awaits_first_page() -> None:
    api = api_with([_auth(7)])
    async with api.client() as flexiti:
        page = await flexiti.authorizations.list(page_size=10)
    assert [a.authorization_id for a in page.items] == [7]
    assert all(isinstance(a, Authorization) for a in page.items)
    assert page.is_last
    assert dict(only_request(api).url.params) == {"page_number": "1", "page_size": "10"}


async def test_list_store_filter_is_sent_and_applied_client_side() -> None:
    api = api_with(
        {"authorizations": [_auth(1, "00-00001"), _auth(2, "00-00002"), _auth(3, "00-00001")]}
    )
    async with api.client() as flexiti:
        ids = [
            a.authorization_id
            async for a in flexiti.authorizations.list(external_location_id="00-00001", page_size=5)
        ]
    assert ids == [1, 3]
    assert only_request(api).url.params["external_location_id"] == "00-00001"


async def test_list_start_page_and_max_items() -> None:
    api = MockAPI()
    api.default = lambda r: httpx.Response(
        200, json=[_auth(int(r.url.params["page_number"]) * 10 + i) for i in range(2)]
    )
    async with api.client() as flexiti:
        got = [
            a.authorization_id
            async for a in flexiti.authorizations.list(
                page_size=2, page_number=3, max_items=3, prefetch=0
            )
        ]
    assert got == [30, 31, 40]
    assert [r.url.params["page_number"] for r in api.api_requests] == ["3", "4"]


async def test_list_item_that_does_not_fit_raises_response_validation_error() -> None:
    api = api_with({"authorizations": [{"amount": "1.00"}]})  # no authorization_id
    async with api.client() as flexiti:
        with pytest.raises(errors.ResponseValidationError) as caught:
            await flexiti.authorizations.list()
    assert caught.value.page_number == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page_size": 0},
        {"page_size": 501},
        {"page_size": True},
        {"page_number": 0},
        {"prefetch": -1},
        {"max_items": -1},
        {"creation_date_from": dt.date(2022, 2, 1), "creation_date_to": dt.date(2022, 1, 1)},
        {"creation_date_from": "2022/01/01"},
        {"creation_date_to": dt.datetime(2022, 1, 1)},
        {"transaction_type": "deposit"},
        {"authorization_status": ""},
        {"account_number": 0},
        {"external_location_id": ""},
        {"lang": "EN"},
    ],
)
async def test_list_validation_happens_at_call_time(kwargs: dict[str, Any]) -> None:
    await refused(lambda f: f.authorizations.list(**kwargs))


LIST_ERRORS = GLOBAL_ERRORS


@pytest.mark.parametrize(("status", "code", "cls"), LIST_ERRORS)
async def test_list_errors_carry_the_page_number(
    status: int, code: str | None, cls: type[Exception]
) -> None:
    pages: list[int | None] = []

    async def call(f: Any) -> Any:
        try:
            return [a async for a in f.authorizations.list(page_number=4)]
        except errors.FlexitiError as exc:
            pages.append(exc.page_number)
            raise

    await check_error(call, status, code, cls)
    assert pages == [4]


# ------------------------------------------------------------------ capture


async def test_capture_wire_and_parsing() -> None:
    api = api_with(fixture_bytes("capture.json"))
    async with api.client() as flexiti:
        capture = await flexiti.authorizations.capture(
            123456,
            amount=Decimal("100"),
            reference="ORDER-1",
            external_location_id="00-00000",
            external_employee_id="E-1",
            sku_data=SKU,
            lang="fr",
        )
    assert_wire(
        only_request(api),
        "POST",
        "authorization/123456/capture",
        params={"lang": "fr"},
        body=b'{"amount":100.00,"external_employee_id":"E-1","external_location_id":"00-00000",'
        b'"reference":"ORDER-1","sku_data":{"gst_hst":10.00,"products":[{"quantity":1,'
        b'"sku_id":"S1","unit_price":90.00}],"purchase_order":"PO1","register_id":"R1",'
        b'"transaction_subtotal":90.00,"transaction_total":100.00}}',
    )
    assert capture.capture_id == 100000000
    assert capture.amount == Decimal("100.00")
    assert capture.message == "<localized text>"


async def test_capture_fills_authorization_id_when_missing() -> None:
    api = api_with({"capture_id": 9, "amount": 5.00})
    async with api.client() as flexiti:
        capture = await flexiti.authorizations.capture("77", amount=Decimal("5"))
    assert capture.authorization_id == 77
    assert capture.raw == {"capture_id": 9, "amount": Decimal("5.00")}
    assert only_request(api).content == b'{"amount":5.00}'


async def test_capture_is_never_resent_blindly() -> None:
    await sent_once(
        lambda f: f.authorizations.capture(1, amount=Decimal("5")),
        httpx.Response(502),
        errors.ServerError,
        body=fixture_bytes("capture.json"),
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"amount": None},
        {"amount": Decimal("-1")},
        {"amount": Decimal("1"), "external_location_id": "00-1"},
        {"amount": Decimal("1"), "external_employee_id": "E"},
        {"amount": Decimal("1"), "external_location_id": " ", "external_employee_id": "E"},
        {"amount": Decimal("1"), "reference": 12},
        {"amount": Decimal("1"), "sku_data": "x"},
    ],
)
async def test_capture_validation_sends_nothing(kwargs: dict[str, Any]) -> None:
    await refused(
        lambda f: f.authorizations.capture(1, **kwargs), (errors.InvalidRequestError, TypeError)
    )


CAPTURE_ERRORS = [
    (404, "not_found", errors.NotFoundError),
    (409, "authorization_ended", errors.TransactionStateError),
    (409, "auth_amount_exceeded", errors.AmountExceededError),
    (409, "not_permitted", errors.NotPermittedError),
    *GLOBAL_ERRORS,
]


@pytest.mark.parametrize(("status", "code", "cls"), CAPTURE_ERRORS)
async def test_capture_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.authorizations.capture(1, amount=Decimal("1")), status, code, cls)


# ------------------------------------------------------------------ release


async def test_release_everything_omits_amount() -> None:
    api = api_with(fixture_bytes("release.json"))
    async with api.client() as flexiti:
        release = await flexiti.authorizations.release(123456)
    assert_wire(only_request(api), "POST", "authorization/123456/release", body=b"{}")
    assert release.release_id == 777
    assert release.amount == Decimal("25.00")
    assert release.authorization_status is AuthorizationStatus.OPENED


async def test_release_partial_in_store_and_fills_authorization_id() -> None:
    api = api_with({"amount": "25.00", "status": "closed"})
    async with api.client() as flexiti:
        release = await flexiti.authorizations.release(
            55, amount=Decimal("25"), external_location_id="00-00000", external_employee_id="E-1"
        )
    assert_wire(
        only_request(api),
        "POST",
        "authorization/55/release",
        body=b'{"amount":25.00,"external_employee_id":"E-1","external_location_id":"00-00000"}',
    )
    assert release.authorization_id == 55
    assert release.authorization_status is AuthorizationStatus.CLOSED


async def test_release_empty_answer_still_names_the_authorization() -> None:
    api = api_with(b"{}")
    async with api.client() as flexiti:
        release = await flexiti.authorizations.release(55)
    assert release.authorization_id == 55
    assert release.amount is None


async def test_release_is_never_resent_blindly() -> None:
    await sent_once(
        lambda f: f.authorizations.release(1),
        httpx.ReadError("reset"),
        errors.OutcomeUnknownError,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amount": Decimal("0")},
        {"amount": Decimal("0.001")},
        {"amount": 2.5},
        {"external_location_id": "00-1"},
    ],
)
async def test_release_validation_sends_nothing(kwargs: dict[str, Any]) -> None:
    await refused(lambda f: f.authorizations.release(1, **kwargs))


RELEASE_ERRORS = CAPTURE_ERRORS


@pytest.mark.parametrize(("status", "code", "cls"), RELEASE_ERRORS)
async def test_release_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.authorizations.release(1), status, code, cls)


# ------------------------------------------------------------------ return


async def test_return_partial_wire_and_parsing() -> None:
    api = api_with(fixture_bytes("return.json"))
    async with api.client() as flexiti:
        ret = await flexiti.authorizations.return_capture(
            123456, 100000000, amount=Decimal("10"), reference="ORDER-1", vcc_number=CARD
        )
    assert_wire(
        only_request(api),
        "POST",
        "authorization/123456/capture/100000000/return",
        body=b'{"amount":10.00,"full_return":false,"reference":"ORDER-1",'
        b'"vcc_number":"4111222233334444"}',
    )
    assert ret.return_id == 1000000000000000
    assert ret.remaining_capture_amount == Decimal("90.00")
    assert ret.date == dt.datetime(2022, 1, 1, tzinfo=dt.timezone.utc)


async def test_return_full_sends_full_return_and_no_amount() -> None:
    api = api_with(fixture_bytes("return.json"))
    async with api.client() as flexiti:
        await flexiti.authorizations.return_capture(
            "1", "2", external_location_id="00-00000", external_employee_id="E-1"
        )
    assert_wire(
        only_request(api),
        "POST",
        "authorization/1/capture/2/return",
        body=b'{"external_employee_id":"E-1","external_location_id":"00-00000","full_return":true}',
    )


async def test_return_is_never_resent_blindly() -> None:
    await sent_once(
        lambda f: f.authorizations.return_capture(1, 2, amount=Decimal("1")),
        httpx.WriteTimeout("half sent"),
        errors.OutcomeUnknownError,
        body=fixture_bytes("return.json"),
    )


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((1, 0), {}),
        ((0, 1), {}),
        ((1, "x"), {}),
        ((1, 2), {"amount": Decimal("-1")}),
        ((1, 2), {"amount": 1.5}),
        ((1, 2), {"vcc_number": "1234"}),
        ((1, 2), {"external_employee_id": "E"}),
        ((1, 2), {"reference": "r" * 41}),
    ],
)
async def test_return_validation_sends_nothing(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    exc = await refused(lambda f: f.authorizations.return_capture(*args, **kwargs))
    assert "1234" not in str(exc)


RETURN_ERRORS = [
    (404, "not_found", errors.NotFoundError),
    (409, "capture_amount_exceeded", errors.AmountExceededError),
    (409, "return_date_exceeded", errors.TransactionStateError),
    (409, "wrong_transaction_type", errors.TransactionStateError),
    (409, "not_permitted", errors.NotPermittedError),
    (409, "external_location_id_not_found", errors.NotPermittedError),
    (409, "account_type_not_permitted", errors.NotPermittedError),
    (409, "vcc_account_mismatch", errors.InputValidationError),
    *GLOBAL_ERRORS,
]


@pytest.mark.parametrize(("status", "code", "cls"), RETURN_ERRORS)
async def test_return_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.authorizations.return_capture(1, 2), status, code, cls)
