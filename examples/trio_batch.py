"""A trio batch job: look up many accounts concurrently, at most ``limit`` at a time.

`flexiti_async.concurrency.bounded_map` runs the lookups with bounded concurrency and bounded
memory (inputs are read lazily), and ``on_error="collect"`` keeps one bad account from
cancelling the rest. Runs against a sandbox it starts on 127.0.0.1 (no credentials)::

    python examples/trio_batch.py

Against Flexiti, build the client with ``FlexitiClient.from_env()`` and feed it your own
account numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import trio

from flexiti_async import FlexitiClient, errors
from flexiti_async.concurrency import bounded_map
from flexiti_async.models import CustomerProfile
from flexiti_async.testing import FlexitiSandbox


@dataclass
class BatchReport:
    """What the batch found: available credit per account, and the failures by code."""

    available: dict[int, Decimal] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)

    @property
    def total_available(self) -> Decimal:
        return sum(self.available.values(), Decimal("0.00"))


async def lookup_all(
    flexiti: FlexitiClient, account_numbers: Iterable[int], *, limit: int = 16
) -> BatchReport:
    """Look every account up, ``limit`` at a time; collect failures instead of stopping."""
    report = BatchReport()

    async def lookup(number: int) -> CustomerProfile:
        return await flexiti.customers.lookup(account_number=number)

    async with bounded_map(lookup, account_numbers, limit=limit, on_error="collect") as outcomes:
        async for outcome in outcomes:
            if outcome.ok:
                profile = outcome.unwrap()
                report.available[outcome.input] = profile.available_credit or Decimal("0.00")
            elif isinstance(outcome.error, errors.APIStatusError):
                report.failed[outcome.input] = str(outcome.error.raw_code or outcome.error.code)
            else:
                outcome.unwrap()  # transport trouble (after retries): stop the batch
    return report


async def main(sandbox: FlexitiSandbox | None = None, *, accounts: int = 200) -> BatchReport:
    """Seed ``accounts`` accounts in a sandbox on loopback and look them all up."""
    sandbox = sandbox or FlexitiSandbox(seed=5)
    numbers = [
        sandbox.add_account(status="N", available_credit=f"{100 + n}.00").account_number
        for n in range(accounts)
    ]
    numbers.append(99_999_999_999)  # not an account: reported, not fatal
    async with sandbox.serve() as base_url:
        async with FlexitiClient(
            sandbox.client_id, sandbox.client_secret, base_url=base_url, max_concurrency=16
        ) as flexiti:
            # Keep limit <= max_concurrency: work waits here, not in the connection pool.
            report = await lookup_all(flexiti, numbers, limit=16)
    print(
        f"{len(report.available)} accounts, {report.total_available} available in total; "
        f"{len(report.failed)} failed: {sorted(set(report.failed.values()))}"
    )
    return report


if __name__ == "__main__":
    trio.run(main)
