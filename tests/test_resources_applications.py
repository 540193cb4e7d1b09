"""applications.apply: the passthrough credit application."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from flexiti_async import errors
from tests._mock_api import MockAPI
from tests._resources import (
    GLOBAL_ERRORS,
    api_with,
    assert_no_io,
    assert_wire,
    check_error,
    only_request,
)

pytestmark = pytest.mark.anyio

# ------------------------------------------------------------------ apply


async def test_apply_is_a_passthrough() -> None:
    api = api_with({"application_status": "approved", "credit_limit": 1000.50})
    async with api.client() as flexiti:
        result = await flexiti.applications.apply(
            {"tos_agreement": True, "first_name": "Jane", "income": Decimal("5000")}
        )
    assert_wire(
        only_request(api),
        "POST",
        "apply",
        body=b'{"first_name":"Jane","income":5000.00,"tos_agreement":true}',
    )
    assert result == {"application_status": "approved", "credit_limit": Decimal("1000.50")}


async def test_apply_empty_answer_and_no_blind_resend() -> None:
    api = MockAPI()
    api.default = lambda _: httpx.Response(200)  # no body at all
    async with api.client() as flexiti:
        assert await flexiti.applications.apply({}) == {}
    api.script = [httpx.ReadTimeout("lost")]
    async with api.client() as flexiti:
        with pytest.raises(errors.OutcomeUnknownError):
            await flexiti.applications.apply({"a": 1})
    assert len(api.api_requests) == 2


async def test_apply_non_object_answer() -> None:
    api = api_with([1, 2])
    async with api.client() as flexiti:
        with pytest.raises(errors.ResponseValidationError):
            await flexiti.applications.apply({})


@pytest.mark.parametrize("payload", [[1, 2], "x", None, {1: "a"}, {"amount": 1.5}, {"x": object()}])
async def test_apply_validation_sends_nothing(payload: Any) -> None:
    api = api_with(b"{}")
    async with api.client() as flexiti:
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.applications.apply(payload)
    assert_no_io(api)


APPLY_ERRORS = [
    (400, "general_error", errors.BadRequestError),
    (409, "application_create_error", errors.ApplicationError),
    (409, "tos_agreement_required", errors.ApplicationError),
    (409, "customer_already_exists", errors.ApplicationError),
    (409, "not_verified", errors.VerificationError),
    (409, "external_location_id_not_found", errors.NotPermittedError),
    (409, "account_type_not_permitted", errors.NotPermittedError),
    (409, "application_declined", errors.ApplicationError),
    (409, "application_declined_2", errors.ApplicationError),
    (409, "application_declined_3", errors.ApplicationError),
    (409, "application_marked_pending_1", errors.ApplicationError),
    (409, "application_marked_pending_2", errors.ApplicationError),
    (409, "creditapp_id_not_found", errors.ApplicationError),
    *GLOBAL_ERRORS,
]


@pytest.mark.parametrize(("status", "code", "cls"), APPLY_ERRORS)
async def test_apply_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.applications.apply({"a": 1}), status, code, cls)
