"""The README's "Testing your integration" example, run as written through the pytest plugin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from flexiti_async import errors
from flexiti_async.models import FinancingOption
from flexiti_async.testing import Fault

pytestmark = pytest.mark.anyio


async def test_capture_survives_a_flaky_flexiti(flexiti_sandbox: Any, flexiti_client: Any) -> None:
    account = flexiti_sandbox.find_account(status="N")
    auth = await flexiti_client.authorizations.create(
        account_number=account.account_number,
        amount=Decimal("100.00"),
        financing_option=FinancingOption(transaction_type="regular_purchase"),
    )
    flexiti_sandbox.faults.add(route="capture", fault=Fault.drop_after(), times=1)
    with pytest.raises(errors.OutcomeUnknownError):  # applied, but no answer came back
        await flexiti_client.authorizations.capture(auth.authorization_id, amount=Decimal("100.00"))
    assert flexiti_sandbox.ledger.count(kind="capture") == 1  # never captured twice
