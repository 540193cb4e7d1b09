"""A scripted fake of the Flexiti API for pipeline tests (httpx.MockTransport, no sockets)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx

from flexiti_async import FlexitiClient, RetryPolicy

BASE = "https://pos.flexiti.test/flexiti/pos-api"
CLIENT_ID = "test-client"
CLIENT_SECRET = "s3cr3t-client-secret-value"
CARD = "4111222233334444"

Handler = Callable[[httpx.Request], "httpx.Response | Exception"]

PROFILE = {
    "available_credit": 500.00,
    "account_number": 100000001,
    "customer_id": 100000,
    "security_qid": {"id": 6, "text": "first pet?"},
    "province": "ON",
    "risk_rating": "M",
    "card_ending_in": "4444",
}


class MockAPI:
    """Token endpoint + scripted API responses, with counters.

    ``script`` is a list of responses/exceptions returned in order for API calls; when it
    runs out, ``default`` answers. Token grants issue ``token-N`` values.
    """

    def __init__(self) -> None:
        self.token_forms: list[dict[str, list[str]]] = []
        self.token_queries: list[str] = []
        self.api_requests: list[httpx.Request] = []
        self.script: list[httpx.Response | Exception] = []
        self.default: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(
            200, json=PROFILE
        )
        self.revoked: set[str] = set()
        self.serial = 0
        self.in_flight = 0
        self.high_water = 0
        self.hold: anyio.Event | None = None

    @property
    def issued(self) -> str:
        return f"token-{self.serial:034d}"

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            self.token_queries.append(request.url.query.decode())
            form = parse_qs((await request.aread()).decode())
            self.token_forms.append(form)
            self.serial += 1
            return httpx.Response(
                200,
                json={
                    "token_type": "bearer",
                    "access_token": self.issued,
                    "expires_in": 1200,
                    "refresh_token": f"refresh-{self.serial:033d}",
                    "scope": form.get("scope", ["merchant"])[0],
                },
            )
        self.api_requests.append(request)
        self.in_flight += 1
        self.high_water = max(self.high_water, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
            await anyio.lowlevel.checkpoint()
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            if bearer in self.revoked:
                return httpx.Response(
                    401,
                    json={"code": 401, "error": "invalid_token", "error_description": "expired"},
                )
            if self.script:
                item = self.script.pop(0)
                if isinstance(item, Exception):
                    raise item
                return item
            return self.default(request)
        finally:
            self.in_flight -= 1

    def client(self, **kwargs: Any) -> FlexitiClient:
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=2, backoff_base=0.0))
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=BASE, http_client=http, **kwargs)

    def grants(self, kind: str = "client_credentials") -> int:
        return sum(1 for f in self.token_forms if f.get("grant_type") == [kind])


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None
