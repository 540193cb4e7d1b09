"""The request pipeline: URLs, headers, tokens, retries, errors, redaction, lifecycle."""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from functools import partial

import anyio
import httpx
import pytest

from flexiti_async import FlexitiClient, RetryPolicy, errors
from tests._mock_api import BASE, CARD, CLIENT_ID, CLIENT_SECRET, MockAPI

pytestmark = pytest.mark.anyio

HEX32 = re.compile(r"^[0-9a-f]{32}$")


# ---------------------------------------------------------------- construction (sync)


@pytest.mark.parametrize(
    "url",
    ["http://pos.example.com/flexiti/pos-api", "http://10.0.0.5/flexiti/pos-api", "ftp://x/y"],
)
def test_plain_http_refused_unless_loopback(url: str) -> None:
    with pytest.raises(errors.InvalidRequestError):
        FlexitiClient("id", "secret", base_url=url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/flexiti/pos-api", "http://127.0.0.1:8000/flexiti/pos-api"),
        ("http://localhost:9/flexiti/pos-api/", "http://localhost:9/flexiti/pos-api"),
        ("http://[::1]:9/flexiti/pos-api/v2.5", "http://[::1]:9/flexiti/pos-api"),
        (
            "https://pos.example.com/flexiti/pos-api/v2.5.1",
            "https://pos.example.com/flexiti/pos-api",
        ),
    ],
)
def test_base_url_normalised(url: str, expected: str) -> None:
    assert FlexitiClient("id", "secret", base_url=url).base_url == expected


def test_environments_and_from_env() -> None:
    client = FlexitiClient.from_env(
        {
            "FLEXITI_CLIENT_ID": "cid",
            "FLEXITI_CLIENT_SECRET": "sec",
            "FLEXITI_ENVIRONMENT": "mi",
        }
    )
    assert client.base_url == "https://posapi-mi.flexiti.fi/flexiti/pos-api"
    assert FlexitiClient("a", "b", environment="production").base_url.startswith(
        "https://posapi.flexiti.fi"
    )
    with pytest.raises(errors.InvalidRequestError):
        FlexitiClient.from_env({})
    with pytest.raises(errors.InvalidRequestError):
        FlexitiClient("a", "b", environment="staging")


def test_repr_never_shows_the_secret() -> None:
    client = FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=BASE)
    assert CLIENT_SECRET not in repr(client)
    assert CLIENT_SECRET not in repr(client.token_manager)


@pytest.mark.parametrize(
    "kwargs",
    [{"scope": "admin"}, {"lang": "de"}, {"max_concurrency": 0}, {"max_retries": -1}],
)
def test_bad_options_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidRequestError):
        FlexitiClient("a", "b", **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the wire


async def test_lookup_wire_format_and_token_form() -> None:
    api = MockAPI()
    async with api.client(lang="fr") as flexiti:
        profile = await flexiti.customers.lookup(account_number=100000001)
    assert profile.account_number == 100000001
    assert profile.available_credit == Decimal("500.00")
    (request,) = api.api_requests
    assert request.method == "GET"
    assert request.url.path == f"/flexiti/pos-api/v2.5/client-id/{CLIENT_ID}/customers/lookup"
    assert dict(request.url.params) == {"account_number": "100000001", "lang": "fr"}
    assert request.headers["authorization"] == f"Bearer {api.issued}"
    assert HEX32.match(request.headers["x-reference-id"])
    # Token: form-encoded body, never the query string.
    assert api.token_queries == [""]
    assert api.token_forms[0] == {
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "grant_type": ["client_credentials"],
        "scope": ["merchant"],
    }


async def test_lookup_needs_exactly_one_identifier_and_sends_nothing_otherwise() -> None:
    api = MockAPI()
    async with api.client() as flexiti:
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.customers.lookup()
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.customers.lookup(account_number=1, customer_id="2")
        with pytest.raises(errors.InvalidRequestError) as caught:
            await flexiti.customers.lookup(vcc_number="4111-bad")
        assert "4111" not in str(caught.value)
    assert api.api_requests == []
    assert api.token_forms == []  # validation happens before any I/O, the token included


async def test_escape_hatch_goes_through_the_pipeline() -> None:
    api = MockAPI()
    api.default = lambda r: httpx.Response(200, json={"value": 10.10, "n": 3})
    async with api.client() as flexiti:
        body = await flexiti.request(
            "POST", "/custom/thing", json={"amount": Decimal("5")}, version="2.5.1"
        )
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.request("GET", "../oauth/token")
    assert body == {"value": Decimal("10.10"), "n": 3}
    assert not isinstance(body["value"], float)
    (request,) = api.api_requests
    assert request.url.path.endswith("/v2.5.1/client-id/test-client/custom/thing")
    assert request.content == b'{"amount":5.00}'
    assert request.headers["content-type"] == "application/json"


# ---------------------------------------------------------------- tokens through the client


async def test_thousand_concurrent_calls_on_a_cold_client_fetch_one_token() -> None:
    api = MockAPI()
    async with api.client(max_concurrency=50) as flexiti:
        async with anyio.create_task_group() as tg:
            for n in range(1000):
                tg.start_soon(partial(flexiti.customers.lookup, customer_id=n + 1))
    assert api.grants() == 1
    assert len(api.api_requests) == 1000
    assert api.high_water <= 50


async def test_revoked_token_is_replaced_once_and_replayed() -> None:
    api = MockAPI()
    async with api.client() as flexiti:
        await flexiti.customers.lookup(account_number=1)
        api.revoked.add(api.issued)
        async with anyio.create_task_group() as tg:
            for n in range(100):
                tg.start_soon(partial(flexiti.customers.lookup, customer_id=n + 1))
    assert api.grants() == 2  # one new token for the whole burst
    # 1 + 100 first tries (some with the revoked token) + one replay per 401.
    statuses_401 = sum(
        1
        for r in api.api_requests
        if r.headers["authorization"] == "Bearer token-" + "0" * 33 + "1"
    )
    assert len(api.api_requests) == 101 + statuses_401 - 1


async def test_second_401_raises_authentication_error() -> None:
    api = MockAPI()
    api.default = lambda r: httpx.Response(
        401, json={"code": 401, "error": "invalid_token", "error_description": "nope"}
    )
    async with api.client() as flexiti:
        with pytest.raises(errors.AuthenticationError) as caught:
            await flexiti.customers.lookup(account_number=1)
    assert len(api.api_requests) == 2
    assert api.grants() == 2
    assert caught.value.code is errors.ErrorCode.INVALID_TOKEN
    # The exception's request does not carry the bearer token.
    assert caught.value.response is not None
    assert "token-" not in caught.value.response.request.headers["authorization"]


async def test_bad_credentials_raise_authentication_error_without_the_secret() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={"code": 400, "error": "invalid_client", "error_description": CLIENT_SECRET},
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=BASE, http_client=http) as c:
        with pytest.raises(errors.AuthenticationError) as caught:
            await c.customers.lookup(account_number=1)
    exc = caught.value
    assert CLIENT_SECRET not in str(exc)
    assert CLIENT_SECRET not in (exc.description or "")
    assert exc.response is not None
    assert CLIENT_SECRET.encode() not in exc.response.request.content


# ---------------------------------------------------------------- retries


def reset() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("Server disconnected without sending a response.")


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503),
        httpx.Response(500, text="<html><body>Internal error</body></html>"),
        httpx.Response(502),
        httpx.Response(504),
        httpx.Response(429, headers={"retry-after": "0"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        reset(),
        httpx.Response(200, content=b"{not json"),
    ],
    ids=["503", "500-html", "502", "504", "429", "connect", "read-timeout", "reset", "bad-json"],
)
async def test_get_is_retried(failure: httpx.Response | Exception) -> None:
    api = MockAPI()
    api.script = [failure]
    async with api.client() as flexiti:
        profile = await flexiti.customers.lookup(account_number=1)
    assert profile.account_number == 100000001
    assert len(api.api_requests) == 2


async def test_get_gives_up_after_max_retries() -> None:
    api = MockAPI()
    api.default = lambda r: httpx.Response(503, text="busy")
    async with api.client() as flexiti:
        with pytest.raises(errors.ServerError) as caught:
            await flexiti.customers.lookup(account_number=1)
    assert len(api.api_requests) == 3
    assert caught.value.status_code == 503
    assert HEX32.match(caught.value.reference_id or "")


async def test_retry_after_http_date_and_cap() -> None:
    api = MockAPI()
    api.default = lambda r: httpx.Response(
        429, headers={"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"}
    )
    async with api.client() as flexiti:
        with pytest.raises(errors.RateLimitError) as caught:
            await flexiti.customers.lookup(account_number=1)
    # Far beyond the cap: not retried, raised with the requested wait.
    assert len(api.api_requests) == 1
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 60


@pytest.mark.parametrize("failure", [reset(), httpx.ReadTimeout("slow"), httpx.WriteError("x")])
async def test_state_changing_post_that_may_have_arrived_is_not_resent(
    failure: Exception,
) -> None:
    api = MockAPI()
    api.script = [failure]
    async with api.client() as flexiti:
        with pytest.raises(errors.OutcomeUnknownError) as caught:
            await flexiti.request("POST", "authorization/1/capture", json={"amount": Decimal(1)})
    assert len(api.api_requests) == 1
    assert not isinstance(caught.value, errors.APIConnectionError)
    assert caught.value.reference_id == api.api_requests[0].headers["x-reference-id"]


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.Response(429, headers={"retry-after": "0"})],
    ids=["never-connected", "429"],
)
async def test_state_changing_post_is_retried_when_it_never_arrived(
    failure: httpx.Response | Exception,
) -> None:
    api = MockAPI()
    api.script = [failure]
    api.default = lambda r: httpx.Response(200, json={"capture_id": 7})
    async with api.client() as flexiti:
        body = await flexiti.request("POST", "authorization/1/capture", json={"amount": 1})
    assert body == {"capture_id": 7}
    assert len(api.api_requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_state_changing_post_5xx_is_not_retried(status: int) -> None:
    api = MockAPI()
    api.default = lambda r: httpx.Response(status, json={"code": status, "error": "general_error"})
    async with api.client() as flexiti:
        with pytest.raises(errors.ServerError):
            await flexiti.request("POST", "authorization/1/release", json={})
    assert len(api.api_requests) == 1


async def test_malformed_json_on_a_post_is_a_validation_error_not_a_crash() -> None:
    api = MockAPI()
    api.default = lambda r: httpx.Response(200, content=b"<html>oops")
    async with api.client() as flexiti:
        with pytest.raises(errors.ResponseValidationError) as caught:
            await flexiti.request("POST", "authorization/1/capture", json={})
    assert len(api.api_requests) == 1
    assert caught.value.status_code == 200


async def test_connection_errors_raise_api_connection_error_after_retries() -> None:
    api = MockAPI()
    api.script = [httpx.ConnectError("refused")] * 3
    async with api.client() as flexiti:
        with pytest.raises(errors.APIConnectionError):
            await flexiti.customers.lookup(account_number=1)
    api.script = [httpx.ConnectTimeout("slow")] * 3
    async with api.client() as flexiti:
        with pytest.raises(errors.APITimeoutError):
            await flexiti.customers.lookup(account_number=1)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (
            404,
            {"code": 404, "error": "not_found", "error_description": "x"},
            errors.NotFoundError,
            errors.ErrorCode.NOT_FOUND,
        ),
        (
            409,
            {"code": 409, "error": "user_not_able_to_purchase"},
            errors.AccountStatusError,
            errors.ErrorCode.USER_NOT_ABLE_TO_PURCHASE,
        ),
        (
            409,
            {"code": 409, "error": "generic_error"},
            errors.ConflictError,
            errors.ErrorCode.GENERAL_ERROR,
        ),
        (409, {"code": 409, "error": "brand_new_code"}, errors.ConflictError, "brand_new_code"),
        (
            403,
            {"message": "Insufficient scope: authorized scope is insufficient"},
            errors.PermissionDeniedError,
            errors.ErrorCode.INSUFFICIENT_SCOPE,
        ),
        (
            400,
            {"code": 400, "error": "sms_not_valid_phone"},
            errors.BadRequestError,
            errors.ErrorCode.SMS_NOT_VALID_PHONE,
        ),
    ],
)
async def test_error_bodies_map_to_classes(
    status: int, body: dict[str, object], cls: type[Exception], code: object
) -> None:
    api = MockAPI()
    api.default = lambda r: httpx.Response(status, json=body)
    async with api.client() as flexiti:
        with pytest.raises(cls) as caught:
            await flexiti.customers.lookup(account_number=1)
    assert type(caught.value) is cls
    assert caught.value.code == code  # type: ignore[attr-defined]


async def test_wrong_inputs_body_gives_field_errors_with_secrets_masked() -> None:
    api = MockAPI()
    api.default = lambda r: httpx.Response(
        409,
        json={
            "url": "/x",
            "message": "Some inputs are wrong!",
            "error": "wrong_input",
            "field_errors": [
                {"param": "vcc_number", "msg": "invalid", "value": CARD},
                {"param": "email", "msg": "invalid", "value": "nope"},
            ],
        },
    )
    async with api.client() as flexiti:
        with pytest.raises(errors.InputValidationError) as caught:
            await flexiti.customers.lookup(account_number=1)
    exc = caught.value
    assert exc.code is errors.ErrorCode.WRONG_INPUTS
    assert exc.raw_code == "wrong_input"
    assert [f.param for f in exc.field_errors] == ["vcc_number", "email"]
    assert CARD not in repr(exc.field_errors) + str(exc)
    assert exc.field_errors[0].value == "************4444"


# ---------------------------------------------------------------- redaction and logging


async def test_debug_log_has_one_line_per_attempt_and_no_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = MockAPI()
    api.script = [httpx.Response(503)]
    caplog.set_level(logging.DEBUG, logger="flexiti_async")
    async with api.client() as flexiti:
        await flexiti.customers.lookup(vcc_number=CARD)
    lines = [r.getMessage() for r in caplog.records if r.name == "flexiti_async"]
    api_lines = [line for line in lines if "customers/lookup" in line]
    assert len(api_lines) == 2
    assert "-> 503" in api_lines[0]
    assert "attempt 2" in api_lines[1]
    text = "\n".join(lines)
    for secret in (CLIENT_SECRET, api.issued, CARD):
        assert secret not in text


# ---------------------------------------------------------------- lifecycle and sharing


async def test_closed_client_raises_and_injected_pool_stays_open() -> None:
    api = MockAPI()
    http = httpx.AsyncClient(transport=httpx.MockTransport(api.handler))
    flexiti = FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=BASE, http_client=http)
    async with flexiti:
        await flexiti.customers.lookup(account_number=1)
    assert flexiti.is_closed
    with pytest.raises(errors.ClientClosedError):
        await flexiti.customers.lookup(account_number=1)
    assert not http.is_closed
    await http.aclose()


async def test_a_closed_injected_http_client_gives_a_typed_error_not_a_runtime_error() -> None:
    """The user closed the http_client they gave us: the next call says so, sends nothing."""
    api = MockAPI()
    http = httpx.AsyncClient(transport=httpx.MockTransport(api.handler))
    async with FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=BASE, http_client=http) as c:
        await c.customers.lookup(account_number=1)
        sent = len(api.api_requests)
        await http.aclose()
        with pytest.raises(errors.ClientClosedError, match="injected http_client is closed"):
            await c.customers.lookup(account_number=1)
        assert len(api.api_requests) == sent
        assert not c.is_closed  # the FlexitiClient itself was not closed


async def test_own_pool_is_closed_and_aclose_is_idempotent() -> None:
    flexiti = FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=BASE)
    await flexiti.aclose()
    await flexiti.aclose()
    assert flexiti._family.http.is_closed


async def test_with_options_shares_pool_and_tokens_per_scope() -> None:
    api = MockAPI()
    async with api.client() as flexiti:
        derived = flexiti.with_options(lang="fr", max_retries=0)
        customer = flexiti.with_options(scope="customer")
        await flexiti.customers.lookup(account_number=1)
        await derived.customers.lookup(account_number=2)
        await customer.request("POST", "widget/init", json={"flow": "purchase"})
        assert derived.token_manager is flexiti.token_manager
        assert customer.token_manager is not flexiti.token_manager
        assert derived.retry_policy.max_retries == 0
        await derived.aclose()  # a derived client does not own the pool
        assert not flexiti.is_closed
    assert api.grants() == 2  # one per scope
    assert [f["scope"] for f in api.token_forms] == [["merchant"], ["customer"]]
    assert dict(api.api_requests[1].url.params)["lang"] == "fr"


async def test_admission_limit_holds_with_an_injected_client() -> None:
    api = MockAPI()
    api.hold = anyio.Event()
    async with api.client(max_concurrency=7) as flexiti:
        async with anyio.create_task_group() as tg:
            for n in range(200):
                tg.start_soon(partial(flexiti.customers.lookup, customer_id=n + 1))
            await anyio.wait_all_tasks_blocked()
            assert api.in_flight == 7
            api.hold.set()
    assert api.high_water == 7
    assert len(api.api_requests) == 200


async def test_admission_wait_bounded_by_an_explicit_pool_timeout() -> None:
    api = MockAPI()
    api.hold = anyio.Event()
    timeout = httpx.Timeout(5.0, pool=0.05)
    async with api.client(
        max_concurrency=1, timeout=timeout, max_retries=0, retry_policy=RetryPolicy(max_retries=0)
    ) as flexiti:
        outcomes: list[str] = []

        async def call(n: int) -> None:
            try:
                await flexiti.customers.lookup(account_number=n)
                outcomes.append("ok")
            except errors.APITimeoutError:
                outcomes.append("timeout")

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, 1)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(call, 2)
            with anyio.fail_after(10):
                while not outcomes:
                    await anyio.sleep(0.01)
            api.hold.set()
    assert sorted(outcomes) == ["ok", "timeout"]
