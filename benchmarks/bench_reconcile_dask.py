"""Reconcile ~100,000 authorizations on a Dask LocalCluster of 1, 2, ... worker processes.

    python -m benchmarks.bench_reconcile_dask                 # --workers 1,2, 100k authorizations
    python -m benchmarks.bench_reconcile_dask --per-day 20    # a quick run (12k)

The sandbox runs in a child process: it seeds the planted reconciliation world (20 stores x
30 days x ``--per-day``), writes its ledger and the planted findings, and serves on
127.0.0.1. The parent then, for every worker count, starts a LocalCluster (timed on its
own), runs `reconcile_on_dask` on it (timed), checks the findings equal the planted ones
and that every run gives the same report, and says where the CPU time went: the sandbox
process, the Dask worker processes, and this process (the driver: scheduler + merge).
The single-process `reconcile` at the same concurrency is run first, as the baseline.
Also prints the pickled size of the shards' partial results (bytes per reference), i.e.
what a worker sends back per shard.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from typing import Any

import anyio
import psutil

from flexiti_async import FlexitiClient
from flexiti_async.reconcile import Report, read_ledger, reconcile
from flexiti_async.reconcile._dask import ClientFactory, local_cluster, reconcile_on_dask

CONCURRENCY = 16
PAGE_SIZE = 500
#: Shards a worker lists at once (--shards-per-worker).
SHARDS_PER_WORKER = [1]


def _serve(stores: int, days: int, per_day: int, folder: str) -> None:
    """Child process: seed the planted world, write ledger + planted keys, serve until killed."""
    from flexiti_async.cli._sandbox_world import build_world
    from flexiti_async.reconcile import ledger_csv

    world = build_world(seed=2024, stores=stores, days=days, per_day=per_day)
    with open(os.path.join(folder, "ledger.csv"), "w", encoding="utf-8", newline="") as handle:
        handle.write(ledger_csv(world.ledger))

    def ready(base_url: str) -> None:
        info = {
            "base_url": base_url,
            "client_id": world.sandbox.client_id,
            "client_secret": world.sandbox.client_secret,
            "authorizations": world.authorizations,
            "start": world.start.isoformat(),
            "end": world.end.isoformat(),
            "as_of": world.as_of.isoformat(),
            "stale_days": world.stale_days,
            "planted": sorted(world.planted),
        }
        print(json.dumps(info), flush=True)

    world.sandbox.serve_forever("127.0.0.1", 0, on_ready=ready)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _children_cpu(server: psutil.Process) -> float:
    """CPU seconds of this process's children but the sandbox: the Dask workers, nannies."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        if child.pid == server.pid:
            continue
        try:
            total += _cpu(child)
        except psutil.NoSuchProcess:
            pass
    return total


def _comparable(report: Report) -> dict[str, Any]:
    data = report.to_dict()
    data.get("stats", {}).pop("seconds", None)
    return data


async def _single(info: dict[str, Any], rows: list[Any], span: dict[str, Any]) -> Report:
    async with FlexitiClient(
        info["client_id"],
        info["client_secret"],
        base_url=info["base_url"],
        max_concurrency=2 * CONCURRENCY,
    ) as client:
        return await reconcile(client, rows, concurrency=CONCURRENCY, page_size=PAGE_SIZE, **span)


async def _on_cluster(
    workers: int, factory: ClientFactory, rows: list[Any], span: dict[str, Any], server: Any
) -> dict[str, Any]:
    started = time.perf_counter()
    async with local_cluster(workers, shards_per_worker=SHARDS_PER_WORKER[0]) as dask_client:
        startup = time.perf_counter() - started
        before = (time.process_time(), _children_cpu(server), _cpu(server))
        started = time.perf_counter()
        last = [started]

        def on_progress(progress: Any) -> None:
            last[0] = time.perf_counter()  # when the latest partial arrived

        report = await reconcile_on_dask(
            factory,
            rows,
            dask_client=dask_client,
            page_size=PAGE_SIZE,
            on_progress=on_progress,
            **span,
        )
        ended = time.perf_counter()
        wall = ended - started
        after = (time.process_time(), _children_cpu(server), _cpu(server))
    return {
        "workers": workers,
        "startup_s": startup,
        "wall_s": wall,
        "merge_tail_s": ended - last[0],
        "driver_cpu_s": after[0] - before[0],
        "workers_cpu_s": after[1] - before[1],
        "sandbox_cpu_s": after[2] - before[2],
        "report": report,
    }


def _partial_sizes(info: dict[str, Any], span: dict[str, Any], count: int) -> dict[str, float]:
    """Pickled size of the first ``count`` shards' partials (what a worker sends back)."""
    from flexiti_async.reconcile import plan, run_shard

    async def measure() -> dict[str, float]:
        shards = plan(span["start"], span["end"], as_of=span["as_of"])[:count]
        total = refs = items = 0
        async with FlexitiClient(
            info["client_id"], info["client_secret"], base_url=info["base_url"]
        ) as client:
            for shard in shards:
                partial = await run_shard(client, shard, page_size=PAGE_SIZE)
                total += len(pickle.dumps(partial, protocol=pickle.HIGHEST_PROTOCOL))
                refs += len(partial.references)
                items += partial.stats.get("items", 0)
        return {
            "shards": len(shards),
            "bytes_per_shard": total / max(len(shards), 1),
            "bytes_per_reference": total / max(refs, 1),
            "items_per_shard": items / max(len(shards), 1),
        }

    return anyio.run(measure)


def _print_run(result: dict[str, Any], same: bool) -> None:
    cores = os.cpu_count() or 1
    wall = result["wall_s"]
    busy = result["driver_cpu_s"] + result["workers_cpu_s"] + result["sandbox_cpu_s"]
    print(
        f"workers {result['workers']}: {wall:6.2f} s (cluster start {result['startup_s']:.1f} s, "
        f"merge after the last shard {result['merge_tail_s']:.1f} s); CPU s: sandbox "
        f"{result['sandbox_cpu_s']:.1f}, workers {result['workers_cpu_s']:.1f}, "
        f"driver+scheduler {result['driver_cpu_s']:.1f} ({busy / wall:.2f} of {cores} cores "
        f"busy); report {'identical' if same else 'DIFFERS'}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2,4")
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=167)
    parser.add_argument("--rounds", type=int, default=3, help="runs per worker count")
    parser.add_argument("--shards-per-worker", type=int, default=1)
    parser.add_argument("--serve", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.stores, args.days, args.per_day, args.serve)
        return
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    SHARDS_PER_WORKER[0] = args.shards_per_worker
    folder = tempfile.mkdtemp(prefix="bench-reconcile-dask-")
    command = [sys.executable, "-m", "benchmarks.bench_reconcile_dask", "--stores",
               str(args.stores), "--days", str(args.days), "--per-day", str(args.per_day),
               "--serve", folder]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        server = psutil.Process(child.pid)
        planted = {tuple(key) for key in info["planted"]}
        span = {
            "start": date.fromisoformat(info["start"]),
            "end": date.fromisoformat(info["end"]),
            "as_of": date.fromisoformat(info["as_of"]),
            "stale_days": info["stale_days"],
        }
        rows = read_ledger(os.path.join(folder, "ledger.csv"))
        print(f"sandbox (own process): {info['authorizations']:,} authorizations; "
              f"ledger {len(rows):,} rows; {os.cpu_count()} CPUs")  # fmt: skip
        started, cpu = time.perf_counter(), (time.process_time(), _cpu(server))
        baseline = anyio.run(_single, info, rows, span)
        single = time.perf_counter() - started
        print(f"single process, concurrency {CONCURRENCY}: {single:6.2f} s "
              f"(client CPU {time.process_time() - cpu[0]:.1f} s, sandbox CPU "
              f"{_cpu(server) - cpu[1]:.1f} s)")  # fmt: skip
        assert baseline.keys() == planted, "the single-process run missed planted findings"
        factory = ClientFactory(
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            options={"base_url": info["base_url"], "max_concurrency": 2 * CONCURRENCY},
        )
        walls: dict[int, list[float]] = {workers: [] for workers in counts}
        for _ in range(args.rounds):  # interleaved, so load from elsewhere hits every count
            for workers in counts:
                result = anyio.run(_on_cluster, workers, factory, rows, span, server)
                same = _comparable(result.pop("report")) == _comparable(baseline)
                walls[workers].append(result["wall_s"])
                _print_run(result, same)
        if len(counts) > 1:
            base = statistics.median(walls[counts[0]])
            for workers in counts[1:]:
                best = statistics.median(walls[workers])
                print(f"speed-up {workers} workers over {counts[0]} (median of {args.rounds}): "
                      f"{base / best:.2f}x ({base:.2f} s -> {best:.2f} s)")  # fmt: skip
        sizes = _partial_sizes(info, span, 4)
        print(
            f"partials (first {sizes['shards']:.0f} shards): "
            f"{sizes['bytes_per_shard'] / 1024:.0f} KiB pickled per shard "
            f"({sizes['items_per_shard']:,.0f} items), "
            f"{sizes['bytes_per_reference']:.0f} bytes per reference"
        )
        print(f"load average: {os.getloadavg()}")
    finally:
        child.terminate()
        child.wait(timeout=10)


if __name__ == "__main__":
    main()
