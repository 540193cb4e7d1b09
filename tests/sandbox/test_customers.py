"""Customer endpoints: search, lookup, verify, calculate-interest, close, content."""

from __future__ import annotations

from typing import Any

import pytest

from flexiti_async.testing import FlexitiSandbox

from .conftest import REGULAR, Api, error_of

pytestmark = pytest.mark.anyio


async def test_search_by_name_and_dob(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account()
    response = await api.get(
        "customers/search",
        first_name=acct.first_name.upper(),
        last_name=acct.last_name,
        dob=acct.dob.isoformat(),
    )
    assert response.status_code == 200
    rows = response.json()
    assert isinstance(rows, list)
    assert acct.account_number in {r["account_number"] for r in rows}
    assert rows[0]["account_status"] in "NAFZC"
    missing = await api.get("customers/search", first_name="No", last_name="One", dob="2000-01-01")
    assert (missing.status_code, error_of(missing)) == (404, "not_found")
    bad = await api.get("customers/search", first_name="x", last_name="y")
    assert bad.json()["field_errors"][0]["param"] == "dob"


@pytest.mark.parametrize("key", ["account_number", "vcc_number", "customer_id"])
async def test_lookup_by_each_identifier(api: Api, sandbox: FlexitiSandbox, key: str) -> None:
    acct = sandbox.find_account()
    value: Any = {
        "account_number": acct.account_number,
        "vcc_number": acct.vccs[0],
        "customer_id": acct.customer_id,
    }[key]
    response = await api.get("customers/lookup", **{key: value})
    assert response.status_code == 200
    body = response.json()
    assert body["account_number"] == acct.account_number
    assert body["security_qid"] == {"id": acct.security_qid, "text": acct.security_question}
    assert body["card_ending_in"] == acct.vccs[0][-4:]
    assert all(
        {"plan_id", "plan_name", "offer_category", "term_options"} <= set(o)
        for o in body["offer_types"]
    )


async def test_lookup_needs_exactly_one_identifier(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account()
    none = await api.get("customers/lookup")
    both = await api.get(
        "customers/lookup", account_number=acct.account_number, customer_id=acct.customer_id
    )
    for response in (none, both):
        assert response.status_code == 409
        assert response.json()["error"] == "wrong_input"
    assert len(both.json()["field_errors"]) == 2


@pytest.mark.parametrize("status", ["A", "F", "Z", "C"])
async def test_lookup_refuses_accounts_not_normal(
    api: Api, sandbox: FlexitiSandbox, status: str
) -> None:
    acct = sandbox.find_account(status=status)
    response = await api.get("customers/lookup", account_number=acct.account_number)
    assert (response.status_code, error_of(response)) == (409, "user_not_able_to_purchase")


async def test_lookup_unknown_and_inactive(api: Api, sandbox: FlexitiSandbox) -> None:
    response = await api.get("customers/lookup", account_number=1)
    assert (response.status_code, error_of(response)) == (404, "not_found")
    inactive = sandbox.add_account(active=False)
    response = await api.get("customers/lookup", account_number=inactive.account_number)
    assert error_of(response) == "user_not_active"


async def test_offers_depend_on_risk_and_province(api: Api, sandbox: FlexitiSandbox) -> None:
    prime = sandbox.add_account(risk_rating="L", province="ON")
    subprime = sandbox.add_account(risk_rating="R", province="QC")

    async def plan_ids(number: int) -> set[int]:
        response = await api.get("customers/lookup", account_number=number)
        return {o["plan_id"] for o in response.json()["offer_types"]}

    assert await plan_ids(prime.account_number) == {1, 2, 3, 4}
    assert await plan_ids(subprime.account_number) == {1}


async def test_verify_by_sms_and_email(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    response = await api.post(f"account/{acct}/verify", {"format": "sms", "request_id": "q1"})
    assert response.json() == {"verification_code": "verification_sent_to_sms"}
    pin = sandbox.last_pin(acct)
    assert pin is not None
    assert 1000 <= pin <= 9999
    response = await api.post(f"account/{acct}/verify", {"format": "email", "request_id": "q2"})
    assert response.json() == {"verification_code": "verification_sent_to_email"}
    assert sandbox.last_pin(acct) is not None
    # sms is the default format
    response = await api.post(f"account/{acct}/verify", {"request_id": "q3"})
    assert response.json()["verification_code"] == "verification_sent_to_sms"


async def test_verify_sms_without_valid_phone(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.add_account(phone_number=None).account_number
    response = await api.post(f"account/{acct}/verify", {"format": "sms"})
    assert (response.status_code, error_of(response)) == (400, "sms_not_valid_phone")


async def test_verify_security_question(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.add_account(security_qid=5, security_answer="Montreal")
    body = {"format": "security_question", "security_qid": 5, "request_id": "q"}
    response = await api.post(
        f"account/{acct.account_number}/verify", {**body, "security_answer": "montreal "}
    )
    assert response.status_code == 200
    assert response.json()["verification_code"] == sandbox.last_pin(acct.account_number)
    missing = await api.post(f"account/{acct.account_number}/verify", body)
    assert missing.json()["field_errors"][0]["param"] == "security_answer"


async def test_security_question_tries_exceed(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.add_account(security_qid=6, security_answer="blue")
    path = f"account/{acct.account_number}/verify"
    wrong = {"format": "security_question", "security_qid": 6, "security_answer": "red"}
    right = {**wrong, "security_answer": "blue"}
    codes = [error_of(await api.post(path, wrong)) for _ in range(4)]
    assert codes == ["secret_answer_mismatch"] * 3 + ["tries_exceed"]
    assert error_of(await api.post(path, right)) == "tries_exceed"
    sandbox.clock.advance(48 * 3600 + 1)
    await api.login()  # the old token expired meanwhile
    assert (await api.post(path, right)).status_code == 200


async def test_three_wrong_answers_still_allow_the_right_one(
    api: Api, sandbox: FlexitiSandbox
) -> None:
    acct = sandbox.add_account(security_qid=6, security_answer="blue")
    path = f"account/{acct.account_number}/verify"
    wrong = {"format": "security_question", "security_qid": 6, "security_answer": "red"}
    for _ in range(3):
        await api.post(path, wrong)
    assert (await api.post(path, {**wrong, "security_answer": "blue"})).status_code == 200


async def test_regular_purchase_bypass(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    path = f"account/{acct}/verify"
    response = await api.post(path, {"format": "regular_purchase_bypass", "request_id": "b"})
    assert response.status_code == 200
    assert isinstance(response.json()["verification_code"], int)
    await api.login(scope="customer")
    response = await api.post(path, {"format": "regular_purchase_bypass"})
    assert error_of(response) == "regular_purchase_bypass_is_not_allowed"


async def test_bypass_refused_after_three_regular_purchases(
    api: Api, sandbox: FlexitiSandbox
) -> None:
    acct = sandbox.find_account(risk_rating="L").account_number
    for _ in range(3):
        await api.authorize(acct, "10.00", financing_option=REGULAR)
    response = await api.post(f"account/{acct}/verify", {"format": "regular_purchase_bypass"})
    assert error_of(response) == "regular_purchase_bypass_is_not_allowed"
    calc = await api.post(f"accounts/{acct}/calculate-interest", {"amount": "20.00"}, "v2.5.1")
    assert calc.json()["regular_purchase"]["verify"] is False


async def test_merchant_override_is_configurable(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    path = f"account/{acct}/verify"
    response = await api.post(path, {"format": "merchant_override"})
    assert error_of(response) == "merchant_override_is_not_allowed"
    sandbox.set_merchant_override(True)
    response = await api.post(path, {"format": "merchant_override"})
    assert response.json()["verification_code"] == sandbox.last_pin(acct)


async def test_verify_errors(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account()
    other = sandbox.find_account(risk_rating="L")
    response = await api.post("account/1/verify", {"format": "sms"})
    assert (response.status_code, error_of(response)) == (404, "not_found")
    response = await api.post(f"account/{acct.account_number}/verify", {"format": "pigeon"})
    assert response.json()["field_errors"][0]["param"] == "format"
    response = await api.post(
        f"account/{acct.account_number}/verify", {"format": "sms", "vcc_number": other.vccs[0]}
    )
    assert error_of(response) == "vcc_account_mismatch"
    assert response.json()["error_description"] == "vcc_account_mismatch"


async def test_calculate_interest_versions(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account(risk_rating="L").account_number
    path = f"accounts/{acct}/calculate-interest"
    new = (await api.post(path, {"amount": "120.00"}, "v2.5.1")).json()
    old = (await api.post(path, {"amount": "120.00"}, "v2.5")).json()
    assert new["amount"] == 120
    assert new["regular_purchase"]["verify"] is True
    plan = next(p for p in new["promotional_purchase"] if p["plan_id"] == 1)
    assert plan["plan_name"]
    six = next(t for t in plan["terms"] if t["term"] == 6)
    assert str(six["term_amount"]) == "20.0"  # JSON number 20.00
    assert set(six["annual_rates"]) == {"description", "rate", "type", "message"}
    old_plan = next(p for p in old["promotional_purchase"] if p["plan_id"] == 1)
    assert "plan_name" not in old_plan
    assert "apr" in old_plan["terms"][0]
    big = (await api.post(path, {"amount": "250.00"}, "v2.5.1")).json()
    assert big["regular_purchase"]["verify"] is False
    response = await api.post(path, {"amount": "-1"}, "v2.5.1")
    assert response.json()["field_errors"][0]["param"] == "amount"


async def test_close_quebec_account_only(api: Api, sandbox: FlexitiSandbox) -> None:
    qc = sandbox.find_account(province="QC")
    response = await api.post(f"accounts/{qc.account_number}/close")
    assert (response.status_code, response.json()) == (200, {})
    assert sandbox.account(qc.account_number).status == "C"
    on = sandbox.find_account(province="ON")
    refused = await api.post(f"accounts/{on.account_number}/close")
    # The reference lists no code for this: a documented global one, naming the field.
    assert (refused.status_code, error_of(refused)) == (409, "wrong_input")
    assert refused.json()["field_errors"][0]["param"] == "account_number"
    assert sandbox.account(on.account_number).status == "N"


async def test_drivers_license_decoding(api: Api) -> None:
    code = "@\n\x1e\rANSI 636012\nDCSDOE\nDACJANE\nDBB19800131\nDAJON\nDAQD1234-56789\n"
    response = await api.post("customers/driverslicense", {"code": code})
    body = response.json()
    assert (body["first_name"], body["last_name"], body["dob"]) == ("JANE", "DOE", "1980-01-31")
    assert body["govid_type"] == "CADL"
    assert (await api.post("customers/driverslicense", {})).status_code == 409


async def test_widget_apply_content_and_login(api: Api, sandbox: FlexitiSandbox) -> None:
    await api.login(scope="customer")
    acct = sandbox.find_account().account_number
    response = await api.post(
        "widget/init", {"flow": "purchase", "customer_identification": {"account_number": acct}}
    )
    assert "widget_session_id=" in response.json()["redirection_url"]
    assert (await api.post("widget/init", {"flow": "nope"})).status_code == 409
    approved = await api.post(
        "apply", {"tos_agreement": True, "first_name": "Ann", "last_name": "Lee"}
    )
    assert approved.json()["application_status"] == "approved"
    declined = await api.post("apply", {"tos_agreement": True, "middle_name": "D-FRAUD"})
    assert error_of(declined) == "application_declined"
    assert error_of(await api.post("apply", {})) == "tos_agreement_required"
    assert (await api.get("i18n")).status_code == 200
    assert (await api.post("i18n")).status_code == 200
    await api.login()
    login = await api.post("merchants/login")
    assert login.json()["merchant_id"]
    assert "form_values" in login.json()
    refused = await api.post(
        "merchants/login", {"merchant_username": "u", "merchant_password": "x"}
    )
    assert error_of(refused) == "authentication_failure"
