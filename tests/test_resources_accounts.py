"""accounts.verify / calculate_interest / close / refund."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from flexiti_async import errors
from flexiti_async.models import CategoryType, SkuData, VerifyFormat
from tests._mock_api import CARD
from tests._resources import (
    GLOBAL_ERRORS,
    SKU,
    api_with,
    assert_wire,
    check_error,
    fixture_bytes,
    only_request,
    refused,
    sent_once,
)

pytestmark = pytest.mark.anyio

# ------------------------------------------------------------------ verify


async def test_verify_sms_wire_and_sentinel() -> None:
    api = api_with(fixture_bytes("verify_sms.json"))
    async with api.client() as flexiti:
        result = await flexiti.accounts.verify("100000001", request_id="req-1")
    assert_wire(
        only_request(api),
        "POST",
        "account/100000001/verify",  # singular "account"
        body=b'{"format":"sms","request_id":"req-1"}',
    )
    assert result.verification_code is None
    assert result.sent_to == "sms"


async def test_verify_security_question_returns_the_pin() -> None:
    api = api_with(fixture_bytes("verify_pin.json"))
    async with api.client() as flexiti:
        result = await flexiti.accounts.verify(
            100000001,
            format=VerifyFormat.SECURITY_QUESTION,
            request_id="req-1",
            security_qid=6,
            security_answer="blue",
            vcc_number=CARD,
        )
    assert_wire(
        only_request(api),
        "POST",
        "account/100000001/verify",
        body=b'{"format":"security_question","request_id":"req-1","security_answer":"blue",'
        b'"security_qid":6,"vcc_number":"4111222233334444"}',
    )
    assert result.verification_code == "1234"
    assert "1234" not in repr(result)


async def test_verify_is_never_resent_blindly() -> None:
    await sent_once(
        lambda f: f.accounts.verify(1, request_id="r"),
        httpx.ReadTimeout("no answer"),
        errors.OutcomeUnknownError,
        body=fixture_bytes("verify_sms.json"),
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"request_id": "r", "format": VerifyFormat.SECURITY_QUESTION},
        {"request_id": "r", "format": "security_question", "security_qid": 6},
        {"request_id": "r", "format": "security_question", "security_answer": "blue"},
        {"request_id": "r", "format": "sms", "security_answer": "blue"},
        {"request_id": "r", "format": "sms", "security_qid": 6},
        {"request_id": "r", "format": "fax"},
        {"request_id": "r" * 151},
        {"request_id": ""},
        {"request_id": "r", "vcc_number": "123"},
        {
            "request_id": "r",
            "format": "security_question",
            "security_qid": 6,
            "security_answer": "a" * 51,
        },
        {
            "request_id": "r",
            "format": "security_question",
            "security_qid": 100000,
            "security_answer": "blue",
        },
    ],
)
async def test_verify_validation_sends_nothing(kwargs: dict[str, Any]) -> None:
    exc = await refused(lambda f: f.accounts.verify(100000001, **kwargs))
    assert "blue" not in str(exc)


VERIFY_ERRORS = [
    (400, "sms_not_valid_phone", errors.BadRequestError),
    (404, "not_found", errors.NotFoundError),
    (409, "merchant_override_is_not_allowed", errors.NotPermittedError),
    (409, "regular_purchase_bypass_is_not_allowed", errors.NotPermittedError),
    (409, "piw_mismatch", errors.VerificationError),
    (409, "secret_answer_mismatch", errors.VerificationError),
    (409, "tries_exceed", errors.VerificationError),
    *GLOBAL_ERRORS,
]


@pytest.mark.parametrize(("status", "code", "cls"), VERIFY_ERRORS)
async def test_verify_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.accounts.verify(1, request_id="r"), status, code, cls)


# ------------------------------------------------------------------ calculate-interest


@pytest.mark.parametrize(
    ("fixture", "rate_key"),
    [("calculate_interest_v2_5_1.json", "annual_rates"), ("calculate_interest_v2_5.json", "apr")],
)
async def test_calculate_interest_wire_v2_5_1_and_parsing(fixture: str, rate_key: str) -> None:
    api = api_with(fixture_bytes(fixture))
    async with api.client(lang="fr") as flexiti:
        options = await flexiti.accounts.calculate_interest(100000001, amount=Decimal("100"))
    assert_wire(
        only_request(api),
        "POST",
        "accounts/100000001/calculate-interest",
        version="2.5.1",
        params={"lang": "fr"},
        body=b'{"amount":100.00}',
    )
    assert options.amount == Decimal("100.00")
    assert options.customer is not None
    assert options.customer.category_type is CategoryType.PREFERRED
    assert options.regular_purchase is not None
    assert options.regular_purchase.verify is True
    (plan,) = options.promotional_purchase
    assert plan.terms[0].term == 3
    assert plan.terms[0].rate == Decimal("0.0999")
    assert plan.terms[0].fees[0].amount == Decimal("10.00")


async def test_calculate_interest_call_lang_overrides_client_and_is_retried() -> None:
    api = api_with(fixture_bytes("calculate_interest_v2_5_1.json"))
    api.script = [httpx.Response(503)]
    async with api.client(lang="fr") as flexiti:
        await flexiti.accounts.calculate_interest(1, amount=Decimal("12.5"), lang="en")
    assert len(api.api_requests) == 2  # a quote: safe to resend
    assert dict(api.api_requests[-1].url.params) == {"lang": "en"}
    assert api.api_requests[-1].content == b'{"amount":12.50}'


@pytest.mark.parametrize(
    "amount",
    [
        0,
        Decimal("0"),
        Decimal("-1"),
        Decimal("1.001"),
        1.5,
        "abc",
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("10000000000000000"),
        True,
        None,
    ],
)
async def test_calculate_interest_amount_validation(amount: Any) -> None:
    await refused(lambda f: f.accounts.calculate_interest(1, amount=amount))


async def test_calculate_interest_accepts_the_largest_number_18_2() -> None:
    api = api_with(fixture_bytes("calculate_interest_v2_5_1.json"))
    async with api.client() as flexiti:
        await flexiti.accounts.calculate_interest(1, amount=Decimal("9999999999999999.99"))
    assert only_request(api).content == b'{"amount":9999999999999999.99}'


CALC_ERRORS = [(404, "not_found", errors.NotFoundError), *GLOBAL_ERRORS]


@pytest.mark.parametrize(("status", "code", "cls"), CALC_ERRORS)
async def test_calculate_interest_errors(
    status: int, code: str | None, cls: type[Exception]
) -> None:
    await check_error(
        lambda f: f.accounts.calculate_interest(1, amount=Decimal("1")), status, code, cls
    )


# ------------------------------------------------------------------ close


async def test_close_wire_and_empty_answer() -> None:
    api = api_with(b"{}")
    async with api.client() as flexiti:
        assert await flexiti.accounts.close(100000001) is None  # type: ignore[func-returns-value]
    assert_wire(only_request(api), "POST", "accounts/100000001/close", body=b"{}")


async def test_close_is_never_resent_blindly() -> None:
    await sent_once(
        lambda f: f.accounts.close(1),
        httpx.Response(503),
        errors.ServerError,
    )


@pytest.mark.parametrize("number", [0, -1, "", "1/2", "../x", 10**14, 1.0, None])
async def test_close_validation(number: Any) -> None:
    await refused(lambda f: f.accounts.close(number))


CLOSE_ERRORS = [(404, "not_found", errors.NotFoundError), *GLOBAL_ERRORS]


@pytest.mark.parametrize(("status", "code", "cls"), CLOSE_ERRORS)
async def test_close_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.accounts.close(1), status, code, cls)


# ------------------------------------------------------------------ refund


async def test_refund_wire_full_body() -> None:
    api = api_with(b"{}")
    async with api.client() as flexiti:
        result = await flexiti.accounts.refund(  # type: ignore[func-returns-value]
            100000001,
            amount=Decimal("100"),
            reference="ORDER-1",
            capture_id=100000000,
            vcc_number=CARD,
            external_location_id="00-00000",
            external_employee_id="E-1",
            sku_data=SKU,
        )
    assert result is None
    assert_wire(
        only_request(api),
        "POST",
        "accounts/100000001/refund",
        body=b'{"amount":100.00,"capture_id":100000000,"external_employee_id":"E-1",'
        b'"external_location_id":"00-00000","reference":"ORDER-1","sku_data":{"gst_hst":10.00,'
        b'"products":[{"quantity":1,"sku_id":"S1","unit_price":90.00}],"purchase_order":"PO1",'
        b'"register_id":"R1","transaction_subtotal":90.00,"transaction_total":100.00},'
        b'"vcc_number":"4111222233334444"}',
    )


async def test_refund_minimal_body_and_no_blind_resend() -> None:
    exc, request = await sent_once(
        lambda f: f.accounts.refund(1, amount=Decimal("5.5")),
        httpx.RemoteProtocolError("dropped"),
        errors.OutcomeUnknownError,
    )
    assert exc.reference_id == request.headers["x-reference-id"]
    assert request.content == b'{"amount":5.50}'


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amount": Decimal("-5")},
        {"amount": 5.0},
        {"amount": Decimal("1"), "reference": "r" * 41},
        {"amount": Decimal("1"), "reference": "café"},
        {"amount": Decimal("1"), "capture_id": "abc"},
        {"amount": Decimal("1"), "vcc_number": "4111"},
        {"amount": Decimal("1"), "external_location_id": "00-1"},
        {"amount": Decimal("1"), "external_employee_id": "E"},
        {"amount": Decimal("1"), "sku_data": {"purchase_order": "x"}},
        {"amount": Decimal("1"), "sku_data": SkuData(purchase_order="x" * 11)},
        {"amount": Decimal("1"), "sku_data": SkuData(gst_hst=1.5)},  # type: ignore[arg-type]
        {"amount": Decimal("1"), "sku_data": SkuData(pst=Decimal("0.001"))},
    ],
)
async def test_refund_validation_sends_nothing(kwargs: dict[str, Any]) -> None:
    exc = await refused(lambda f: f.accounts.refund(1, **kwargs))
    assert "4111" not in str(exc)


REFUND_ERRORS = [
    (404, "not_found", errors.NotFoundError),
    (409, "refunds_limit_exceeded_amount", errors.AmountExceededError),
    (409, "external_location_id_not_found", errors.NotPermittedError),
    (409, "account_type_not_permitted", errors.NotPermittedError),
    (409, "vcc_account_mismatch", errors.InputValidationError),
    *GLOBAL_ERRORS,
]


@pytest.mark.parametrize(("status", "code", "cls"), REFUND_ERRORS)
async def test_refund_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.accounts.refund(1, amount=Decimal("1")), status, code, cls)
