"""The sandbox follows the reference (issue: the sandbox as a faithful stand-in).

One test per finding, over loopback sockets (``sandbox.serve()`` on 127.0.0.1), under
asyncio and trio; where the reference is silent the strict default is shown together with
its relax switch.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest

from flexiti_async import FlexitiClient, errors, reference_id
from flexiti_async.models import FinancingOption, Location
from flexiti_async.testing import Fault, FlexitiSandbox, read_pin
from flexiti_async.testing._server import BindError

from .conftest import PROMOTIONAL, REGULAR, START, Api, _json, error_of

pytestmark = pytest.mark.anyio

STORE = Location(external_location_id="00-00001", external_employee_id="12345-SMITH")


def _sandbox(**options: Any) -> FlexitiSandbox:
    from flexiti_async.testing import SandboxClock

    box = FlexitiSandbox(seed=5, clock=SandboxClock(start=START, frozen=True), **options)
    box.add_store(STORE.external_location_id)
    return box


@asynccontextmanager
async def served(box: FlexitiSandbox) -> AsyncIterator[Api]:
    """Raw HTTP to a sandbox served on 127.0.0.1, logged in with a merchant token."""
    async with box.serve() as base_url, httpx.AsyncClient(base_url=base_url) as http:
        yield await Api(http, box).login()


@asynccontextmanager
async def client_of(box: FlexitiSandbox) -> AsyncIterator[FlexitiClient]:
    """A FlexitiClient talking to the sandbox over loopback sockets."""
    async with box.serve() as base_url:
        async with FlexitiClient(
            box.client_id, box.client_secret, base_url=base_url, max_retries=2
        ) as flexiti:
            yield flexiti


def _in_store(account: int, pin: int | None, request_id: str = "till-1") -> dict[str, Any]:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "external_location_id": STORE.external_location_id,
        "external_employee_id": STORE.external_employee_id,
        "financing_option": PROMOTIONAL,
        "account_number": account,
        "amount": "100.00",
        "auto_capture": False,
    }
    if pin is not None:
        fields["verification_code"] = pin
    return fields


# 1. In-store authorization: PIN required ---------------------------------------------------


async def test_instore_authorization_needs_the_pin_from_verify() -> None:
    box = _sandbox()
    acct = box.find_account().account_number
    async with served(box) as api:
        await api.post(f"account/{acct}/verify", {"format": "sms", "request_id": "till-1"})
        refused = await api.post("authorization", _in_store(acct, None), version="v2.5.1")
        assert (refused.status_code, error_of(refused)) == (409, "verification_code_required")
        pin = box.last_pin(acct)
        assert pin is not None
        other = await api.post(
            "authorization", _in_store(acct, pin, request_id="till-2"), version="v2.5.1"
        )
        assert error_of(other) == "not_verified"
        done = await api.post("authorization", _in_store(acct, pin), version="v2.5.1")
        assert done.status_code == 200, done.text
    assert box.ledger.count(kind="authorization") == 1


async def test_instore_pin_check_can_be_relaxed() -> None:
    box = _sandbox(require_pin=False)
    acct = box.find_account().account_number
    async with served(box) as api:
        done = await api.post("authorization", _in_store(acct, None), version="v2.5.1")
        assert done.status_code == 200, done.text


# 2. Online authorization: widget/init first -------------------------------------------------


def _online(account: int) -> dict[str, Any]:
    return {
        "account_number": account,
        "amount": "40.00",
        "financing_option": REGULAR,
        "auto_capture": False,
    }


async def test_online_authorization_needs_widget_init() -> None:
    box = _sandbox()
    acct = box.find_account().account_number
    async with served(box) as api:
        refused = await api.post("authorization", _online(acct), version="v2.5.1")
        assert (refused.status_code, error_of(refused)) == (404, "customer_identity_not_found")
        await api.open_widget(acct)
        assert (await api.post("authorization", _online(acct), version="v2.5.1")).is_success
        # One purchase per widget session.
        again = await api.post("authorization", _online(acct), version="v2.5.1")
        assert (again.status_code, error_of(again)) == (404, "customer_identity_not_found")
    assert box.ledger.count(kind="authorization") == 1


async def test_widget_check_can_be_relaxed() -> None:
    box = _sandbox(require_widget=False)
    async with served(box) as api:
        response = await api.post(
            "authorization", _online(box.find_account().account_number), version="v2.5.1"
        )
        assert response.status_code == 200


async def test_widget_then_authorization_with_the_client() -> None:
    box = _sandbox()
    acct = box.find_account().account_number
    async with client_of(box) as flexiti:
        shopper = flexiti.with_options(scope="customer")
        option = FinancingOption(transaction_type="regular_purchase")
        with pytest.raises(errors.NotFoundError) as caught:
            await shopper.authorizations.create(
                account_number=acct, amount=Decimal("25.00"), financing_option=option
            )
        assert caught.value.code == errors.ErrorCode.CUSTOMER_IDENTITY_NOT_FOUND
        await shopper.widget.init(flow="purchase", account_number=acct, lang="en")
        auth = await shopper.authorizations.create(
            account_number=acct, amount=Decimal("25.00"), financing_option=option
        )
        assert auth.amount == Decimal("25.00")


# 3. Returns only against promotional captures ------------------------------------------------


@pytest.mark.parametrize("relaxed", [False, True], ids=["strict", "relaxed"])
async def test_returns_only_against_promotional_captures(relaxed: bool) -> None:
    box = _sandbox(**({"returns_promotional_only": False} if relaxed else {}))
    acct = box.find_account().account_number
    async with served(box) as api:
        regular = await api.authorize(acct, "30.00", financing_option=REGULAR, auto_capture=True)
        promo = await api.authorize(acct, "30.00", auto_capture=True)
        for auth, allowed in ((promo, True), (regular, relaxed)):
            path = f"authorization/{auth['authorization_id']}/capture/{auth['capture_id']}/return"
            response = await api.post(path, {"full_return": True})
            if allowed:
                assert response.status_code == 200, response.text
            else:
                assert (response.status_code, error_of(response)) == (
                    409,
                    "wrong_transaction_type",
                )
    assert box.ledger.count(kind="return") == (2 if relaxed else 1)


# 4. x-reference-id: at most 32 characters ----------------------------------------------------


@pytest.mark.parametrize("relaxed", [False, True], ids=["strict", "relaxed"])
async def test_reference_id_longer_than_32_is_refused(relaxed: bool) -> None:
    box = _sandbox(**({"strict_reference_id": False} if relaxed else {}))
    async with served(box) as api:
        ok = await api.get(
            "terms-and-conditions", headers=api.headers(**{"x-reference-id": "a" * 32})
        )
        assert ok.status_code == 200
        long = await api.get(
            "terms-and-conditions", headers=api.headers(**{"x-reference-id": "a" * 33})
        )
        if relaxed:
            assert long.status_code == 200
        else:
            assert (long.status_code, error_of(long)) == (409, "wrong_input")
            assert long.json()["field_errors"][0]["param"] == "x-reference-id"


# 5. Closing a non-Quebec account -------------------------------------------------------------


@pytest.mark.parametrize("relaxed", [False, True], ids=["strict", "relaxed"])
async def test_close_non_quebec_account(relaxed: bool) -> None:
    box = _sandbox(**({"close_quebec_only": False} if relaxed else {}))
    ontario = box.find_account(province="ON").account_number
    async with client_of(box) as flexiti:
        if relaxed:
            await flexiti.accounts.close(ontario)
            assert box.account(ontario).status == "C"
        else:
            with pytest.raises(errors.InputValidationError) as caught:
                await flexiti.accounts.close(ontario)
            assert caught.value.code == errors.ErrorCode.WRONG_INPUTS  # documented globally
            assert caught.value.field_errors[0].param == "account_number"
            assert box.account(ontario).status == "N"


# 6. A wrong HTTP method gets a JSON 405 ------------------------------------------------------


async def test_wrong_method_gets_a_json_405() -> None:
    box = _sandbox()
    async with served(box) as api:
        response = await api.get("authorization", "v2.5.1")
        assert response.status_code == 405
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["allow"] == "POST"
        body = response.json()
        assert (body["code"], body["error"]) == (405, "method_not_allowed")
        token = await api.http.get("/v2.5/oauth/token", headers={"x-reference-id": "r"})
        assert (token.status_code, token.json()["code"]) == (405, 405)
    assert box.stats.count("authorize", 405) == 1


# 7. Idempotency key reused with a different body ---------------------------------------------


async def _deposit(api: Api, box: FlexitiSandbox, acct: int, amount: str) -> dict[str, Any]:
    await api.post(f"account/{acct}/verify", {"format": "sms", "request_id": "pay"})
    return {
        "transaction_type": "deposit",
        "amount": amount,
        "account_number": acct,
        "verification_code": box.last_pin(acct),
        "request_id": "pay",
    }


@pytest.mark.parametrize("relaxed", [False, True], ids=["strict", "relaxed"])
async def test_idempotency_key_reused_with_another_body(relaxed: bool) -> None:
    box = _sandbox(**({"check_context_hash": False} if relaxed else {}))
    acct = box.find_account().account_number
    async with served(box) as api:
        first = await _deposit(api, box, acct, "20.00")
        sent = await api.post(
            "transactions", first, headers=api.headers(**{"x-idempotency-key": "k-7"})
        )
        assert sent.status_code == 200
        second = await _deposit(api, box, acct, "35.00")
        forged = hashlib.sha256(_json(first)).hexdigest()  # the first body's hash, resent
        headers = api.headers(**{"x-idempotency-key": "k-7", "x-context-hash": forged})
        reused = await api.post("transactions", second, headers=headers)
        if relaxed:
            assert reused.status_code == 200
            assert reused.headers["x-idempotent-replay"] == "true"
        else:
            # The hash is recomputed from the body: the header cannot hide the change.
            assert (reused.status_code, error_of(reused)) == (409, "wrong_input")
            assert reused.json()["field_errors"][0]["param"] == "x-context-hash"
            honest = api.headers(
                **{
                    "x-idempotency-key": "k-7",
                    "x-context-hash": hashlib.sha256(_json(second)).hexdigest(),
                }
            )
            refused = await api.post("transactions", second, headers=honest)
            assert (refused.status_code, error_of(refused)) == (409, "wrong_input")
            assert refused.json()["field_errors"][0]["param"] == "x-idempotency-key"
    assert box.ledger.count(kind="transaction") == 1


async def test_idempotency_key_reuse_through_the_client() -> None:
    box = _sandbox()
    acct = box.find_account().account_number
    async with client_of(box) as flexiti:
        for amount, expect_ok in (("20.00", True), ("35.00", False)):
            await flexiti.accounts.verify(acct, format="sms", request_id="pay-1")
            pin = await read_pin(flexiti, acct)
            call = flexiti.transactions.create(
                transaction_type="deposit",
                amount=Decimal(amount),
                verification_code=pin,
                account_number=acct,
                request_id="pay-1",
                location=STORE,
                idempotency_key="order-77",
            )
            if expect_ok:
                assert (await call).amount == Decimal(amount)
            else:
                with pytest.raises(errors.InputValidationError):
                    await call
    assert box.ledger.count(kind="transaction") == 1


# 8. A 15-digit account number is wrong_inputs ------------------------------------------------


async def test_fifteen_digit_account_number_is_wrong_inputs() -> None:
    box = _sandbox()
    number = 10**14 + 1  # 15 digits
    async with served(box) as api:
        verify = await api.post(f"account/{number}/verify", {"format": "sms", "request_id": "r"})
        lookup = await api.get("customers/lookup", account_number=str(number))
        auth = await api.post(
            "authorization", {**_online(1), "account_number": number}, version="v2.5.1"
        )
        for response in (verify, lookup, auth):
            assert (response.status_code, error_of(response)) == (409, "wrong_input")
            assert response.json()["field_errors"][0]["param"] == "account_number"
        fourteen = await api.get("customers/lookup", account_number=str(10**13 + 1))
        assert (fourteen.status_code, error_of(fourteen)) == (404, "not_found")


# 9. Serving on a busy port -------------------------------------------------------------------


def _busy_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    return holder


async def test_serve_on_a_busy_port_raises_one_clear_error() -> None:
    holder = _busy_port()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(BindError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with _sandbox().serve(port=port):
                pass
    finally:
        holder.close()


def test_cli_serve_on_a_busy_port_exits_2_with_one_line() -> None:
    holder = _busy_port()
    port = holder.getsockname()[1]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flexiti_async.cli", "sandbox", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.close()
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"flexiti: error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in done.stderr


# 10. Reading the SMS PIN from a served sandbox -----------------------------------------------


async def test_read_pin_from_a_served_sandbox_completes_the_instore_flow() -> None:
    box = _sandbox()
    acct = box.find_account().account_number
    async with client_of(box) as flexiti:
        with pytest.raises(errors.NotFoundError):
            await read_pin(flexiti, acct)  # nothing sent yet
        async with reference_id():
            sent = await flexiti.accounts.verify(acct, format="SMS", request_id="till-9")
            assert sent.verification_code is None  # the PIN went to the phone
            pin = await read_pin(flexiti, acct)
            auth = await flexiti.authorizations.create(
                account_number=acct,
                amount=Decimal("120.00"),
                financing_option=FinancingOption(
                    transaction_type="promotional_purchase", plan_id=1, term=12
                ),
                verification_code=pin,
                request_id="till-9",
                location=STORE,
            )
        assert auth.external_location_id == STORE.external_location_id
        with pytest.raises(errors.NotFoundError):
            await read_pin(flexiti, acct)  # one use: consumed by the authorization
    assert box.ledger.count(kind="authorization") == 1


# 11. malformed_json(apply=True) leaves refusals alone ---------------------------------------


async def test_malformed_json_does_not_corrupt_a_refusal() -> None:
    box = _sandbox()
    async with served(box) as api:
        auth = await api.authorize(box.find_account().account_number, "10.00")
        path = f"authorization/{auth['authorization_id']}/capture"
        box.faults.add(route="capture", fault=Fault.malformed_json(apply=True), times=2)
        refused = await api.post(path, {"amount": "99.00"})  # more than the hold
        assert (refused.status_code, error_of(refused)) == (409, "auth_amount_exceeded")
        applied = await api.post(path, {"amount": "4.00"})
        assert applied.status_code == 200
        with pytest.raises(ValueError):
            applied.json()
    assert box.ledger.count(kind="capture") == 1


# 12. 465/466/467 Blocked ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [465, 466, 467])
async def test_blocked_statuses_raise_blocked_error_without_retry(status: int) -> None:
    box = _sandbox()
    async with client_of(box) as flexiti:
        box.faults.add(route="retrieve_authorization", fault=Fault.blocked(status))
        with pytest.raises(errors.BlockedError) as caught:
            await flexiti.authorizations.retrieve(123)  # a GET: retried on 5xx, not here
        assert caught.value.status_code == status
        assert isinstance(caught.value, errors.PermissionDeniedError)
    assert box.stats.count("retrieve_authorization") == 1
