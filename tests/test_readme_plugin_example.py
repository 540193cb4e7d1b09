"""The README's "Testing your integration" example, run as written through the pytest plugin
(the strict default sandbox: the online flow opens the widget before authorizing)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flexiti_async import FlexitiClient, errors
from flexiti_async.models import FinancingOption
from flexiti_async.testing import Fault, FlexitiSandbox

pytestmark = pytest.mark.anyio


async def test_capture_survives_a_flaky_flexiti(
    flexiti_sandbox: FlexitiSandbox, flexiti_client: FlexitiClient
) -> None:
    account = flexiti_sandbox.find_account(status="N")
    shopper = flexiti_client.with_options(scope="customer")  # the online flow:
    await shopper.widget.init(flow="purchase", account_number=account.account_number)
    auth = await shopper.authorizations.create(  # widget first, then authorize
        account_number=account.account_number,
        amount=Decimal("100.00"),
        financing_option=FinancingOption(transaction_type="regular_purchase"),
    )
    flexiti_sandbox.faults.add(route="capture", fault=Fault.drop_after(), times=1)
    with pytest.raises(errors.OutcomeUnknownError):  # applied, but no answer came back
        await flexiti_client.authorizations.capture(auth.authorization_id, amount=Decimal("100.00"))
    assert flexiti_sandbox.ledger.count(kind="capture") == 1  # never captured twice


async def test_without_the_widget_the_sandbox_refuses_like_flexiti(
    flexiti_sandbox: FlexitiSandbox, flexiti_client: FlexitiClient
) -> None:
    account = flexiti_sandbox.find_account(status="N")
    with pytest.raises(errors.NotFoundError) as caught:
        await flexiti_client.authorizations.create(
            account_number=account.account_number,
            amount=Decimal("100.00"),
            financing_option=FinancingOption(transaction_type="regular_purchase"),
        )
    assert caught.value.code == errors.ErrorCode.CUSTOMER_IDENTITY_NOT_FOUND
    assert len(flexiti_sandbox.ledger) == 0


@pytest.mark.flexiti_sandbox(require_widget=False)
async def test_the_marker_relaxes_a_check(
    flexiti_sandbox: FlexitiSandbox, flexiti_client: FlexitiClient
) -> None:
    account = flexiti_sandbox.find_account(status="N")
    auth = await flexiti_client.authorizations.create(
        account_number=account.account_number,
        amount=Decimal("10.00"),
        financing_option=FinancingOption(transaction_type="regular_purchase"),
    )
    assert auth.amount == Decimal("10.00")
