"""Helpers shared by the resource tests: canned answers, wire assertions, the global error
codes, and one valid call per resource method."""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from flexiti_async import FlexitiClient, errors
from flexiti_async.errors import ErrorCode
from flexiti_async.models import (
    FinancingOption,
    SkuData,
    SkuProduct,
    TransactionType,
)
from tests._mock_api import CLIENT_ID, MockAPI

FIXTURES = Path(__file__).parent / "fixtures"
PREFIX = f"/flexiti/pos-api/v{{version}}/client-id/{CLIENT_ID}/"

Call = Callable[[FlexitiClient], Awaitable[Any]]


def fixture_bytes(name: str) -> bytes:
    """A recorded response body, byte for byte (amounts keep their decimal text)."""
    return (FIXTURES / name).read_bytes()


def respond(body: bytes | Any, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    """A MockAPI default answering every API call with ``body`` (bytes or JSON-able)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers={"content-type": "application/json"})

    return handler


def api_with(body: bytes | Any, status: int = 200) -> MockAPI:
    api = MockAPI()
    api.default = respond(body, status)
    return api


def paged_api(pages: Mapping[int, Any]) -> MockAPI:
    """A MockAPI answering each listing call with ``pages[page_number]`` (JSON-able)."""
    api = MockAPI()
    api.default = lambda r: httpx.Response(200, json=pages[int(r.url.params["page_number"])])
    return api


def only_request(api: MockAPI) -> httpx.Request:
    (request,) = api.api_requests
    return request


def assert_wire(
    request: httpx.Request,
    method: str,
    path: str,
    *,
    version: str = "2.5",
    params: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> None:
    """Exact method, URL (version segment, path, query), auth headers and body bytes."""
    assert request.method == method
    assert request.url.path == PREFIX.format(version=version) + path
    assert dict(request.url.params) == dict(params or {})
    assert request.headers["authorization"].startswith("Bearer token-")
    assert len(request.headers["x-reference-id"]) == 32
    if body is None:
        assert request.content == b""
        assert "content-type" not in request.headers
    else:
        assert request.content == body
        assert request.headers["content-type"] == "application/json"


def assert_no_io(api: MockAPI) -> None:
    assert api.api_requests == []
    assert api.token_forms == []  # not even a token was fetched


async def refused(
    call: Callable[[FlexitiClient], Any],
    raises: type[Exception] | tuple[type[Exception], ...] = errors.InvalidRequestError,
) -> Any:
    """``call`` raises ``raises`` (an InvalidRequestError) before any I/O; the exception.

    A call returning a coroutine is awaited; a listing must refuse as it is called.
    """

    async def attempt(flexiti: FlexitiClient) -> None:
        result = call(flexiti)
        if inspect.iscoroutine(result):
            await result

    api = api_with(b"{}")
    async with api.client() as flexiti:
        with pytest.raises(raises) as caught:
            await attempt(flexiti)
    assert_no_io(api)
    return caught.value


async def sent_once(
    call: Call,
    failure: Exception | httpx.Response,
    raises: type[Exception],
    *,
    body: bytes | Any = b"{}",
) -> tuple[Any, httpx.Request]:
    """The one request fails with ``failure``; ``call`` raises ``raises`` without a resend.

    Returns the exception and the request (for a call that may have taken effect).
    """
    api = api_with(body)
    api.script = [failure]
    async with api.client() as flexiti:
        with pytest.raises(raises) as caught:
            await call(flexiti)
    assert len(api.api_requests) == 1
    return caught.value, api.api_requests[0]


async def call_and_catch(api: MockAPI, call: Call) -> BaseException:
    async with api.client() as flexiti:
        with pytest.raises(errors.FlexitiError) as caught:
            await call(flexiti)
    return caught.value


def error_body(status: int, code: str | None) -> dict[str, Any]:
    if code is None:  # the 403 scope error: message only (layout undocumented)
        return {"message": "Insufficient scope: authorized scope is insufficient"}
    if code in ("wrong_inputs", "wrong_input"):
        return {
            "url": "/x",
            "message": "Some inputs are wrong!",
            "error": code,
            "field_errors": [{"param": "amount", "msg": "invalid", "value": "x"}],
        }
    return {"code": status, "error": code, "error_description": code}


#: Codes Flexiti returns on nearly every endpoint (reference §4.3), with their class.
GLOBAL_ERRORS: list[tuple[int, str | None, type[errors.APIStatusError]]] = [
    (403, None, errors.PermissionDeniedError),
    (409, "invalid_role", errors.NotPermittedError),
    (409, "general_error", errors.ConflictError),
    (409, "generic_error", errors.ConflictError),
    (409, "wrong_inputs", errors.InputValidationError),
    (409, "wrong_input", errors.InputValidationError),
    (500, None, errors.ServerError),
]


async def check_error(call: Call, status: int, code: str | None, cls: type[Exception]) -> None:
    """``call`` answered with ``status``/``code`` raises exactly ``cls`` with the code."""
    body: Any = error_body(status, code) if status != 500 else "<html>oops</html>"
    api = MockAPI()
    if status == 500:
        api.default = lambda _: httpx.Response(500, text="<html>oops</html>")
    else:
        api.default = respond(body, status)
    exc = await call_and_catch(api, call)
    assert type(exc) is cls, (status, code, type(exc))
    assert isinstance(exc, errors.APIStatusError)
    assert exc.status_code == status
    if code is not None:
        assert exc.raw_code == code
        assert isinstance(exc.code, ErrorCode)
        assert exc.code == ErrorCode.parse(code)
    elif status == 403:
        assert exc.code == ErrorCode.INSUFFICIENT_SCOPE
    assert exc.reference_id is not None
    assert len(api.api_requests) >= 1


# ------------------------------------------------------------------ one valid call per method

SKU = SkuData(
    purchase_order="PO1",
    register_id="R1",
    transaction_subtotal=Decimal("90"),
    gst_hst=Decimal("10"),
    transaction_total=Decimal("100"),
    products=[SkuProduct(sku_id="S1", quantity=1, unit_price=Decimal("90"))],
)
PROMO = FinancingOption(transaction_type=TransactionType.PROMOTIONAL_PURCHASE, plan_id=1, term=12)
IN_STORE: dict[str, Any] = {
    "verification_code": 1234,
    "request_id": "req-1",
    "external_location_id": "00-00000",
    "external_employee_id": "E-1",
}

#: name -> a valid call of every public method (used by the global error table).
VALID_CALLS: dict[str, Call] = {
    "customers.search": lambda f: f.customers.search(
        first_name="Jane", last_name="Doe", dob=dt.date(1980, 1, 2)
    ),
    "customers.lookup": lambda f: f.customers.lookup(account_number=100000001),
    "customers.decode_drivers_license": lambda f: f.customers.decode_drivers_license(
        code="@\nANSI DCSDOE\nDACJANE"
    ),
    "accounts.verify": lambda f: f.accounts.verify(100000001, request_id="r"),
    "accounts.calculate_interest": lambda f: f.accounts.calculate_interest(
        100000001, amount=Decimal("100")
    ),
    "accounts.close": lambda f: f.accounts.close(100000001),
    "accounts.refund": lambda f: f.accounts.refund(100000001, amount=Decimal("1")),
    "authorizations.create": lambda f: f.authorizations.create(
        account_number=100000001, amount=Decimal("100"), financing_option=PROMO
    ),
    "authorizations.retrieve": lambda f: f.authorizations.retrieve(5),
    "authorizations.list": lambda f: f.authorizations.list().first_page(),
    "authorizations.capture": lambda f: f.authorizations.capture(5, amount=Decimal("1")),
    "authorizations.release": lambda f: f.authorizations.release(5),
    "authorizations.return_capture": lambda f: f.authorizations.return_capture(5, 6),
    "captures.list": lambda f: f.captures.list().first_page(),
    "transactions.create": lambda f: f.transactions.create(
        transaction_type="deposit", amount=Decimal("10"), account_number=1, **IN_STORE
    ),
    "widget.init": lambda f: f.widget.init(flow="purchase", account_number=1),
    "applications.apply": lambda f: f.applications.apply({"first_name": "A"}),
    "content.terms_and_conditions": lambda f: f.content.terms_and_conditions(),
    "content.i18n": lambda f: f.content.i18n(),
    "merchants.login": lambda f: f.merchants.login(),
}
