"""In-store purchase, end to end: lookup -> verify -> financing options -> authorization
-> capture -> partial return -> release of the rest.

Runs against the bundled sandbox on loopback sockets (no credentials needed)::

    python examples/instore_flow.py

Against Flexiti's training environment, build the client with
``FlexitiClient.from_env()`` instead and type the PIN the customer received by SMS.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import anyio

import flexiti_async
from flexiti_async import FlexitiClient, errors
from flexiti_async.models import FinancingOption, Location, TransactionType, VerifyFormat
from flexiti_async.testing import FlexitiSandbox, read_pin

#: Reads the PIN the customer received (the cashier types it in).
ReadPin = Callable[[int], Awaitable[str]]


@dataclass(frozen=True)
class InStoreResult:
    authorization_id: int
    capture_id: int
    return_id: int
    authorized: Decimal
    captured: Decimal
    returned: Decimal
    released: Decimal


async def instore_purchase(
    flexiti: FlexitiClient,
    *,
    account_number: int,
    amount: Decimal,
    till: Location,
    order_id: str,
    ask_for_pin: ReadPin,
) -> InStoreResult:
    """One customer at the till, with a merchant-scope client."""
    # One x-reference-id for the whole flow, as Flexiti asks.
    async with flexiti_async.reference_id():
        profile = await flexiti.customers.lookup(account_number=account_number)
        print(f"customer found, available credit {profile.available_credit}")

        # The request id ties the verification to the authorization that follows.
        request_id = uuid.uuid4().hex
        sent = await flexiti.accounts.verify(
            account_number, format=VerifyFormat.SMS, request_id=request_id
        )
        print(f"PIN sent to the customer by {sent.sent_to}")
        pin = await ask_for_pin(account_number)

        options = await flexiti.accounts.calculate_interest(account_number, amount=amount)
        plan = options.promotional_purchase[0]
        term = plan.terms[0]
        print(f"plan {plan.plan_name!r}: {term.term} months of {term.term_amount}")

        try:
            auth = await flexiti.authorizations.create(
                account_number=account_number,
                amount=amount,
                financing_option=FinancingOption(
                    transaction_type=TransactionType.PROMOTIONAL_PURCHASE,
                    plan_id=plan.plan_id,
                    term=term.term,
                ),
                reference=order_id,
                verification_code=pin,
                request_id=request_id,
                location=till,  # the store and employee codes, sent together
            )
        except errors.OutcomeUnknownError:
            # Never blindly resend a money movement: look it up by reference first.
            print("no answer from Flexiti: check the authorization list for", order_id)
            raise
        print(f"authorization {auth.authorization_id} holds {auth.amount}")

        # Ship part of the order now: capture what is delivered.
        delivered = (amount * Decimal("0.75")).quantize(Decimal("0.01"))
        capture = await flexiti.authorizations.capture(
            auth.authorization_id,
            amount=delivered,
            reference=order_id,
            location=till,
        )
        print(f"captured {capture.amount} (capture {capture.capture_id})")

        # The customer brings one item back.
        item = Decimal("50.00")
        returned = await flexiti.authorizations.return_capture(
            auth.authorization_id,
            capture.capture_id,
            amount=item,
            reference=order_id,
            location=till,
        )
        print(f"returned {returned.amount}, {returned.remaining_capture_amount} stays captured")

        # The rest will not ship: release what remains of the hold.
        release = await flexiti.authorizations.release(auth.authorization_id, location=till)
        print(f"released {release.amount}")

    return InStoreResult(
        authorization_id=auth.authorization_id,
        capture_id=capture.capture_id,
        return_id=returned.return_id,
        authorized=auth.amount or amount,
        captured=capture.amount or delivered,
        returned=returned.amount or item,
        released=release.amount or Decimal("0.00"),
    )


async def main(sandbox: FlexitiSandbox | None = None) -> InStoreResult:
    """Run the flow against a sandbox served on 127.0.0.1."""
    sandbox = sandbox or FlexitiSandbox(seed=1)
    account = sandbox.find_account(status="N")
    till = Location(
        external_location_id=sandbox.stores[0].external_location_id,
        external_employee_id="12345-SMITH",
    )

    async with sandbox.serve() as base_url:
        async with FlexitiClient(
            sandbox.client_id, sandbox.client_secret, base_url=base_url
        ) as flexiti:

            async def ask_for_pin(account_number: int) -> str:
                # In a real store the customer reads the PIN from their phone; the sandbox
                # has a route for what it "sent" (works with `flexiti sandbox serve` too).
                return str(await read_pin(flexiti, account_number))

            return await instore_purchase(
                flexiti,
                account_number=account.account_number,
                amount=Decimal("1200.00"),
                till=till,
                order_id="ORDER-1001",
                ask_for_pin=ask_for_pin,
            )


if __name__ == "__main__":
    anyio.run(main)
