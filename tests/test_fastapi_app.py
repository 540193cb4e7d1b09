"""examples/fastapi_app.py under a real uvicorn on 127.0.0.1, against the sandbox on loopback,
hit by hundreds of concurrent requests from an outside httpx client.

The app runs in a thread with its own asyncio loop (FastAPI and uvicorn need asyncio), so
the outside client runs under asyncio and trio alike.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import anyio
import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from flexiti_async import FlexitiClient
from flexiti_async.testing import FlexitiSandbox
from tests._tls import serve_in_thread

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fastapi_app.py"
ORDERS = 300
ACCOUNTS = 10


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_fastapi_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves annotations through the module
    spec.loader.exec_module(module)
    return module


def amount_of(n: int) -> Decimal:
    return Decimal("10.00") + Decimal(n) / 100


async def test_hundreds_of_concurrent_checkouts_and_captures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # /checkout is the step after the shopper's widget (which the test has no browser for):
    # the sandbox's widget check is relaxed; the online flow itself is tested elsewhere.
    sandbox = FlexitiSandbox(seed=11, require_widget=False)
    accounts = [
        sandbox.add_account(status="N", credit_limit="10000.00", available_credit="10000.00")
        for _ in range(ACCOUNTS)
    ]
    example = load_example()
    async with sandbox.serve() as base_url:
        monkeypatch.setenv("FLEXITI_CLIENT_ID", sandbox.client_id)
        monkeypatch.setenv("FLEXITI_CLIENT_SECRET", sandbox.client_secret)
        monkeypatch.setenv("FLEXITI_BASE_URL", base_url)
        app = example.create_app()  # configured from the environment at startup
        async with serve_in_thread(app, lifespan="on") as (address, _server):
            flexiti: FlexitiClient = app.state.flexiti
            assert not flexiti.is_closed
            assert flexiti.base_url == base_url
            statuses: Counter[int] = Counter()
            captured: dict[int, Decimal] = {}
            failures: list[str] = []

            async def order(n: int, shop: httpx.AsyncClient) -> None:
                account = accounts[n % ACCOUNTS]
                order_id = f"WEB-{n:04d}"
                response = await shop.post(
                    "/checkout",
                    json={
                        "account_number": account.account_number,
                        "amount": str(amount_of(n)),
                        "order_id": order_id,
                    },
                )
                statuses[response.status_code] += 1
                if response.status_code != 200:
                    failures.append(f"checkout {n}: {response.status_code} {response.text}")
                    return
                authorization_id = response.json()["authorization_id"]
                response = await shop.post(
                    f"/orders/{authorization_id}/capture",
                    json={"amount": str(amount_of(n)), "order_id": order_id},
                )
                statuses[response.status_code] += 1
                if response.status_code != 200:
                    failures.append(f"capture {n}: {response.status_code} {response.text}")
                    return
                captured[authorization_id] = Decimal(response.json()["amount"])

            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(
                base_url=f"http://{address}", timeout=60.0, limits=limits
            ) as shop:
                with anyio.fail_after(120):  # a hang fails the test instead of the run
                    async with anyio.create_task_group() as tg:
                        for n in range(ORDERS):
                            tg.start_soon(order, n, shop)
                health = (await shop.get("/healthz")).json()
            assert health == {"flexiti": "open"}
        # The server stopped: the lifespan exit closed the client.
        assert flexiti.is_closed

    assert failures == []
    assert statuses == Counter({200: 2 * ORDERS})
    # One token for the whole burst (single flight in the shared client).
    assert sandbox.stats.token_grants == Counter({"client_credentials": 1})
    # Every order's money moved exactly once: one authorization and one capture each.
    ledger = list(sandbox.ledger)
    auths = [e for e in ledger if e.kind == "authorization"]
    captures = [e for e in ledger if e.kind == "capture"]
    assert len(ledger) == 2 * ORDERS
    authorized = {e.authorization_id: e.amount for e in auths}
    assert len(authorized) == ORDERS
    # The ledger has ids and amounts; the order id travels as the authorization's reference.
    orders = {sandbox.authorization(aid).reference: amount for aid, amount in authorized.items()}
    assert orders == {f"WEB-{n:04d}": amount_of(n) for n in range(ORDERS)}
    assert sorted(e.authorization_id for e in captures) == sorted(authorized)
    assert all(e.amount == authorized[e.authorization_id] for e in captures)
    expected_total = sum((amount_of(n) for n in range(ORDERS)), Decimal("0"))
    assert sum(authorized.values(), Decimal("0")) == expected_total
    assert sum((e.amount for e in captures), Decimal("0")) == expected_total
    assert captured == authorized  # what the shop was told is what moved
    # Nothing was retried into a duplicate: each route saw exactly ORDERS requests.
    assert sandbox.stats.count("authorize") == ORDERS
    assert sandbox.stats.count("capture") == ORDERS


async def test_flexiti_errors_become_http_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's exception handler: a business refusal is a 409 with the code, an invalid
    capture id a 422, neither leaks a secret, and the client still closes on shutdown."""
    # /checkout is the step after the shopper's widget (which the test has no browser for):
    # the sandbox's widget check is relaxed; the online flow itself is tested elsewhere.
    sandbox = FlexitiSandbox(seed=12, require_widget=False)
    poor = sandbox.add_account(status="N", credit_limit="50.00", available_credit="50.00")
    example = load_example()
    async with sandbox.serve() as base_url:
        environ = {
            "FLEXITI_CLIENT_ID": sandbox.client_id,
            "FLEXITI_CLIENT_SECRET": sandbox.client_secret,
            "FLEXITI_BASE_URL": base_url,
        }
        app = example.create_app(environ, max_retries=0)
        async with serve_in_thread(app, lifespan="on") as (address, _server):
            async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30.0) as shop:
                too_much = await shop.post(
                    "/checkout",
                    json={
                        "account_number": poor.account_number,
                        "amount": "99.00",
                        "order_id": "X",
                    },
                )
                bad_id = await shop.post(
                    "/orders/0/capture", json={"amount": "1.00", "order_id": "X"}
                )
                missing = await shop.post(
                    "/orders/123456/capture", json={"amount": "1.00", "order_id": "X"}
                )
        assert app.state.flexiti.is_closed
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "credit_exceeded"
    assert too_much.json()["reference_id"]
    assert bad_id.status_code == 422
    assert bad_id.json()["field"] == "authorization_id"
    assert missing.status_code == 404
    for response in (too_much, bad_id, missing):
        assert sandbox.client_secret not in response.text
    assert list(sandbox.ledger) == []
