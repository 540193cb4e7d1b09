"""The async side of ``flexiti reconcile``: real credentials, or the seeded loopback sandbox.

Both go through `run_engine`: plan -> run the shards -> merge, with SIGINT and SIGTERM turned
into a clean stop (the finished shards are merged into a report marked partial).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, tzinfo
from typing import Any

import anyio
from attrs import frozen

from .. import FlexitiClient, RetryPolicy
from ..reconcile import (
    LedgerRow,
    Partial,
    Progress,
    ReconcileClient,
    Report,
    ledger_csv,
    merge,
    plan,
    read_ledger,
    run_shards,
)
from ._sandbox_world import PlantedWorld, build_world

__all__ = [
    "Options",
    "Outcome",
    "PreparedWorld",
    "SandboxOutcome",
    "prepare_world",
    "run_engine",
    "run_real",
    "run_sandbox",
]

# Faults per listing request in --faults mode; each is retried by the client.
FAULT_RATE = 0.04


@frozen(kw_only=True)
class Options:
    """What both modes share."""

    concurrency: int
    stale_days: int
    window_days: int
    page_size: int
    as_of: date
    tz: tzinfo
    tolerance_days: int = 1


@frozen(kw_only=True)
class Outcome:
    """A run's report, and the signal that stopped it early (None when it finished)."""

    report: Report
    stopped_by: int | None = None


@frozen(kw_only=True)
class SandboxOutcome:
    """A sandbox run: the report plus what was planted."""

    report: Report
    planted: frozenset[tuple[str, str, str]]
    authorizations: int
    faults_fired: int
    stopped_by: int | None = None


async def run_engine(
    client: ReconcileClient | object,
    rows: Sequence[LedgerRow],
    *,
    start: date,
    end: date,
    options: Options,
    progress: Progress,
    on_progress: Callable[[Progress], Any],
    run: Callable[..., Awaitable[Any]] = run_shards,
) -> Outcome:
    """Plan, run and merge; SIGINT/SIGTERM stop the run and merge what finished.

    ``run(client, shards, ...)`` runs the shards: `run_shards` in this process, or the
    Dask adapter's (``client`` is then its session).
    """
    shards = plan(
        start,
        end,
        as_of=options.as_of,
        tz=options.tz,
        window_days=options.window_days,
        tolerance_days=options.tolerance_days,
    )
    partials: list[Partial] = []
    stopped: list[int] = []
    async with anyio.create_task_group() as group:
        if threading.current_thread() is threading.main_thread():
            group.start_soon(_watch_signals, group.cancel_scope, stopped)
        await run(
            client,
            shards,
            concurrency=options.concurrency,
            page_size=options.page_size,
            progress=progress,
            on_progress=on_progress,
            on_partial=partials.append,
        )
        group.cancel_scope.cancel()  # finished: stop watching for signals
    report = merge(
        partials,
        rows,
        start=start,
        end=end,
        as_of=options.as_of,
        tz=options.tz,
        stale_days=options.stale_days,
        tolerance_days=options.tolerance_days,
        plan=shards,
    )
    return Outcome(report=report, stopped_by=stopped[0] if stopped else None)


async def _watch_signals(scope: anyio.CancelScope, stopped: list[int]) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            stopped.append(int(signum))
            scope.cancel()
            return


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
) -> Outcome:
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
        return await run_engine(
            client,
            rows,
            start=start,
            end=end,
            options=options,
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
    """The sandbox world and the rows read back from its ledger file."""

    world: PlantedWorld
    rows: tuple[LedgerRow, ...]


def prepare_world(*, seed: int, stale_days: int, faults: bool) -> PreparedWorld:
    """Seed the planted world, write its ledger to a temporary CSV file and read it back
    through the same parser a real ledger goes through (blocking work, done before the
    event loop starts). The temporary folder is removed before this returns."""
    world = build_world(seed=seed, stale_days=stale_days)
    folder = tempfile.mkdtemp(prefix="flexiti-sandbox-")
    try:
        ledger_path = os.path.join(folder, "ledger.csv")
        with open(ledger_path, "w", encoding="utf-8", newline="") as handle:
            handle.write(ledger_csv(world.ledger))
        rows = tuple(read_ledger(ledger_path))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if faults:
        _add_faults(world.sandbox)
    return PreparedWorld(world=world, rows=rows)


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
            outcome = await run_engine(
                client,
                prepared.rows,
                start=world.start,
                end=world.end,
                options=options,
                progress=progress,
                on_progress=on_progress,
            )
    fired = sum(rule.hits for rule in world.sandbox.faults.rules)
    return SandboxOutcome(
        report=outcome.report,
        planted=world.planted,
        authorizations=world.authorizations,
        faults_fired=fired,
        stopped_by=outcome.stopped_by,
    )
