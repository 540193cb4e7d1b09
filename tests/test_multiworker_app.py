"""examples/multiworker_app.py under a real ``uvicorn --workers 4`` on 127.0.0.1, with its
`FileTokenStore`, against the sandbox on loopback: 400 concurrent checkouts from outside make
exactly one token grant."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import anyio
import httpx
import pytest

from flexiti_async.testing import FlexitiSandbox
from tests._services import free_port, sandbox_in_thread

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
ORDERS = 400
ACCOUNTS = 20

pytestmark = pytest.mark.needs_service("uvicorn")


def start_uvicorn(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "examples.multiworker_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS)]
    command += ["--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)  # uvicorn's supervisor stops its workers
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_for_workers(url: str, process: subprocess.Popen[bytes]) -> set[str]:
    """Poll /healthz on fresh connections until every worker has answered (bounded)."""
    seen: set[str] = set()
    for _ in range(3000):
        assert process.poll() is None, "uvicorn exited"
        try:
            response = httpx.get(f"{url}/healthz", timeout=5)
        except httpx.TransportError:
            time.sleep(0.02)
            continue
        if response.status_code == 200:
            seen.add(response.headers["x-worker-pid"])
            if len(seen) == WORKERS:
                break
        time.sleep(0.005)
    return seen


async def checkouts(url: str, accounts: list[int]) -> tuple[Counter[int], set[str], list[str]]:
    statuses: Counter[int] = Counter()
    pids: set[str] = set()
    failures: list[str] = []

    async def order(n: int, shop: httpx.AsyncClient) -> None:
        response = await shop.post(
            "/checkout",
            json={
                "account_number": accounts[n % len(accounts)],
                "amount": str(Decimal("10.00") + Decimal(n) / 100),
                "order_id": f"MW-{n:04d}",
            },
        )
        statuses[response.status_code] += 1
        pids.add(response.headers.get("x-worker-pid", "?"))
        if response.status_code != 200:
            failures.append(f"{n}: {response.status_code} {response.text}")

    # One connection per request, so the kernel spreads them over the workers.
    limits = httpx.Limits(max_connections=ORDERS, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as shop:
        with anyio.fail_after(180):  # a hang fails the test instead of the run
            async with anyio.create_task_group() as tg:
                for n in range(ORDERS):
                    tg.start_soon(order, n, shop)
    return statuses, pids, failures


def test_four_uvicorn_workers_share_one_token(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    # The shop's frontend runs the Flexiti widget before /checkout; the example has no
    # widget step, so the sandbox does not ask for one.
    sandbox = FlexitiSandbox(seed=15, require_widget=False)
    accounts = [
        sandbox.add_account(
            status="N", credit_limit="100000.00", available_credit="100000.00"
        ).account_number
        for _ in range(ACCOUNTS)
    ]
    token_file = tmp_path / "tokens.json"
    with sandbox_in_thread(sandbox) as base_url:
        env = dict(os.environ)
        env.update(
            FLEXITI_CLIENT_ID=sandbox.client_id,
            FLEXITI_CLIENT_SECRET=sandbox.client_secret,
            FLEXITI_BASE_URL=base_url,
            FLEXITI_TOKEN_FILE=str(token_file),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        )
        port = free_port()
        process = start_uvicorn(port, env)
        try:
            url = f"http://127.0.0.1:{port}"
            ready = wait_for_workers(url, process)
            assert len(ready) == WORKERS
            assert sandbox.stats.token_grants == Counter()  # lazy: no token yet
            statuses, pids, failures = anyio.run(checkouts, url, accounts)
        finally:
            stop(process)
    assert failures == []
    assert statuses == Counter({200: ORDERS})
    assert len(pids) >= 2  # the burst really was spread over several processes
    assert sandbox.stats.token_grants == Counter({"client_credentials": 1})
    assert sandbox.stats.count("authorize") == ORDERS
    assert token_file.stat().st_mode & 0o777 == 0o600
