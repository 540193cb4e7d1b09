"""Faults on demand, in process (httpx.ASGITransport)."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import anyio
import httpx
import pytest

from flexiti_async.testing import ROUTES, Fault, FlexitiSandbox

from .conftest import Api, error_of

pytestmark = pytest.mark.anyio


async def test_status_fault_with_retry_after(api: Api, sandbox: FlexitiSandbox) -> None:
    auth = await api.authorize(sandbox.find_account().account_number, "10.00")
    rule = sandbox.faults.add(route="capture", fault=Fault.status(503, retry_after=2), times=1)
    path = f"authorization/{auth['authorization_id']}/capture"
    response = await api.post(path, {"amount": "5.00"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json() == {
        "code": 503,
        "error": "service_unavailable",
        "error_description": "service_unavailable",
    }
    assert sandbox.ledger.count(kind="capture") == 0  # not applied
    assert (await api.post(path, {"amount": "5.00"})).status_code == 200  # times=1
    assert rule.hits == 1
    assert rule.exhausted
    assert sandbox.stats.count("capture", 503) == 1
    assert sandbox.stats.count("capture", 200) == 1


async def test_retry_after_as_http_date(api: Api, sandbox: FlexitiSandbox) -> None:
    when = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    sandbox.faults.add(route="terms", fault=Fault.status(429, retry_after=when))
    response = await api.get("terms-and-conditions")
    assert response.status_code == 429
    assert parsedate_to_datetime(response.headers["retry-after"]) == when
    assert error_of(response) == "too_many_requests"


async def test_fault_matches_route_and_method(api: Api, sandbox: FlexitiSandbox) -> None:
    sandbox.faults.add(route="i18n", fault=Fault.status(500), method="post")
    assert (await api.get("i18n")).status_code == 200
    assert (await api.post("i18n")).status_code == 500
    sandbox.faults.clear()
    assert (await api.post("i18n")).status_code == 200


async def test_wildcard_matches_everything(api: Api, sandbox: FlexitiSandbox) -> None:
    rule = sandbox.faults.add(route="*", fault=Fault.status(502), times=2)
    assert (await api.token()).status_code == 502
    assert (await api.get("terms-and-conditions")).status_code == 502
    assert (await api.get("terms-and-conditions")).status_code == 200
    rule.remove()
    assert sandbox.faults.rules == []


async def test_probability_is_seeded() -> None:
    async def run() -> list[int]:
        sandbox = FlexitiSandbox(seed=5)
        sandbox.faults.add(route="terms", fault=Fault.status(503), probability=0.3)
        async with sandbox.http_client() as http:
            api = await Api(http, sandbox).login()
            return [(await api.get("terms-and-conditions")).status_code for _ in range(30)]

    first = await run()
    assert first == await run()
    assert 0 < first.count(503) < 30


async def test_latency_then_normal_answer(api: Api, sandbox: FlexitiSandbox) -> None:
    rule = sandbox.faults.add(route="terms", fault=Fault.latency(0.01))
    assert (await api.get("terms-and-conditions")).status_code == 200
    assert rule.hits == 1


async def test_drop_before_does_not_apply(api: Api, sandbox: FlexitiSandbox) -> None:
    auth = await api.authorize(sandbox.find_account().account_number, "10.00")
    sandbox.faults.add(route="capture", fault=Fault.drop_before(), times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.post(f"authorization/{auth['authorization_id']}/capture", {"amount": "5.00"})
    assert sandbox.ledger.count(kind="capture") == 0
    assert sandbox.stats.count("capture", 0) == 1


async def test_drop_after_applies(api: Api, sandbox: FlexitiSandbox) -> None:
    auth = await api.authorize(sandbox.find_account().account_number, "10.00")
    sandbox.faults.add(route="capture", fault=Fault.drop_after(), times=1)
    path = f"authorization/{auth['authorization_id']}/capture"
    with pytest.raises(httpx.RemoteProtocolError):
        await api.post(path, {"amount": "5.00"})
    assert sandbox.ledger.count(kind="capture") == 1
    # A blind resend moves the money twice: exactly what the ledger makes visible.
    assert (await api.post(path, {"amount": "5.00"})).status_code == 200
    assert sandbox.ledger.count(kind="capture", authorization_id=auth["authorization_id"]) == 2


async def test_drop_after_then_idempotent_retry(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    await api.post(f"account/{acct}/verify", {"format": "sms", "request_id": "r"})
    body = {
        "transaction_type": "tradein",
        "amount": "20.00",
        "account_number": acct,
        "verification_code": sandbox.last_pin(acct),
        "request_id": "r",
    }
    headers = api.headers(**{"x-idempotency-key": "idem-1"})
    sandbox.faults.add(route="transactions", fault=Fault.drop_after(), times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.post("transactions", body, headers=headers)
    retry = await api.post("transactions", body, headers=headers)
    assert retry.status_code == 200
    assert sandbox.ledger.count(kind="transaction") == 1


async def test_malformed_json(api: Api, sandbox: FlexitiSandbox) -> None:
    auth = await api.authorize(sandbox.find_account().account_number, "10.00")
    sandbox.faults.add(route="capture", fault=Fault.malformed_json(), times=1)
    response = await api.post(f"authorization/{auth['authorization_id']}/capture", {"amount": 1})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert sandbox.ledger.count(kind="capture") == 1  # applied by default
    sandbox.faults.add(route="capture", fault=Fault.malformed_json(apply=False), times=1)
    await api.post(f"authorization/{auth['authorization_id']}/capture", {"amount": 1})
    assert sandbox.ledger.count(kind="capture") == 1


async def test_html_error_page(api: Api, sandbox: FlexitiSandbox) -> None:
    sandbox.faults.add(route="lookup", fault=Fault.html_error())
    response = await api.get("customers/lookup", account_number=1)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("fault", [Fault.revoke_tokens(), Fault.expire_tokens()])
async def test_token_loss_faults(api: Api, sandbox: FlexitiSandbox, fault: Fault) -> None:
    sandbox.faults.add(route="terms", fault=fault, times=1)
    response = await api.get("terms-and-conditions")
    assert (response.status_code, error_of(response)) == (401, "invalid_token")
    await api.login()
    assert (await api.get("terms-and-conditions")).status_code == 200


def test_fault_plan_validation(sandbox: FlexitiSandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.faults.add(route="nope", fault=Fault.status(500))
    with pytest.raises(ValueError):
        sandbox.faults.add(route="capture", fault=Fault.status(500), probability=2)
    with pytest.raises(TypeError):
        sandbox.faults.add(route="capture")
    assert "capture" in ROUTES
    assert "token" in ROUTES


async def test_stats_and_reset(api: Api, sandbox: FlexitiSandbox) -> None:
    await api.get("terms-and-conditions")
    await api.get("customers/lookup", account_number=1)
    assert sandbox.stats.count("terms", 200) == 1
    assert sandbox.stats.count("lookup", 404) == 1
    assert sandbox.stats.total_requests == 3  # + the fixture's token
    assert sandbox.stats.max_in_flight == 1
    assert sandbox.stats.max_in_flight_token == 1
    sandbox.reset_stats()
    assert sandbox.stats.total_requests == 0
    assert sandbox.stats.count() == 0
    assert sandbox.stats.token_grants["client_credentials"] == 0


async def test_hold_keeps_requests_until_released(api: Api, sandbox: FlexitiSandbox) -> None:
    gate = sandbox.faults.hold("terms")
    answers: list[int] = []

    async def call() -> None:
        answers.append((await api.get("terms-and-conditions")).status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call)
        await gate.wait_for(3)
        assert (gate.waiting, answers, sandbox.stats.in_flight) == (3, [], 3)
        gate.release()
    assert answers == [200, 200, 200]
    assert (gate.arrived, gate.waiting, gate.released) == (3, 0, True)
    assert sandbox.stats.max_in_flight == 3


async def test_hold_times_holds_only_the_first(api: Api, sandbox: FlexitiSandbox) -> None:
    gate = sandbox.faults.hold("terms", times=1)
    answers: list[int] = []

    async def call() -> None:
        answers.append((await api.get("terms-and-conditions")).status_code)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await gate.wait_for(1)
        await call()  # not held: the rule fired its one time
        assert answers == [200]
        gate.release()
    assert answers == [200, 200]
    assert gate.arrived == 1


async def test_hold_fault_on_its_own(api: Api, sandbox: FlexitiSandbox) -> None:
    fault = Fault.hold()
    assert fault.gate is not None
    sandbox.faults.add(route="terms", fault=fault)
    fault.gate.release()  # released before anyone arrives: requests pass straight through
    assert (await api.get("terms-and-conditions")).status_code == 200
    assert fault.gate.arrived == 1
