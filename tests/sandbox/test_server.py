"""Real loopback sockets: serve() under asyncio and trio, dropped connections, concurrency."""

from __future__ import annotations

import anyio
import httpx
import pytest

from flexiti_async.testing import Fault, FlexitiSandbox

from .conftest import Api

pytestmark = pytest.mark.anyio


async def test_serve_starts_and_stops(sandbox: FlexitiSandbox) -> None:
    async with sandbox.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/flexiti/pos-api")
        async with httpx.AsyncClient(base_url=base_url) as http:
            api = await Api(http, sandbox).login()
            assert (await api.get("terms-and-conditions")).status_code == 200
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=base_url) as http:
            await http.get("/v2.5/oauth/token")


async def test_serve_twice_in_a_row(sandbox: FlexitiSandbox) -> None:
    for _ in range(2):
        async with sandbox.serve() as base_url, httpx.AsyncClient(base_url=base_url) as http:
            assert (await Api(http, sandbox).token()).status_code == 200
    assert sandbox.stats.token_grants["client_credentials"] == 2


async def test_only_loopback(sandbox: FlexitiSandbox) -> None:
    with pytest.raises(ValueError):
        async with sandbox.serve(host="0.0.0.0"):
            pass


async def _capture_over_socket(sandbox: FlexitiSandbox, fault: Fault) -> type[BaseException]:
    async with sandbox.serve() as base_url, httpx.AsyncClient(base_url=base_url) as http:
        api = await Api(http, sandbox).login()
        auth = await api.authorize(sandbox.find_account().account_number, "10.00")
        sandbox.faults.add(route="capture", fault=fault, times=1)
        path = f"authorization/{auth['authorization_id']}/capture"
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)) as caught:
            await api.post(path, {"amount": "4.00"})
        # The connection pool recovers: the next call works on a fresh connection.
        assert (
            await api.get(f"authorization/{auth['authorization_id']}", "v2.5.1")
        ).status_code == 200
        return caught.type


async def test_drop_before_over_sockets(sandbox: FlexitiSandbox) -> None:
    await _capture_over_socket(sandbox, Fault.drop_before())
    assert sandbox.ledger.count(kind="capture") == 0
    assert sandbox.stats.count(status=500) == 0  # no 500 from uvicorn
    assert sandbox.stats.count("capture", 0) == 1


async def test_drop_after_over_sockets(sandbox: FlexitiSandbox) -> None:
    await _capture_over_socket(sandbox, Fault.drop_after())
    assert sandbox.ledger.count(kind="capture") == 1
    assert sandbox.stats.count(status=500) == 0


async def test_in_flight_high_water_mark(sandbox: FlexitiSandbox) -> None:
    # The hold makes the five requests overlap for sure, however slow the machine.
    gate = sandbox.faults.hold("terms")
    async with sandbox.serve() as base_url, httpx.AsyncClient(base_url=base_url) as http:
        api = await Api(http, sandbox).login()
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(api.get, "terms-and-conditions")
            await gate.wait_for(5)
            assert sandbox.stats.in_flight == 5
            gate.release()
    assert gate.arrived == 5
    assert sandbox.stats.max_in_flight == 5
    assert sandbox.stats.max_in_flight_token == 1
    assert sandbox.stats.count("terms", 200) == 5
    assert sandbox.stats.in_flight == 0


async def test_state_is_shared_with_the_server_thread(sandbox: FlexitiSandbox) -> None:
    async with sandbox.serve() as base_url, httpx.AsyncClient(base_url=base_url) as http:
        api = await Api(http, sandbox).login()
        acct = sandbox.add_account(credit_limit="300.00").account_number
        body = {
            "account_number": acct,
            "amount": "50.00",
            "auto_capture": True,
            "financing_option": {"transaction_type": "regular_purchase"},
        }

        async def buy() -> None:
            await api.open_widget(acct)  # online: one widget session per purchase
            response = await api.post("authorization", body, version="v2.5.1")
            assert response.status_code == 200

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(buy)
        assert sandbox.account(acct).available_credit == 0
        assert sandbox.ledger.count(kind="capture", account_number=acct) == 6
