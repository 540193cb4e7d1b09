"""The async side of ``flexiti reconcile``: real credentials, or the seeded loopback sandbox."""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from attrs import frozen

from .. import FlexitiClient, RetryPolicy
from ..reconcile import LedgerRow, Progress, Report, ledger_csv, read_ledger, reconcile
from ._sandbox_world import PlantedWorld, build_world

__all__ = ["Options", "PreparedWorld", "SandboxOutcome", "prepare_world", "run_real", "run_sandbox"]

# Faults per listing request in --faults mode; each is retried by the client.
FAULT_RATE = 0.04


@frozen(kw_only=True)
class Options:
    """What both modes share."""

    concurrency: int
    stale_days: int
    window_days: int
    page_size: int
    as_of: date | None


@frozen(kw_only=True)
class SandboxOutcome:
    """A sandbox run: the report plus what was planted, and where the ledger was written."""

    report: Report
    planted: frozenset[tuple[str, str, str]]
    ledger_path: str
    authorizations: int
    faults_fired: int


async def run_real(
    rows: Sequence[LedgerRow],
    *,
    start: date,
    end: date,
    environment: str | None,
    base_url: str | None,
    options: Options,
    progress: Progress,
    on_progress: Callable[[Progress], Any],
) -> Report:
    """Reconcile against Flexiti with FLEXITI_CLIENT_ID / FLEXITI_CLIENT_SECRET."""
    kwargs: dict[str, Any] = {
        # Each listing may have one page prefetched on top of the one being read.
        "max_concurrency": max(2 * options.concurrency, 4),
    }
    if environment is not None:
        kwargs["environment"] = environment
    if base_url is not None:
        kwargs["base_url"] = base_url
    async with FlexitiClient.from_env(**kwargs) as client:
        return await reconcile(
            client,
            rows,
            start=start,
            end=end,
            concurrency=options.concurrency,
            stale_days=options.stale_days,
            window_days=options.window_days,
            page_size=options.page_size,
            as_of=options.as_of,
            progress=progress,
            on_progress=on_progress,
        )


def _add_faults(sandbox: Any) -> None:
    from ..testing import Fault

    for route in ("list_authorizations", "list_captures"):
        # Dropped after the server did the work, refused with 429 (Retry-After: 0), 503.
        sandbox.faults.add(route=route, fault=Fault.drop_after(), probability=FAULT_RATE)
        sandbox.faults.add(
            route=route, fault=Fault.status(429, retry_after=0), probability=FAULT_RATE
        )
        sandbox.faults.add(route=route, fault=Fault.status(503), probability=FAULT_RATE)


@frozen(kw_only=True)
class PreparedWorld:
    """The sandbox world, its ledger file, and the rows read back from it."""

    world: PlantedWorld
    ledger_path: str
    rows: tuple[LedgerRow, ...]


def prepare_world(*, seed: int, stale_days: int, faults: bool) -> PreparedWorld:
    """Seed the planted world and write its ledger to a temporary CSV file (blocking work,
    done before the event loop starts)."""
    world = build_world(seed=seed, stale_days=stale_days)
    folder = tempfile.mkdtemp(prefix="flexiti-sandbox-")
    ledger_path = os.path.join(folder, "ledger.csv")
    with open(ledger_path, "w", encoding="utf-8", newline="") as handle:
        handle.write(ledger_csv(world.ledger))
    if faults:
        _add_faults(world.sandbox)
    # Read back through the same parser a real ledger goes through.
    return PreparedWorld(world=world, ledger_path=ledger_path, rows=tuple(read_ledger(ledger_path)))


async def run_sandbox(
    prepared: PreparedWorld,
    *,
    seed: int,
    options: Options,
    progress: Progress,
    on_progress: Callable[[Progress], Any],
    on_ready: Callable[[str], Any] | None = None,
) -> SandboxOutcome:
    """Serve the prepared world on loopback and reconcile its ledger over real sockets."""
    world = prepared.world
    # Small backoff keeps the faulty run quick; enough retries that a streak of faults
    # (each at a few per cent) never exhausts them.
    policy = RetryPolicy(max_retries=8, backoff_base=0.01, backoff_cap=0.1, rng=random.Random(seed))
    async with world.sandbox.serve() as base_url:
        if on_ready is not None:
            on_ready(base_url)
        async with FlexitiClient(
            world.sandbox.client_id,
            world.sandbox.client_secret,
            base_url=base_url,
            retry_policy=policy,
            max_concurrency=max(2 * options.concurrency, 4),
        ) as client:
            report = await reconcile(
                client,
                prepared.rows,
                start=world.start,
                end=world.end,
                concurrency=options.concurrency,
                stale_days=world.stale_days,
                window_days=options.window_days,
                page_size=options.page_size,
                as_of=world.as_of,
                progress=progress,
                on_progress=on_progress,
            )
    fired = sum(rule.hits for rule in world.sandbox.faults.rules)
    return SandboxOutcome(
        report=report,
        planted=world.planted,
        ledger_path=prepared.ledger_path,
        authorizations=world.authorizations,
        faults_fired=fired,
    )
