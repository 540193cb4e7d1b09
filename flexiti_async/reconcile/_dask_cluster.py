"""Where a Dask run's shards go: a `LocalCluster` started here, or a cluster given by address
or by client; started and stopped so that Ctrl-C and cancellation leave no process behind."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import distributed
from distributed import Client

from .._checks import check_int
from ..errors import InvalidRequestError

__all__ = ["check_asyncio", "connect", "local_cluster"]

# distributed is only partly typed: its untyped calls go through this Any.
_dd: Any = distributed


@asynccontextmanager
async def local_cluster(workers: int, *, shards_per_worker: int = 1) -> AsyncIterator[Client]:
    """A `LocalCluster` of ``workers`` worker processes on 127.0.0.1, and an asynchronous
    Dask `Client` on it; both closed on exit.

    ``shards_per_worker`` is each worker's number of Dask threads: shard tasks are
    ``async def`` functions that run on the worker's event loop, so it only sets how many
    shards a worker lists at once (the default, 1, leaves the CPU to decoding).

    The dashboard listens on a free loopback port (``client.dashboard_link``). Workers are
    spawned processes: a script that calls this must guard its entry point with
    ``if __name__ == "__main__":``.
    """
    check_int("workers", workers)
    check_int("shards_per_worker", shards_per_worker)
    with _sigint_ignored():
        cluster = await _dd.LocalCluster(
            n_workers=workers,
            processes=True,
            threads_per_worker=shards_per_worker,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            asynchronous=True,
        )
    try:
        async with _closing(await _dd.Client(cluster, asynchronous=True)) as client:
            yield client
    finally:
        with anyio.CancelScope(shield=True):  # cancelled (Ctrl-C) or not: stop the processes
            await cluster.close()


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start processes with Ctrl-C ignored: a terminal's SIGINT goes to the whole process
    group, and the driver, not each worker, decides what an interrupt means (it cancels
    the tasks and closes the cluster). An ignored signal stays ignored in a spawned child."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@asynccontextmanager
async def _closing(client: Any) -> AsyncIterator[Any]:
    try:
        yield client
    finally:
        with anyio.CancelScope(shield=True):
            await client.close()


def check_asyncio() -> None:
    """Dask's client runs on asyncio (tornado); under trio there is no asyncio loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise InvalidRequestError("the Dask adapter runs under asyncio only") from None


@asynccontextmanager
async def connect(
    dask_client: Client | None,
    workers: int | None,
    scheduler: str | None,
    shards_per_worker: int = 1,
) -> AsyncIterator[Client]:
    """The Dask client to use: the one given, one on ``scheduler``, or a new local cluster
    (of ``workers`` processes, default 1, running ``shards_per_worker`` shards each)."""
    given = [name for name, value in (("dask_client", dask_client), ("workers", workers),
                                      ("scheduler", scheduler)) if value is not None]  # fmt: skip
    if len(given) > 1:
        raise InvalidRequestError(f"give one of dask_client, workers, scheduler; got {given}")
    if dask_client is not None:
        if not dask_client.asynchronous:
            raise InvalidRequestError("dask_client must be created with asynchronous=True")
        yield dask_client
    elif scheduler is not None:
        async with _closing(await _dd.Client(scheduler, asynchronous=True)) as client:
            yield client
    else:
        count = workers if workers is not None else 1
        async with local_cluster(count, shards_per_worker=shards_per_worker) as client:
            yield client
