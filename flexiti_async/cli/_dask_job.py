"""``flexiti reconcile --workers N`` / ``--scheduler tcp://HOST:8786``: the shards run on Dask.

The same plan, merge, signal handling and report as the single-process run (`run_engine`);
only the shards go to Dask workers, each with one `FlexitiClient`. On a `LocalCluster`
(``--workers``) the workers read the credentials from the environment they inherit and
share one token through a private `FileTokenStore`; on an existing cluster
(``--scheduler``) the credentials travel with the worker plugin and the token is shared
through ``--token-store`` (a ``redis://`` URL; also read from FLEXITI_TOKEN_STORE).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from attrs import frozen

from .. import RetryPolicy
from ..reconcile import LedgerRow, Partial, Progress, Shard
from ._job import Options, Outcome, PreparedWorld, SandboxOutcome, run_engine

__all__ = ["DaskArgs", "run_real_on_dask", "run_sandbox_on_dask"]


@frozen(kw_only=True)
class DaskArgs:
    """Where the shards run: ``workers`` local processes, or the cluster at ``scheduler``;
    ``token_store`` is where the workers share their token (None: the default)."""

    workers: int | None = None
    scheduler: str | None = None
    token_store: str | None = None


async def _run_on(
    session: Any,
    shards: Sequence[Shard],
    *,
    concurrency: int,
    page_size: int,
    progress: Progress,
    on_progress: Callable[[Progress], Any],
    on_partial: Callable[[Partial], Any],
) -> list[Partial]:
    # --concurrency does not apply: each worker runs one shard at a time (Dask's threads).
    del concurrency
    result: list[Partial] = await session.run_shards(
        shards,
        page_size=page_size,
        progress=progress,
        on_progress=on_progress,
        on_partial=on_partial,
    )
    return result


def _client_options(options: Options, **extra: Any) -> dict[str, Any]:
    # Each of a shard's listings may have one page prefetched on top of the one being read.
    return {"max_concurrency": max(2 * options.concurrency, 4), **extra}


async def _run(
    factory: Any,
    rows: Sequence[LedgerRow],
    *,
    start: date,
    end: date,
    options: Options,
    dask: DaskArgs,
    progress: Progress,
    on_progress: Callable[[Progress], Any],
    on_session: Callable[[Any], Any],
) -> Outcome:
    from ..reconcile._dask import dask_session

    async with dask_session(factory, workers=dask.workers, scheduler=dask.scheduler) as session:
        on_session(session)
        return await run_engine(
            session,
            rows,
            start=start,
            end=end,
            options=options,
            progress=progress,
            on_progress=on_progress,
            run=_run_on,
        )


async def run_real_on_dask(
    rows: Sequence[LedgerRow],
    *,
    start: date,
    end: date,
    environment: str | None,
    base_url: str | None,
    options: Options,
    dask: DaskArgs,
    progress: Progress,
    on_progress: Callable[[Progress], Any],
    on_session: Callable[[Any], Any],
) -> Outcome:
    """`run_real` on Dask: credentials from FLEXITI_CLIENT_ID / FLEXITI_CLIENT_SECRET."""
    from ..reconcile._dask import ClientFactory

    extra = {"environment": environment, "base_url": base_url}
    if dask.scheduler is None:
        # Local worker processes inherit this environment (FLEXITI_*): the secret stays out
        # of Dask, and each worker's FlexitiClient.from_env reads it as a single run would.
        client_options = _client_options(options, **{k: v for k, v in extra.items() if v})
        factory = ClientFactory(token_store=dask.token_store, options=client_options)
    else:
        # Remote workers have their own environment: send what this one says.
        extra["environment"] = environment or os.environ.get("FLEXITI_ENVIRONMENT")
        extra["base_url"] = base_url or os.environ.get("FLEXITI_BASE_URL")
        client_options = _client_options(options, **{k: v for k, v in extra.items() if v})
        factory = ClientFactory(
            client_id=os.environ["FLEXITI_CLIENT_ID"],
            client_secret=os.environ["FLEXITI_CLIENT_SECRET"],
            token_store=dask.token_store,
            options=client_options,
        )
    return await _run(
        factory,
        rows,
        start=start,
        end=end,
        options=options,
        dask=dask,
        progress=progress,
        on_progress=on_progress,
        on_session=on_session,
    )


async def run_sandbox_on_dask(
    prepared: PreparedWorld,
    *,
    seed: int,
    options: Options,
    dask: DaskArgs,
    progress: Progress,
    on_progress: Callable[[Progress], Any],
    on_ready: Callable[[str], Any],
    on_session: Callable[[Any], Any],
) -> SandboxOutcome:
    """`run_sandbox` on Dask: the sandbox serves on loopback here, the workers list it."""
    from ..reconcile._dask import ClientFactory

    world = prepared.world
    # As in the single-process sandbox run: quick backoff, enough retries for --faults.
    policy = RetryPolicy(max_retries=8, backoff_base=0.01, backoff_cap=0.1, rng=random.Random(seed))
    async with world.sandbox.serve() as base_url:
        on_ready(base_url)
        factory = ClientFactory(
            client_id=world.sandbox.client_id,
            client_secret=world.sandbox.client_secret,
            token_store=dask.token_store,
            options=_client_options(options, base_url=base_url, retry_policy=policy),
        )
        outcome = await _run(
            factory,
            prepared.rows,
            start=world.start,
            end=world.end,
            options=options,
            dask=dask,
            progress=progress,
            on_progress=on_progress,
            on_session=on_session,
        )
    return SandboxOutcome(
        report=outcome.report,
        planted=world.planted,
        authorizations=world.authorizations,
        faults_fired=sum(rule.hits for rule in world.sandbox.faults.rules),
        stopped_by=outcome.stopped_by,
    )
