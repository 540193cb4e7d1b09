"""Helpers shared by the resource tests, plus cross-cutting checks: every method validates
before any I/O (Hypothesis fuzz), and the global error codes map on every endpoint."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flexiti_async import FlexitiClient, errors
from flexiti_async.errors import ErrorCode
from flexiti_async.models import (
    FinancingOption,
    PersonalInformation,
    SkuData,
    SkuProduct,
    TransactionType,
    VerifyFormat,
)
from tests._mock_api import CLIENT_ID, MockAPI

pytestmark = pytest.mark.anyio

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


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(("status", "code", "cls"), GLOBAL_ERRORS)
@pytest.mark.parametrize("name", sorted(VALID_CALLS))
async def test_global_error_codes_map_on_every_endpoint(
    name: str, status: int, code: str | None, cls: type[Exception]
) -> None:
    await check_error(VALID_CALLS[name], status, code, cls)


# ------------------------------------------------------------------ fuzz: validate or send

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet="0123456789 -", max_size=20),
    st.dates().map(lambda d: d),
    st.datetimes(),
    st.sampled_from(list(VerifyFormat) + list(TransactionType)),
    st.sampled_from(["en", "fr", "sms", "deposit", "purchase", "apply", "A1A 1A1", "opened"]),
    st.just(PROMO),
    st.just(SKU),
    st.builds(
        PersonalInformation,
        first_name=st.text(max_size=5),
        last_name=st.text(max_size=5),
        dob=st.dates(),
        postal_code=st.one_of(st.none(), st.text(max_size=8)),
    ),
    st.builds(
        FinancingOption,
        transaction_type=st.sampled_from(["promotional_purchase", "regular_purchase", "x"]),
        plan_id=st.one_of(st.none(), st.integers(-5, 2000)),
        term=st.one_of(st.none(), st.integers(-5, 2000)),
    ),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)

#: method -> (positional parameter names, keyword parameter names) to fuzz.
FUZZ_TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "customers.search": ((), ("first_name", "last_name", "dob", "postal_code")),
    "customers.lookup": ((), ("account_number", "vcc_number", "customer_id", "lang")),
    "customers.decode_drivers_license": ((), ("code",)),
    "accounts.verify": (
        ("account_number",),
        ("format", "request_id", "vcc_number", "security_qid", "security_answer"),
    ),
    "accounts.calculate_interest": (("account_number",), ("amount", "lang")),
    "accounts.close": (("account_number",), ()),
    "accounts.refund": (
        ("account_number",),
        (
            "amount",
            "reference",
            "capture_id",
            "vcc_number",
            "external_location_id",
            "external_employee_id",
            "sku_data",
        ),
    ),
    "authorizations.create": (
        (),
        (
            "account_number",
            "amount",
            "financing_option",
            "auto_capture",
            "reference",
            "vcc_number",
            "verification_code",
            "request_id",
            "external_location_id",
            "external_employee_id",
            "sku_data",
            "lang",
        ),
    ),
    "authorizations.retrieve": (("authorization_id",), ("lang",)),
    "authorizations.list": (
        (),
        (
            "account_number",
            "transaction_type",
            "authorization_status",
            "creation_date_from",
            "creation_date_to",
            "external_location_id",
            "page_size",
            "page_number",
            "prefetch",
            "max_items",
            "lang",
        ),
    ),
    "authorizations.capture": (
        ("authorization_id",),
        ("amount", "reference", "external_location_id", "external_employee_id", "lang"),
    ),
    "authorizations.release": (
        ("authorization_id",),
        ("amount", "external_location_id", "external_employee_id"),
    ),
    "authorizations.return_capture": (
        ("authorization_id", "capture_id"),
        ("amount", "reference", "vcc_number", "external_location_id", "external_employee_id"),
    ),
    "captures.list": (
        (),
        (
            "account_number",
            "authorization_id",
            "creation_date_from",
            "creation_date_to",
            "external_location_id",
            "page_size",
            "max_items",
            "lang",
        ),
    ),
    "transactions.create": (
        (),
        (
            "transaction_type",
            "amount",
            "verification_code",
            "account_number",
            "vcc_number",
            "customer_id",
            "request_id",
            "external_location_id",
            "external_employee_id",
            "idempotency_key",
            "lang",
        ),
    ),
    "widget.init": (
        (),
        (
            "flow",
            "account_number",
            "vcc_number",
            "personal_information",
            "lang",
            "tos_agreement",
            "email",
            "phone_number",
            "address_1",
            "city",
            "province",
            "account_type",
        ),
    ),
    "applications.apply": (("payload",), ()),
    "content.terms_and_conditions": ((), ("lang",)),
    "content.i18n": ((), ("lang",)),
    "merchants.login": ((), ("merchant_username", "merchant_password", "lang")),
}


def _bound(flexiti: FlexitiClient, name: str) -> Callable[..., Any]:
    group, method = name.split(".")
    return getattr(getattr(flexiti, group), method)  # type: ignore[no-any-return]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", sorted(FUZZ_TARGETS))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_fuzz_arguments_validate_or_send(name: str, data: st.DataObject) -> None:
    """Arbitrary argument values: InvalidRequestError before any I/O, or a request goes
    out (the mock answers 409 general_error). Never any other exception."""
    positional, keywords = FUZZ_TARGETS[name]
    args = [data.draw(_scalars, label=p) for p in positional]
    kwargs = {
        k: data.draw(_scalars, label=k)
        for k in keywords
        if data.draw(st.booleans(), label=f"give {k}")
    }
    api = api_with(error_body(409, "general_error"), 409)
    outcome: BaseException | None = None
    async with api.client() as flexiti:
        try:
            result = _bound(flexiti, name)(*args, **kwargs)
            if hasattr(result, "first_page"):
                await result.first_page()
            else:
                await result
        except (errors.InvalidRequestError, errors.ConflictError, TypeError) as exc:
            outcome = exc
    if isinstance(outcome, errors.InvalidRequestError):
        assert_no_io(api)
        assert outcome.field is None or isinstance(outcome.field, str)
    elif isinstance(outcome, errors.ConflictError):
        assert len(api.api_requests) == 1  # it was sent (the mock answers 409)
    elif outcome is not None:
        # Only a missing required keyword-only argument (a Python call error).
        assert isinstance(outcome, TypeError), outcome
        assert "required" in str(outcome)
        assert api.api_requests == []
