"""Money movements: authorization, capture, release, return, refund, transactions."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest

from flexiti_async.testing import FlexitiSandbox

from .conftest import REGULAR, Api, _json, error_of

pytestmark = pytest.mark.anyio

PROMO = {"transaction_type": "promotional_purchase", "plan_id": 1, "term": 12}


async def _verify(api: Api, sandbox: FlexitiSandbox, acct: int, request_id: str = "req-1") -> int:
    response = await api.post(f"account/{acct}/verify", {"format": "sms", "request_id": request_id})
    assert response.status_code == 200
    pin = sandbox.last_pin(acct)
    assert pin is not None
    return pin


async def test_authorization_shape_and_credit(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account(risk_rating="L")
    before = acct.available_credit
    body = await api.authorize(
        acct.account_number, "250.00", reference="ORD-1", financing_option=PROMO
    )
    assert set(body) == {
        "authorization_id",
        "account_number",
        "reference",
        "authorization_status",
        "transaction_type",
        "plan_id",
        "term",
        "amount",
        "captured_amount",
        "released_amount",
        "returned_amount",
        "remaining_authorization_amount",
        "creation_date",
        "external_location_id",
        "external_employee_id",
        "auto_capture",
        "annual_rates",
    }
    assert body["authorization_status"] == "opened"
    assert body["creation_date"] == "2024-03-01T12:00:00Z"
    assert (body["plan_id"], body["term"]) == (1, 12)
    assert sandbox.account(acct.account_number).available_credit == before - Decimal("250.00")
    assert sandbox.ledger.count(kind="authorization") == 1


async def test_authorization_v25_is_deprecated_but_active(
    api: Api, sandbox: FlexitiSandbox
) -> None:
    acct = sandbox.find_account().account_number
    body = {
        "account_number": acct,
        "amount": "10.00",
        "financing_option": {"transaction_type": "regular_purchase"},
        "auto_capture": False,
    }
    await api.open_widget(acct)
    response = await api.post("authorization", body, version="v2.5")
    assert response.status_code == 200
    assert "apr" in response.json()


async def test_auto_capture(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    body = await api.authorize(acct, "80.00", auto_capture=True)
    assert body["authorization_status"] == "closed"
    assert body["captured_amount"] == 80
    capture = sandbox.capture(body["capture_id"])
    assert capture.amount == Decimal("80.00")
    assert sandbox.ledger.count(kind="capture", authorization_id=body["authorization_id"]) == 1


@pytest.mark.parametrize(
    ("option", "code"),
    [
        (
            {"transaction_type": "promotional_purchase", "plan_id": 99, "term": 12},
            "plan_term_not_set",
        ),
        (
            {"transaction_type": "promotional_purchase", "plan_id": 1, "term": 7},
            "plan_term_not_available",
        ),
        (
            {"transaction_type": "promotional_purchase", "plan_id": 2, "term": 24},
            "plan_term_not_available",
        ),
    ],
)
async def test_plan_rules(api: Api, sandbox: FlexitiSandbox, option: Any, code: str) -> None:
    subprime = sandbox.find_account(risk_rating="R").account_number
    response = await api.post(
        "authorization",
        {
            "account_number": subprime,
            "amount": "10.00",
            "financing_option": option,
            "auto_capture": False,
        },
        version="v2.5.1",
    )
    assert (response.status_code, error_of(response)) == (409, code)


async def test_authorization_refusals(api: Api, sandbox: FlexitiSandbox) -> None:
    async def attempt(**fields: Any) -> str:
        body: dict[str, Any] = {
            "account_number": sandbox.find_account().account_number,
            "amount": "10.00",
            "financing_option": {"transaction_type": "regular_purchase"},
            "auto_capture": False,
            **fields,
        }
        if isinstance(body["account_number"], int):  # online: the widget comes first
            await api.post(
                "widget/init",
                {
                    "flow": "purchase",
                    "customer_identification": {"account_number": body["account_number"]},
                },
            )
        return error_of(await api.post("authorization", body, version="v2.5.1"))

    frozen = sandbox.find_account(status="F").account_number
    small = sandbox.add_account(credit_limit="50.00").account_number
    other_card = sandbox.find_account(risk_rating="L").vccs[0]
    assert await attempt(account_number=frozen) == "user_not_able_to_purchase"
    assert await attempt(account_number=small, amount="50.01") == "credit_exceeded"
    assert await attempt(external_location_id="99-99999") == "external_location_id_not_found"
    assert await attempt(vcc_number=other_card) == "vcc_account_mismatch"
    assert await attempt(account_number=12345) == "not_found"
    assert await attempt(auto_capture=None) == "wrong_input"
    assert await attempt(amount="1.234") == "wrong_input"
    assert await attempt(financing_option={"transaction_type": "x"}) == "wrong_input"
    assert sandbox.ledger.count() == 0


async def test_in_store_authorization_with_pin(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    pin = await _verify(api, sandbox, acct, "req-9")
    store = sandbox.stores[0].external_location_id
    instore = {
        "request_id": "req-9",
        "external_location_id": store,
        "external_employee_id": "123-EMP",
    }

    async def attempt(**fields: Any) -> Any:
        body = {
            "account_number": acct,
            "amount": "10.00",
            "auto_capture": False,
            "financing_option": {"transaction_type": "regular_purchase"},
            **fields,
        }
        return await api.post("authorization", body, version="v2.5.1")

    assert error_of(
        await attempt(**instore, verification_code=pin + 1 if pin < 9999 else 1000)
    ) == ("wrong_verification_code")
    wrong_request = {**instore, "request_id": "other"}
    assert error_of(await attempt(**wrong_request, verification_code=pin)) == "not_verified"
    ok = await attempt(**instore, verification_code=str(pin))
    assert ok.status_code == 200
    assert ok.json()["external_location_id"] == store
    reused = await attempt(**instore, verification_code=pin)
    assert error_of(reused) == "wrong_verification_code"  # one use


async def test_bypass_pin_only_for_small_regular_purchases(
    api: Api, sandbox: FlexitiSandbox
) -> None:
    acct = sandbox.find_account().account_number
    await api.post(
        f"account/{acct}/verify", {"format": "regular_purchase_bypass", "request_id": "b"}
    )
    pin = sandbox.last_pin(acct)
    body = {
        "account_number": acct,
        "amount": "150.00",
        "auto_capture": False,
        "financing_option": PROMO,
        "verification_code": pin,
        "request_id": "b",
    }
    response = await api.post("authorization", body, version="v2.5.1")
    assert error_of(response) == "regular_purchase_bypass_is_not_allowed"
    body["financing_option"] = {"transaction_type": "regular_purchase"}
    assert (await api.post("authorization", body, version="v2.5.1")).status_code == 200


async def test_capture_rules(api: Api, sandbox: FlexitiSandbox) -> None:
    auth = await api.authorize(sandbox.find_account().account_number, "100.00")
    path = f"authorization/{auth['authorization_id']}/capture"
    response = await api.post(path, {"amount": "60.00", "reference": "ORD-7"})
    body = response.json()
    assert set(body) == {
        "capture_id",
        "authorization_id",
        "account_number",
        "reference",
        "date",
        "amount",
        "remaining_authorization_amount",
        "remaining_capture_amount",
        "returned_amount",
        "external_location_id",
        "message",
    }
    assert (body["remaining_authorization_amount"], body["reference"]) == (40, "ORD-7")
    assert error_of(await api.post(path, {"amount": "40.01"})) == "auth_amount_exceeded"
    assert (await api.post(path, {"amount": "40.00"})).status_code == 200
    assert sandbox.authorization(auth["authorization_id"]).status == "closed"
    assert error_of(await api.post(path, {"amount": "1.00"})) == "authorization_ended"
    missing = await api.post("authorization/1/capture", {"amount": "1.00"})
    assert (missing.status_code, error_of(missing)) == (404, "not_found")
    assert sandbox.ledger.total(kind="capture") == Decimal("100.00")


async def test_capture_message_is_localized(api: Api, sandbox: FlexitiSandbox) -> None:
    auth = await api.authorize(sandbox.find_account().account_number, "10.00")
    response = await api.http.post(
        api.url(f"authorization/{auth['authorization_id']}/capture"),
        params={"lang": "fr"},
        json={"amount": 5},
        headers=api.headers(),
    )
    assert response.json()["message"] == "Capture réussie"


async def test_release_rules(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account()
    start = acct.available_credit
    auth = await api.authorize(acct.account_number, "100.00")
    aid = auth["authorization_id"]
    await api.post(f"authorization/{aid}/capture", {"amount": "30.00"})
    path = f"authorization/{aid}/release"
    assert error_of(await api.post(path, {"amount": "70.01"})) == "auth_amount_exceeded"
    partial = (await api.post(path, {"amount": "20.00"})).json()
    assert set(partial) == {
        "authorization_id",
        "release_id",
        "amount",
        "remaining_authorization_amount",
        "date",
        "authorization_status",
    }
    assert (partial["remaining_authorization_amount"], partial["authorization_status"]) == (
        50,
        "opened",
    )
    rest = (await api.post(path)).json()  # amount omitted: release all that remains
    assert (rest["amount"], rest["authorization_status"]) == (50, "closed")
    assert error_of(await api.post(path)) == "authorization_ended"
    assert sandbox.account(acct.account_number).available_credit == start - Decimal("30.00")


async def test_return_rules(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account()
    start = acct.available_credit
    auth = await api.authorize(acct.account_number, "100.00", auto_capture=True)
    aid, cid = auth["authorization_id"], auth["capture_id"]
    path = f"authorization/{aid}/capture/{cid}/return"
    response = await api.post(path, {"full_return": False, "amount": "25.00", "reference": "R1"})
    body = response.json()
    assert set(body) == {
        "return_id",
        "reference",
        "capture_id",
        "date",
        "amount",
        "remaining_capture_amount",
        "remaining_authorization_amount",
    }
    assert (body["amount"], body["remaining_capture_amount"]) == (25, 75)
    assert error_of(await api.post(path, {"amount": "75.01"})) == "capture_amount_exceeded"
    assert error_of(await api.post(path, {"full_return": False})) == "wrong_input"
    full = (await api.post(path, {"full_return": True})).json()
    assert (full["amount"], full["remaining_capture_amount"]) == (75, 0)
    assert error_of(await api.post(path, {"full_return": True})) == "capture_amount_exceeded"
    assert sandbox.account(acct.account_number).available_credit == start
    wrong = await api.post(f"authorization/{aid}/capture/1/return", {"full_return": True})
    assert (wrong.status_code, error_of(wrong)) == (404, "not_found")
    assert sandbox.ledger.total(kind="return") == Decimal("100.00")


async def test_return_window_is_100_days(api: Api, sandbox: FlexitiSandbox) -> None:
    auth = await api.authorize(sandbox.find_account().account_number, "10.00", auto_capture=True)
    path = f"authorization/{auth['authorization_id']}/capture/{auth['capture_id']}/return"
    sandbox.clock.advance(100 * 86400)
    await api.login()
    assert (await api.post(path, {"amount": "1.00"})).status_code == 200
    sandbox.clock.advance(1)
    await api.login()
    assert error_of(await api.post(path, {"amount": "1.00"})) == "return_date_exceeded"


@pytest.mark.parametrize("relaxed", [False, True])
async def test_returns_of_regular_purchases(relaxed: bool) -> None:
    # Strict by default (reference §7.5); returns_promotional_only=False relaxes it.
    options = {"returns_promotional_only": False} if relaxed else {}
    sandbox = FlexitiSandbox(seed=3, **options)
    async with sandbox.http_client() as http:
        api = await Api(http, sandbox).login()
        auth = await api.authorize(
            sandbox.find_account().account_number,
            "10.00",
            auto_capture=True,
            financing_option=REGULAR,
        )
        path = f"authorization/{auth['authorization_id']}/capture/{auth['capture_id']}/return"
        response = await api.post(path, {"full_return": True})
        if relaxed:
            assert response.status_code == 200
        else:
            assert (response.status_code, error_of(response)) == (409, "wrong_transaction_type")
            assert sandbox.ledger.count(kind="return") == 0


async def test_refund_rules(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    path = f"accounts/{acct}/refund"
    assert error_of(await api.post(path, {"amount": "1.00"})) == "refunds_limit_exceeded_amount"
    auth = await api.authorize(acct, "100.00", auto_capture=True)
    response = await api.post(
        path, {"amount": "40.00", "capture_id": auth["capture_id"], "reference": "RF-1"}
    )
    assert (response.status_code, response.json()) == (200, {})
    assert error_of(await api.post(path, {"amount": "60.01"})) == "refunds_limit_exceeded_amount"
    missing = await api.post(path, {"amount": "1.00", "capture_id": 1})
    assert missing.status_code == 404
    assert sandbox.ledger.filter(kind="refund")[0].reference == "RF-1"


async def _payment(
    api: Api, sandbox: FlexitiSandbox, acct: int, amount: str, **headers: str
) -> Any:
    pin = await _verify(api, sandbox, acct, "pay")
    body = {
        "transaction_type": "deposit",
        "amount": amount,
        "account_number": str(acct),
        "verification_code": pin,
        "request_id": "pay",
    }
    return await api.post("transactions", body, headers=api.headers(**headers))


async def test_transactions(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account()
    start = acct.available_credit
    response = await _payment(api, sandbox, acct.account_number, "100.00")
    body = response.json()
    assert set(body) == {
        "transaction_id",
        "transaction_type",
        "amount",
        "account_number",
        "date",
        "verified",
        "customer_name",
        "customer_lname",
        "total_amount",
    }
    assert sandbox.account(acct.account_number).available_credit == start + Decimal("100.00")
    v251 = await api.post("transactions", {"transaction_type": "deposit"}, version="v2.5.1")
    assert v251.status_code == 409  # served under v2.5.1 too


async def test_transaction_errors(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    base = {"transaction_type": "deposit", "amount": "10.00", "account_number": acct}
    assert error_of(await api.post("transactions", {**base, "transaction_type": "purchase"})) == (
        "invalid_transaction_type"
    )
    assert error_of(await api.post("transactions", base)) == "verification_code_required"
    frozen = sandbox.find_account(status="F").account_number
    response = await api.post(
        "transactions", {**base, "account_number": frozen, "verification_code": 1}
    )
    assert error_of(response) == "user_not_able_to_purchase"
    by_card = {**base, "account_number": None, "vcc_number": "6000000000000000"}
    assert (await api.post("transactions", by_card)).status_code == 404


async def test_daily_payment_limit(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.add_account(credit_limit="20000.00").account_number
    assert (await _payment(api, sandbox, acct, "9000.00")).status_code == 200
    assert error_of(await _payment(api, sandbox, acct, "1000.01")) == "limit_payment_amount_24"
    assert (await _payment(api, sandbox, acct, "1000.00")).status_code == 200
    sandbox.clock.advance(24 * 3600 + 1)
    await api.login()
    assert (await _payment(api, sandbox, acct, "5000.00")).status_code == 200


async def test_idempotent_replay_is_byte_for_byte(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    pin = await _verify(api, sandbox, acct, "pay")
    body = {
        "transaction_type": "deposit",
        "amount": "50.00",
        "account_number": str(acct),
        "verification_code": pin,
        "request_id": "pay",
    }
    keys = {"x-idempotency-key": "k-1", "x-context-hash": hashlib.sha256(_json(body)).hexdigest()}
    first = await api.post("transactions", body, headers=api.headers(**keys))
    second = await api.post("transactions", body, headers=api.headers(**keys))  # a resend
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert second.headers["x-idempotent-replay"] == "true"
    assert sandbox.ledger.count(kind="transaction") == 1
    assert sandbox.ledger.filter(kind="transaction")[0].idempotency_key == "k-1"


async def test_idempotency_keys_are_per_client(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    await _payment(api, sandbox, acct, "5.00", **{"x-idempotency-key": "same"})
    other = sandbox.add_client()
    api.client_id, api.client_secret = other.client_id, other.client_secret
    await api.login()
    response = await _payment(api, sandbox, acct, "5.00", **{"x-idempotency-key": "same"})
    assert response.status_code == 200
    assert sandbox.ledger.count(kind="transaction") == 2


async def test_amounts_as_strings_variant() -> None:
    sandbox = FlexitiSandbox(seed=4, amounts_as_strings=True)
    async with sandbox.http_client() as http:
        api = await Api(http, sandbox).login()
        body = await api.authorize(sandbox.find_account().account_number, "12.5")
    assert body["amount"] == "12.50"
    assert body["remaining_authorization_amount"] == "12.50"


async def test_money_is_emitted_with_two_decimals(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    await api.open_widget(acct)
    response = await api.post(
        "authorization",
        {
            "account_number": acct,
            "amount": 7,
            "auto_capture": False,
            "financing_option": {"transaction_type": "regular_purchase"},
        },
        version="v2.5.1",
    )
    assert b'"amount":7.00' in response.content
    assert b'"rate":0.' in response.content
