"""Online purchase, end to end: open the Flexiti widget with a customer-scope token, then
(once the shopper verified in the widget) authorize, and capture from the back office
with a merchant-scope token.

Runs against the bundled sandbox on loopback sockets (no credentials needed)::

    python examples/online_flow.py
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import anyio

from flexiti_async import FlexitiClient, errors
from flexiti_async.models import FinancingOption, TransactionType, WidgetSession
from flexiti_async.testing import FlexitiSandbox


@dataclass(frozen=True)
class OnlineResult:
    widget_session_id: str | None
    authorization_id: int
    capture_id: int
    captured: Decimal


async def open_checkout(flexiti: FlexitiClient, *, account_number: int) -> WidgetSession:
    """Server side of "Pay with Flexiti": ``session.redirection_url`` is the URL to open
    with ``FlexitiSDK.init`` in the shopper's browser."""
    # Customer-facing calls use a customer-scope token; the derived client shares the
    # connection pool with the merchant client.
    shopper = flexiti.with_options(scope="customer")
    session = await shopper.widget.init(flow="purchase", account_number=account_number, lang="en")
    print(f"widget session {session.widget_session_id} opened")
    return session


async def complete_order(
    flexiti: FlexitiClient, *, account_number: int, amount: Decimal, order_id: str
) -> tuple[int, int, Decimal]:
    """After the widget's ``flx-success`` event (``action == "purchase"``, verified)."""
    shopper = flexiti.with_options(scope="customer")
    # Online: no verification_code, request_id or store/employee codes.
    auth = await shopper.authorizations.create(
        account_number=account_number,
        amount=amount,
        financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
        reference=order_id,
    )
    print(f"authorization {auth.authorization_id} for {auth.amount}")

    # Back office, when the order ships: merchant scope (the client's default).
    try:
        capture = await flexiti.authorizations.capture(
            auth.authorization_id, amount=amount, reference=order_id
        )
    except errors.OutcomeUnknownError:
        current = await flexiti.authorizations.retrieve(auth.authorization_id)
        print("capture outcome unknown; captured so far:", current.captured_amount)
        raise
    print(f"captured {capture.amount} (capture {capture.capture_id})")
    return auth.authorization_id, capture.capture_id, capture.amount or amount


async def main(sandbox: FlexitiSandbox | None = None) -> OnlineResult:
    """Run the flow against a sandbox served on 127.0.0.1."""
    sandbox = sandbox or FlexitiSandbox(seed=1)
    account = sandbox.find_account(status="N")
    async with sandbox.serve() as base_url:
        async with FlexitiClient(
            sandbox.client_id, sandbox.client_secret, base_url=base_url
        ) as flexiti:
            session = await open_checkout(flexiti, account_number=account.account_number)
            # ... the browser opens session.redirection_url; the shopper verifies in the
            # widget; its flx-success event (verified, action "purchase") reaches the page ...
            auth_id, capture_id, captured = await complete_order(
                flexiti,
                account_number=account.account_number,
                amount=Decimal("249.99"),
                order_id="WEB-2002",
            )
    return OnlineResult(
        widget_session_id=session.widget_session_id,
        authorization_id=auth_id,
        capture_id=capture_id,
        captured=captured,
    )


if __name__ == "__main__":
    anyio.run(main)
