"""Reconcile on Dask: the shards of `plan` run on a `LocalCluster` or any Dask cluster.

Needs the ``dask`` extra (dask + distributed); `flexiti_async.reconcile` imports this module
only when one of its names is used. The driver (this process) plans the shards, submits one
Dask task per shard, and merges the `Partial` results with the ledger into the same
`Report` as the single-process `reconcile`. The ledger never leaves the driver: a shard (a
few dates and store ids) goes out, its compact per-reference state comes back.

Each worker keeps one `FlexitiClient` on its event loop (`FlexitiWorkerPlugin`), built by a
picklable client factory (`ClientFactory`). Tokens are shared through a token store: a
`FileTokenStore` in a private temporary directory on a `LocalCluster`, the store the
factory names (e.g. ``redis://...``, a `RedisTokenStore`) on any other cluster.

Faults: a worker that dies is Dask's business (its tasks run again elsewhere; a `Partial`
depends on its shard only, so the report does not change). A shard that fails with a
`FlexitiError` is submitted again up to ``shard_retries`` times, then the run fails with
`ShardFailedError` naming the shard. Cancelling the run (Ctrl-C in the CLI) cancels the
futures and closes the cluster this module started.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone, tzinfo
from typing import Any

import anyio
import attrs
import distributed
from distributed import Client, LocalCluster

from .._checks import check_int
from ..errors import FlexitiError
from ._dask_cluster import check_asyncio, connect, local_cluster
from ._dask_worker import ClientFactory, FlexitiWorkerPlugin, ShardAttemptError, run_shard_task
from ._ledger import LedgerRow, check_ledger_dates, read_ledger
from ._merge import merge
from ._plan import Shard, plan, resolve_tz
from ._progress import Progress
from ._report import Report
from ._shard import Partial

logger = logging.getLogger("flexiti_async")

# distributed is only partly typed: its untyped calls go through this Any.
_dd: Any = distributed

__all__ = [
    "ClientFactory",
    "DaskSession",
    "FlexitiWorkerPlugin",
    "ShardFailedError",
    "WorkerSetupError",
    "dask_session",
    "local_cluster",
    "reconcile_on_dask",
]


class ShardFailedError(FlexitiError):
    """A shard failed more often than the retry budget allows; the run was abandoned.

    ``shard`` names it (`Shard.describe`), ``attempts`` is how many times it ran,
    ``error_type`` / ``error`` describe the last failure.
    """

    def __init__(self, shard: str, attempts: int, error_type: str, error: str) -> None:
        super().__init__(
            f"shard {shard} failed {attempts} time(s); last error: {error_type}: {error}"
        )
        self.shard = shard
        self.attempts = attempts
        self.error_type = error_type
        self.error = error


class WorkerSetupError(FlexitiError):
    """The Dask workers could not build their Flexiti client (e.g. flexiti-async is not
    installed there, or the client factory failed); the run did not start."""


async def _register(client: Any, plugin: FlexitiWorkerPlugin) -> None:
    try:
        await client.register_plugin(plugin, name=plugin.name)
    except FlexitiError:
        raise  # e.g. no credentials in a worker's environment: already says what to do
    except Exception as exc:
        raise WorkerSetupError(
            f"the Dask workers could not set up their Flexiti client: {type(exc).__name__}: "
            f"{exc} (is flexiti-async[dask] installed on every worker?)"
        ) from exc


@attrs.define(kw_only=True, eq=False)
class DaskSession:
    """A Dask client with the per-worker Flexiti clients set up: run shards on it.

    ``dask_client`` is the asynchronous Dask client, ``plugin`` the worker plugin's name,
    ``local`` whether the cluster is a `LocalCluster` (on this machine), ``workers`` how
    many workers it had when the session opened, ``retried_shards`` how many shards were
    submitted again after a `FlexitiError` so far.
    """

    dask_client: Client
    plugin: str
    local: bool
    workers: int = 0
    retried_shards: int = 0

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's URL (progress, task stream), if it has one."""
        link = self.dask_client.dashboard_link
        return str(link) if link else None

    async def run_shards(
        self,
        shards: Sequence[Shard],
        *,
        page_size: int = 100,
        shard_retries: int = 2,
        progress: Progress | None = None,
        on_progress: Callable[[Progress], Any] | None = None,
        on_partial: Callable[[Partial], Any] | None = None,
    ) -> list[Partial]:
        """Run ``shards`` as Dask tasks; return their partials in completion order.

        Like `run_shards`: ``progress`` counts finished shards (and their listings, pages,
        items) as their partials arrive, ``on_partial`` gets each one (keep them: if the
        run is cancelled, they are what a partial report is merged from). A shard whose
        attempt fails with a `FlexitiError` is submitted again, at most ``shard_retries``
        times; then `ShardFailedError`. Cancelled: the outstanding futures are cancelled.
        """
        check_int("page_size", page_size)
        check_int("shard_retries", shard_retries, low=0)
        progress = progress if progress is not None else Progress()
        progress.shards_total = len(shards)
        progress.windows_total = sum(_listings(shard) for shard in shards)
        done: list[Partial] = []

        def accept(partial: Partial) -> None:
            done.append(partial)
            shard = partial.shard
            progress.shards_done += 1
            progress.windows_done += _listings(shard)
            progress.pages += partial.stats.get("pages", 0)
            progress.items += partial.stats.get("items", 0)
            progress.completed.extend((kind, shard.first, shard.last) for kind in shard.listings)
            if on_partial is not None:
                on_partial(partial)
            if on_progress is not None:
                on_progress(progress)

        await self._gather(list(shards), {"page_size": page_size}, shard_retries, accept)
        return done

    async def _gather(
        self,
        shards: list[Shard],
        options: dict[str, Any],
        retries: int,
        accept: Callable[[Partial], None],
    ) -> None:
        client: Any = self.dask_client
        attempts = [0] * len(shards)
        finished: set[int] = set()
        index_of: dict[Any, int] = {}

        def submit(i: int) -> Any:
            attempts[i] += 1
            shard = shards[i]
            future = client.submit(
                run_shard_task,
                self.plugin,
                shard,
                shard.describe(),
                options,
                key=f"{self.plugin}-shard-{shard.index}-try-{attempts[i]}",
                pure=False,
            )
            index_of[future] = i
            return future

        pending = _dd.as_completed([submit(i) for i in range(len(shards))])
        try:
            async for future in pending:
                i = index_of.pop(future)
                status = future.status
                if status in ("lost", "pending"):
                    # Lost with its worker before we read it: Dask computes it again.
                    index_of[future] = i
                    pending.add(future)
                    continue
                if status == "finished":
                    partial = await future.result()
                    future.release()
                    if i not in finished:  # never merge one shard twice
                        finished.add(i)
                        accept(partial)
                    continue
                exc = await future.exception() if status == "error" else None
                future.release()
                # A FlexitiError, or a task cancelled behind our back: try the shard again.
                if (exc is None or isinstance(exc, ShardAttemptError)) and attempts[i] <= retries:
                    self.retried_shards += 1
                    pending.add(submit(i))
                    continue
                if isinstance(exc, ShardAttemptError):
                    kind, text = exc.error_type, exc.message
                else:
                    kind, text = (type(exc).__name__, str(exc)) if exc else (status, "no result")
                raise ShardFailedError(shards[i].describe(), attempts[i], kind, text)
        finally:
            if index_of:  # cancelled, or failed: stop what is still queued or running
                with anyio.CancelScope(shield=True):
                    await client.cancel(list(index_of), force=True)


def _listings(shard: Shard) -> int:
    return len(shard.listings) * (1 if shard.stores is None else len(shard.stores))


@asynccontextmanager
async def dask_session(
    client_factory: Callable[[], Any],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_client: Client | None = None,
    shards_per_worker: int = 1,
) -> AsyncIterator[DaskSession]:
    """Connect to Dask and open one Flexiti client per worker, for the block's duration.

    Give one of: ``workers`` (start a `LocalCluster` of that many processes; the default,
    with 1), ``scheduler`` (an existing cluster's address, ``tcp://host:8786``), or
    ``dask_client`` (an asynchronous Dask client you manage). A cluster started here is
    closed on exit; the per-worker clients are closed on exit in every case.
    ``shards_per_worker`` (local cluster only) is how many shards a worker lists at once.

    ``client_factory`` builds each worker's client (see `ClientFactory`). On a local
    cluster, a `ClientFactory` without a token store gets a `FileTokenStore` in a private
    temporary directory (removed on exit), so the workers fetch one token in all.
    """
    check_asyncio()
    client: Any
    async with connect(dask_client, workers, scheduler, shards_per_worker) as client:
        local = isinstance(getattr(client, "cluster", None), LocalCluster)
        folder = None
        if local and isinstance(client_factory, ClientFactory) and not client_factory.token_store:
            folder = tempfile.mkdtemp(prefix="flexiti-tokens-")  # mode 0700: tokens are secrets
            client_factory = attrs.evolve(
                client_factory, token_store=os.path.join(folder, "tokens.json")
            )
        name = f"flexiti-reconcile-{uuid.uuid4().hex[:12]}"
        try:
            await _register(client, FlexitiWorkerPlugin(client_factory, name))
            workers = len(await client.nthreads())
            try:
                yield DaskSession(dask_client=client, plugin=name, local=local, workers=workers)
            finally:
                with anyio.CancelScope(shield=True):
                    await _unregister(client, name)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


async def _unregister(client: Any, name: str) -> None:
    """Close the workers' clients (best effort: a worker that died has nothing to close)."""
    if client.status != "running":
        return
    try:
        await client.unregister_worker_plugin(name)
    except Exception as exc:  # e.g. a replaced worker without it; the run's outcome stands
        logger.debug("could not unregister the %s worker plugin: %r", name, exc)


async def reconcile_on_dask(
    client_factory: Callable[[], Any],
    ledger: Iterable[LedgerRow] | str | os.PathLike[str],
    *,
    start: date,
    end: date,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_client: Client | None = None,
    shards_per_worker: int = 1,
    stale_days: int = 7,
    window_days: int = 1,
    page_size: int = 100,
    as_of: date | None = None,
    tz: str | tzinfo | None = None,
    tolerance_days: int = 1,
    shard_retries: int = 2,
    progress: Progress | None = None,
    on_progress: Callable[[Progress], Any] | None = None,
    on_partial: Callable[[Partial], Any] | None = None,
    on_session: Callable[[DaskSession], Any] | None = None,
) -> Report:
    """`reconcile`, with the shards run on Dask: same arguments, same `Report`.

    ``client_factory`` is a picklable zero-argument callable that each worker calls to get
    its client (a `ClientFactory`; credentials may be read on the workers). The ledger is
    read and merged here, in the driver. Give ``workers`` (a `LocalCluster` of that many
    processes, default 1, each listing ``shards_per_worker`` shards at once), ``scheduler``
    (``tcp://host:8786``) or ``dask_client``.
    ``on_session`` is called once the workers are ready (e.g. to show the dashboard link).
    Other arguments: see `reconcile` and `DaskSession.run_shards`. Runs under asyncio.

    >>> factory = ClientFactory(token_store="redis://cache:6379/0")   # doctest: +SKIP
    >>> report = await reconcile_on_dask(factory, "ledger.csv", start=date(2024, 1, 1),
    ...                                  end=date(2024, 12, 31), workers=8)
    """
    check_int("stale_days", stale_days, low=0)
    zone = resolve_tz(tz)
    today = as_of if as_of is not None else datetime.now(timezone.utc).astimezone(zone).date()
    shards = plan(
        start, end, as_of=today, tz=zone, window_days=window_days, tolerance_days=tolerance_days
    )
    rows = read_ledger(ledger) if isinstance(ledger, (str, os.PathLike)) else list(ledger)
    check_ledger_dates(rows, as_of=today)
    async with dask_session(
        client_factory,
        workers=workers,
        scheduler=scheduler,
        dask_client=dask_client,
        shards_per_worker=shards_per_worker,
    ) as session:
        if on_session is not None:
            on_session(session)
        partials = await session.run_shards(
            shards,
            page_size=page_size,
            shard_retries=shard_retries,
            progress=progress,
            on_progress=on_progress,
            on_partial=on_partial,
        )
    return merge(
        partials,
        rows,
        start=start,
        end=end,
        as_of=today,
        tz=zone,
        stale_days=stale_days,
        tolerance_days=tolerance_days,
        plan=shards,
    )
