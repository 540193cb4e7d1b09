"""Fixtures for sandbox tests: a seeded sandbox on a frozen clock and a tiny API helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from flexiti_async.testing import FlexitiSandbox, SandboxClock

START = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
#: A plan every seeded account may use (plan 1 is neither prime-only nor province-bound).
PROMOTIONAL = {"transaction_type": "promotional_purchase", "plan_id": 1, "term": 12}
REGULAR = {"transaction_type": "regular_purchase"}
IN_STORE_FIELDS = (
    "verification_code",
    "request_id",
    "external_location_id",
    "external_employee_id",
)


class Api:
    """Plain httpx calls with the headers the POS API wants."""

    def __init__(self, http: httpx.AsyncClient, sandbox: FlexitiSandbox) -> None:
        self.http = http
        self.sandbox = sandbox
        self.client_id = sandbox.client_id
        self.client_secret = sandbox.client_secret
        self.access_token: str | None = None
        self.refresh_token: str | None = None

    async def token(self, scope: str = "merchant", **form: str) -> httpx.Response:
        data = {"client_id": self.client_id, "client_secret": self.client_secret}
        data.update(scope=scope, **form)
        return await self.http.post(
            "/v2.5/oauth/token", data=data, headers={"x-reference-id": "ref-token"}
        )

    async def login(self, scope: str = "merchant") -> Api:
        response = await self.token(scope)
        assert response.status_code == 200, response.text
        self.access_token = response.json()["access_token"]
        self.refresh_token = response.json()["refresh_token"]
        return self

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"x-reference-id": "ref-1", "authorization": f"Bearer {self.access_token}"}
        headers.update(extra)
        return headers

    def url(self, path: str, version: str = "v2.5") -> str:
        return f"/{version}/client-id/{self.client_id}/{path}"

    async def get(
        self, path: str, version: str = "v2.5", headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        return await self.http.get(
            self.url(path, version), params=params, headers=headers or self.headers()
        )

    async def post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        version: str = "v2.5",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.http.post(
            self.url(path, version),
            content=_json(body or {}),
            headers={"content-type": "application/json", **(headers or self.headers())},
        )

    async def open_widget(self, account: int) -> str:
        """The online flow's first step: widget/init naming the account (returns its URL)."""
        response = await self.post(
            "widget/init",
            {"flow": "purchase", "customer_identification": {"account_number": account}},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["redirection_url"])

    async def authorize(
        self, account: int, amount: str = "100.00", **fields: Any
    ) -> dict[str, Any]:
        """An authorization by the real flow: online (widget/init first) unless in-store
        fields are given. Promotional (plan 1, 12 months) by default, so returns apply."""
        body: dict[str, Any] = {
            "account_number": account,
            "amount": amount,
            "financing_option": PROMOTIONAL,
            "auto_capture": False,
        }
        body.update(fields)
        if not any(name in fields for name in IN_STORE_FIELDS):
            await self.open_widget(account)
        response = await self.post("authorization", body, version="v2.5.1")
        assert response.status_code == 200, response.text
        return dict(response.json())


def _json(body: dict[str, Any]) -> bytes:
    # Money goes out as written (strings or Decimals), never through a float.
    from flexiti_async.testing._json import dumps

    return dumps(body)


def error_of(response: httpx.Response) -> str:
    """The ``error`` code of an error body."""
    return str(response.json()["error"])


@pytest.fixture
def sandbox() -> FlexitiSandbox:
    return FlexitiSandbox(seed=1, clock=SandboxClock(start=START, frozen=True))


@pytest.fixture
async def api(sandbox: FlexitiSandbox) -> AsyncIterator[Api]:
    async with sandbox.http_client() as http:
        yield await Api(http, sandbox).login()
