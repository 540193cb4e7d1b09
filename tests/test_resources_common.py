"""Cross-cutting resource checks: every method validates before any I/O (Hypothesis fuzz),
and the global error codes map on every endpoint. Shared helpers: tests/_resources.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flexiti_async import FlexitiClient, errors
from flexiti_async.models import (
    FinancingOption,
    PersonalInformation,
    TransactionType,
    VerifyFormat,
)
from tests._resources import (
    GLOBAL_ERRORS,
    PROMO,
    SKU,
    VALID_CALLS,
    api_with,
    assert_no_io,
    check_error,
    error_body,
)

pytestmark = pytest.mark.anyio


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
