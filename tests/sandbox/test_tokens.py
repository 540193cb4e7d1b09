"""Token endpoint, bearer checks, scopes, request conventions."""

from __future__ import annotations

import re
from collections.abc import Callable

import anyio
import httpx
import pytest

from flexiti_async.testing import Fault, FlexitiSandbox, SandboxClock

from .conftest import Api, error_of

pytestmark = pytest.mark.anyio


async def test_client_credentials_grant(api: Api, sandbox: FlexitiSandbox) -> None:
    response = await api.token()
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"token_type", "access_token", "expires_in", "refresh_token", "scope"}
    assert re.fullmatch(r"[0-9a-f]{40}", body["access_token"])
    assert body["expires_in"] == 1200
    assert body["scope"] == "merchant"
    assert sandbox.stats.token_grants["client_credentials"] == 2  # fixture login + this


async def test_token_needs_form_encoding(api: Api) -> None:
    response = await api.http.post(
        "/v2.5/oauth/token",
        json={"client_id": api.client_id, "client_secret": api.client_secret},
        headers={"x-reference-id": "r"},
    )
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"


async def test_token_refuses_query_string_credentials(api: Api) -> None:
    response = await api.http.post(
        "/v2.5/oauth/token",
        params={"client_id": api.client_id, "client_secret": api.client_secret},
        data={"grant_type": "client_credentials"},
        headers={"x-reference-id": "r"},
    )
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"


async def test_bad_secret_is_invalid_client(api: Api) -> None:
    api.client_secret = "wrong"
    response = await api.token()
    assert (response.status_code, error_of(response)) == (400, "invalid_client")


async def test_unknown_grant_type_and_scope(api: Api) -> None:
    response = await api.token(grant_type="password")
    assert (response.status_code, error_of(response)) == (400, "invalid_request")
    response = await api.token(scope="admin")
    assert response.status_code == 409
    assert response.json()["field_errors"][0]["param"] == "scope"


async def test_token_needs_reference_id(api: Api) -> None:
    response = await api.http.post(
        "/v2.5/oauth/token", data={"client_id": api.client_id, "client_secret": api.client_secret}
    )
    assert response.status_code == 409
    assert response.json()["field_errors"] == [
        {"param": "x-reference-id", "msg": "required", "value": ""}
    ]


async def test_refresh_grant_rotates(api: Api, sandbox: FlexitiSandbox) -> None:
    old_refresh = api.refresh_token
    assert old_refresh is not None
    response = await api.token(grant_type="refresh_token", refresh_token=old_refresh)
    assert response.status_code == 200
    assert response.json()["refresh_token"] != old_refresh
    assert sandbox.stats.token_grants["refresh_token"] == 1
    again = await api.token(grant_type="refresh_token", refresh_token=old_refresh)
    assert (again.status_code, error_of(again)) == (400, "invalid_grant")


async def test_refresh_refused_after_expiry_or_revocation(
    api: Api, sandbox: FlexitiSandbox
) -> None:
    assert api.refresh_token is not None
    sandbox.clock.advance(1200)
    response = await api.token(grant_type="refresh_token", refresh_token=api.refresh_token)
    assert (response.status_code, error_of(response)) == (400, "invalid_grant")
    await api.login()
    assert sandbox.revoke_tokens() >= 1
    response = await api.token(grant_type="refresh_token", refresh_token=api.refresh_token)
    assert (response.status_code, error_of(response)) == (400, "invalid_grant")
    missing = await api.token(grant_type="refresh_token")
    assert (missing.status_code, error_of(missing)) == (400, "invalid_request")
    unknown = await api.token(grant_type="refresh_token", refresh_token="f" * 40)
    assert (unknown.status_code, error_of(unknown)) == (400, "invalid_grant")


async def test_token_expires_on_the_sandbox_clock(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    assert (await api.get("customers/lookup", account_number=acct)).status_code == 200
    sandbox.clock.advance(1199)
    assert (await api.get("customers/lookup", account_number=acct)).status_code == 200
    sandbox.clock.advance(1)
    response = await api.get("customers/lookup", account_number=acct)
    assert response.status_code == 401
    assert response.json() == {
        "code": 401,
        "error": "invalid_token",
        "error_description": "Access token expired",
    }


async def test_configurable_lifetime() -> None:
    sandbox = FlexitiSandbox(seed=2, expires_in=60)
    async with sandbox.http_client() as http:
        response = await Api(http, sandbox).token()
    assert response.json()["expires_in"] == 60


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
async def test_bad_bearer_is_401(api: Api, header: str | None) -> None:
    headers = {"x-reference-id": "r"}
    if header:
        headers["authorization"] = header
    response = await api.get("terms-and-conditions", headers=headers)
    assert (response.status_code, error_of(response)) == (401, "invalid_token")


async def test_expire_and_revoke_methods(api: Api, sandbox: FlexitiSandbox) -> None:
    sandbox.expire_tokens()
    assert (await api.get("terms-and-conditions")).status_code == 401
    await api.login()
    sandbox.revoke_tokens()
    response = await api.get("terms-and-conditions")
    assert response.json()["error_description"] == "Access token revoked"


async def test_path_client_must_match_token(api: Api, sandbox: FlexitiSandbox) -> None:
    other = sandbox.add_client()
    api.client_id = other.client_id
    response = await api.get("terms-and-conditions")
    assert (response.status_code, error_of(response)) == (401, "invalid_token")


async def test_customer_scope_is_limited(api: Api, sandbox: FlexitiSandbox) -> None:
    await api.login(scope="customer")
    acct = sandbox.find_account().account_number
    assert (await api.get("terms-and-conditions")).status_code == 200
    response = await api.post(f"accounts/{acct}/calculate-interest", {"amount": "50.00"}, "v2.5.1")
    assert response.status_code == 200
    response = await api.get("customers/lookup", account_number=acct)
    assert response.status_code == 403
    assert response.json() == {
        "code": 403,
        "error": "insufficient_scope",
        "error_description": "Insufficient scope: authorized scope is insufficient",
    }
    response = await api.get("authorizations", version="v2.5.1")
    assert response.status_code == 403


async def test_missing_reference_id_on_api_call(api: Api) -> None:
    response = await api.get(
        "terms-and-conditions", headers={"authorization": f"Bearer {api.access_token}"}
    )
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "wrong_input"
    assert body["message"] == "Some inputs are wrong!"
    assert body["url"] == f"/flexiti/pos-api/v2.5/client-id/{api.client_id}/terms-and-conditions"


async def test_post_body_must_be_json(api: Api, sandbox: FlexitiSandbox) -> None:
    acct = sandbox.find_account().account_number
    response = await api.http.post(
        api.url(f"accounts/{acct}/refund"), data={"amount": "1.00"}, headers=api.headers()
    )
    assert response.status_code == 409
    assert response.json()["field_errors"][0]["param"] == "content-type"
    response = await api.http.post(
        api.url(f"accounts/{acct}/refund"),
        content=b"{not json",
        headers=api.headers(**{"content-type": "application/json"}),
    )
    assert response.json()["field_errors"][0]["msg"] == "invalid JSON"


async def test_versions_are_exact(api: Api) -> None:
    assert (await api.get("authorizations", version="v2.5")).status_code == 404
    assert (await api.get("authorizations", version="v2.5.1")).status_code == 200
    assert (await api.get("customers/search", version="v2.5.1")).status_code == 404
    response = await api.http.get("/v3/whatever")
    assert response.json()["error"] == "not_found"


async def test_invalid_lang(api: Api) -> None:
    response = await api.get("terms-and-conditions", lang="de")
    assert response.json()["field_errors"][0]["param"] == "lang"
    response = await api.get("terms-and-conditions", lang="fr")
    assert response.json()["lang"] == "fr"


async def test_secrets_stay_out_of_reprs(api: Api, sandbox: FlexitiSandbox) -> None:
    account = sandbox.find_account()
    text = " ".join(
        repr(x)
        for x in (sandbox, account, sandbox.stats, sandbox.ledger, sandbox.faults, sandbox.clock)
    )
    tokens = list(sandbox._env.world.tokens.values())
    text += repr(tokens) + repr(sandbox._env.world.merchants)
    for secret in (sandbox.client_secret, api.access_token, api.refresh_token, *account.vccs):
        assert secret is not None
        assert secret not in text
    assert account.security_answer not in repr(account)


async def test_concurrent_tokens_are_counted(sandbox: FlexitiSandbox) -> None:
    async with sandbox.http_client() as http:
        api = Api(http, sandbox)
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(api.token)
    assert sandbox.stats.token_grants["client_credentials"] == 5
    assert sandbox.stats.count("token", 200) == 5
    assert isinstance(http, httpx.AsyncClient)


@pytest.mark.parametrize("lifetime", [1, 2])
async def test_short_lived_tokens_cost_about_one_grant_per_lifetime(lifetime: int) -> None:
    # The client with the default 60 s leeway on tokens living 1-2 s, 10 callers per tick
    # for 3 s of sandbox time (a frozen clock shared by the client and the sandbox). Ticks
    # of 0.07 s do not land on a refresh point (90% of a lifetime), so each refresh happens
    # while its token is still valid.
    from functools import partial

    clock = SandboxClock(frozen=True)
    sandbox = FlexitiSandbox(seed=41, expires_in=lifetime, clock=clock)
    account = sandbox.find_account(status="N").account_number
    start = clock.now().timestamp()
    async with sandbox.client(clock=lambda: clock.now().timestamp()) as flexiti:
        lookup = partial(flexiti.customers.lookup, account_number=account)
        while clock.now().timestamp() - start < 3:
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(lookup)
            clock.advance(0.07)
    elapsed = clock.now().timestamp() - start
    grants = sandbox.stats.token_grants
    assert sum(grants.values()) <= elapsed / lifetime + 1
    assert grants["refresh_token"] >= 1
    assert grants["client_credentials"] == 1  # every later token came from a refresh
    assert sandbox.stats.count(status=401) == 0  # no call ever went out with a dead token


async def _until(predicate: Callable[[], bool]) -> None:
    with anyio.fail_after(30):  # bounded: a hang fails the test
        while not predicate():
            await anyio.sleep(0.005)


async def test_soft_window_refresh_runs_in_the_background_while_everyone_is_served() -> None:
    clock = SandboxClock(frozen=True)
    sandbox = FlexitiSandbox(seed=43, clock=clock)
    account = sandbox.find_account(status="N").account_number
    async with sandbox.client(clock=lambda: clock.now().timestamp()) as flexiti:
        await flexiti.customers.lookup(account_number=account)
        manager = flexiti.token_manager
        first = manager.current
        clock.advance(1200 - 30)  # inside the refresh window
        sandbox.faults.add(route="token", fault=Fault.latency(1.0), times=1)
        # The first caller in the window starts the refresh and is served at once.
        await flexiti.customers.lookup(account_number=account)
        await _until(lambda: sandbox.stats.in_flight_token == 1)
        for _ in range(5):  # while the refresh hangs, the valid token serves everyone
            await flexiti.customers.lookup(account_number=account)
        assert sandbox.stats.in_flight_token == 1
        assert manager.current is first
        await _until(lambda: manager.current is not first)
        assert manager.grants == {"client_credentials": 1, "refresh_token": 1}
        await flexiti.customers.lookup(account_number=account)
    assert sandbox.stats.count("lookup", 200) == 8
    assert sandbox.stats.token_grants == {"client_credentials": 1, "refresh_token": 1}


async def test_closing_the_client_cancels_a_pending_background_refresh() -> None:
    clock = SandboxClock(frozen=True)
    sandbox = FlexitiSandbox(seed=44, clock=clock)
    account = sandbox.find_account(status="N").account_number
    with anyio.fail_after(30):  # a hang fails the test
        async with sandbox.client(clock=lambda: clock.now().timestamp()) as flexiti:
            await flexiti.customers.lookup(account_number=account)
            manager = flexiti.token_manager
            clock.advance(1200 - 30)
            sandbox.faults.add(route="token", fault=Fault.latency(60.0), times=1)
            await flexiti.customers.lookup(account_number=account)
            await _until(lambda: sandbox.stats.in_flight_token == 1)
    assert manager._flight is None  # nobody is left waiting on a cancelled fetch
    assert not flexiti._family.background
    assert sandbox.stats.count("lookup", 200) == 2
