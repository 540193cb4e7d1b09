"""Testing ergonomics: Page as a sequence, serve() errors unwrapped, case-insensitive choices,
reference id checks, the Location helper, Blocked statuses."""

from __future__ import annotations

from decimal import Decimal

import pytest

import flexiti_async
from flexiti_async import RetryPolicy, errors, reference_id
from flexiti_async.models import FinancingOption, Location, VerifyFormat
from flexiti_async.testing import FlexitiSandbox, read_pin

from .conftest import PROMOTIONAL, START

pytestmark = pytest.mark.anyio

TILL = Location(external_location_id="00-00001", external_employee_id="7-SMITH")


def _sandbox() -> FlexitiSandbox:
    from flexiti_async.testing import SandboxClock

    box = FlexitiSandbox(seed=9, clock=SandboxClock(start=START, frozen=True))
    box.add_store(TILL.external_location_id)
    return box


async def test_page_has_len_and_iterates() -> None:
    box = _sandbox()
    acct = box.find_account().account_number
    for amount in ("10.00", "20.00", "30.00"):
        box.add_history(created=START, amount=amount, account_number=acct)
    async with box.client() as flexiti:
        page = await flexiti.authorizations.list(account_number=acct, page_size=2)
        assert len(page) == 2
        assert [auth.amount for auth in page] == [Decimal("10.00"), Decimal("20.00")]
        assert list(page) == list(page.items)
        # Amounts are Decimal | None: a typed sum skips the missing ones.
        total = sum((auth.amount for auth in page if auth.amount is not None), Decimal("0"))
        assert total == Decimal("30.00")


async def _retrieve_missing(box: FlexitiSandbox) -> None:
    async with box.serve() as base_url:
        async with flexiti_async.FlexitiClient(
            box.client_id, box.client_secret, base_url=base_url
        ) as flexiti:
            await flexiti.authorizations.retrieve(999)


async def test_serve_reraises_a_lone_error_unwrapped() -> None:
    caught: BaseException | None = None
    try:
        await _retrieve_missing(_sandbox())
    except errors.NotFoundError as exc:  # a plain except clause, as users write it
        caught = exc
    assert type(caught) is errors.NotFoundError


async def test_verify_format_is_case_insensitive() -> None:
    assert VerifyFormat("SMS") is VerifyFormat.SMS
    assert VerifyFormat("Security_Question") is VerifyFormat.SECURITY_QUESTION
    with pytest.raises(ValueError):
        VerifyFormat("carrier-pigeon")
    box = _sandbox()
    acct = box.find_account().account_number
    async with box.client() as flexiti:
        result = await flexiti.accounts.verify(acct, format="SMS", request_id="r-1")
        assert result.verification_code is None
        assert box.last_pin(acct) == await read_pin(flexiti, acct)
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.accounts.verify(acct, format="fax", request_id="r-1")
        session = await flexiti.with_options(scope="customer").widget.init(
            flow="PURCHASE", account_number=acct
        )
        assert "widget_session_id=" in session.redirection_url


@pytest.mark.parametrize(
    "value",
    ["a" * 33, "", "has space", "emoji-\u2603", "0123456789abcdef-0123456789abcdef0"],
)
def test_reference_id_is_validated(value: str) -> None:
    with pytest.raises(errors.InvalidRequestError) as caught:
        reference_id(value)
    assert caught.value.field == "reference_id"


@pytest.mark.parametrize("value", ["a" * 32, "short", "till-7-0042", "ABC-123"])
def test_reference_id_accepts_1_to_32_of_the_alphabet(value: str) -> None:
    with reference_id(value) as ref:
        assert ref == value


async def test_location_stands_for_the_store_pair() -> None:
    box = _sandbox()
    acct = box.find_account().account_number
    async with box.client() as flexiti:
        await flexiti.accounts.verify(acct, format="sms", request_id="till-1")
        auth = await flexiti.authorizations.create(
            account_number=acct,
            amount=Decimal("50.00"),
            financing_option=FinancingOption(**PROMOTIONAL),
            verification_code=await read_pin(flexiti, acct),
            request_id="till-1",
            location=TILL,
        )
        capture = await flexiti.authorizations.capture(
            auth.authorization_id, amount=Decimal("20.00"), location=TILL
        )
        # The old keywords keep working.
        await flexiti.authorizations.release(
            auth.authorization_id,
            external_location_id=TILL.external_location_id,
            external_employee_id=TILL.external_employee_id,
        )
        with pytest.raises(errors.InvalidRequestError) as caught:
            await flexiti.authorizations.capture(
                auth.authorization_id,
                amount=Decimal("1.00"),
                location=TILL,
                external_location_id="00-00002",
            )
        assert caught.value.field == "location"
    stored = box.capture(int(capture.capture_id))
    assert (stored.external_location_id, stored.external_employee_id) == (
        TILL.external_location_id,
        TILL.external_employee_id,
    )


@pytest.mark.parametrize("status", [465, 466, 467])
def test_blocked_statuses_map_to_blocked_error(status: int) -> None:
    from flexiti_async.errors import error_class

    assert error_class(status, None) is errors.BlockedError
    assert issubclass(flexiti_async.BlockedError, flexiti_async.PermissionDeniedError)
    for idempotent in (True, False):
        assert not RetryPolicy.retryable_status(status, idempotent=idempotent)


async def test_listing_status_is_case_insensitive() -> None:
    box = _sandbox()
    acct = box.find_account().account_number
    box.add_history(created=START, amount="10.00", account_number=acct, captured=False)
    box.add_history(created=START, amount="20.00", account_number=acct, captured=True)
    async with box.client() as flexiti:
        page = await flexiti.authorizations.list(account_number=acct, authorization_status="OPENED")
        assert [auth.amount for auth in page] == [Decimal("10.00")]
