"""Reconcile ~100,000 ledger rows over 30 day windows against the loopback sandbox.

    python -m benchmarks.bench_reconcile            # 20 stores x 30 days x 167 a day
    python -m benchmarks.bench_reconcile --per-day 20   # a quick run
    python -m benchmarks.bench_reconcile --workers 1,2  # on Dask: bench_reconcile_dask

The sandbox runs in a child process (so the client's memory and CPU are measured alone):
it seeds the history, writes the matching ledger, and serves on 127.0.0.1. The parent
reads the ledger, then reconciles it at concurrency 1 and 16 and prints the wall times,
their ratio, the pickled size of the shard partials (bytes per reference), and the
tracemalloc peak of a separate traced run (ledger rows included; tracemalloc slows Python
down, so that run is not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from typing import Any

import anyio

from flexiti_async import FlexitiClient
from flexiti_async.reconcile import (
    EntryKind,
    LedgerRow,
    Partial,
    Report,
    ledger_csv,
    read_ledger,
    reconcile,
)

START = date(2024, 3, 1)
DAYS = 30


def _serve(stores: int, per_day: int, ledger_path: str) -> None:
    """Child process: seed, write the ledger, serve until killed; print one JSON line."""
    from flexiti_async.testing import FlexitiSandbox

    sandbox = FlexitiSandbox(seed=1, max_page_size=500)
    records = sandbox.seed_history(
        days=DAYS,
        stores=stores,
        per_day=per_day,
        start=START,
        seed=1,
        open_rate=0.0,
        partial_rate=0.0,
        return_rate=0.05,
        release_rate=0.02,
    )
    rows = []
    for record in records:
        auth, capture, ret = record.authorization, record.capture, record.returned
        if capture is None:
            continue  # released: a voided sale
        rows.append(
            LedgerRow(
                reference=auth.reference or "",
                store=auth.external_location_id,
                amount=capture.amount,
                date=auth.created.date(),
            )
        )
        if ret is not None:
            rows.append(
                LedgerRow(
                    reference=auth.reference or "",
                    store=auth.external_location_id,
                    amount=ret.amount,
                    date=ret.created.date(),
                    kind=EntryKind.RETURN,
                )
            )
    with open(ledger_path, "w", encoding="utf-8", newline="") as handle:
        handle.write(ledger_csv(rows))

    def ready(base_url: str) -> None:
        info = {
            "base_url": base_url,
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "authorizations": len(records),
        }
        print(json.dumps(info), flush=True)

    sandbox.serve_forever("127.0.0.1", 0, on_ready=ready)


async def _run(
    info: dict[str, Any],
    rows: list[LedgerRow],
    concurrency: int,
    partials: list[Partial] | None = None,
) -> Report:
    async with FlexitiClient(
        info["client_id"], info["client_secret"], base_url=info["base_url"], max_concurrency=32
    ) as client:
        end = date.fromordinal(START.toordinal() + DAYS - 1)
        return await reconcile(
            client,
            rows,
            start=START,
            end=end,
            as_of=end,
            concurrency=concurrency,
            page_size=500,
            on_partial=None if partials is None else partials.append,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--per-day", type=int, default=167)
    parser.add_argument("--serve", metavar="LEDGER", help=argparse.SUPPRESS)
    parser.add_argument(
        "--workers", metavar="N,M", help="run on Dask LocalClusters of N, M workers instead"
    )
    args = parser.parse_args()
    if args.serve:
        _serve(args.stores, args.per_day, args.serve)
        return
    if args.workers:  # the Dask variant has its own module (sandbox world, CPU by process)
        command = [sys.executable, "-m", "benchmarks.bench_reconcile_dask"]
        command += ["--workers", args.workers, "--stores", str(args.stores)]
        os.execv(sys.executable, [*command, "--per-day", str(args.per_day)])

    folder = tempfile.mkdtemp(prefix="bench-reconcile-")
    ledger_path = os.path.join(folder, "ledger.csv")
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_reconcile",
            "--stores",
            str(args.stores),
            "--per-day",
            str(args.per_day),
            "--serve",
            ledger_path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        started = time.perf_counter()
        rows = read_ledger(ledger_path)
        read_s = time.perf_counter() - started
        print(
            f"sandbox: {info['authorizations']:,} authorizations, {DAYS} day windows; "
            f"ledger: {len(rows):,} rows read in {read_s:.2f} s"
        )
        times: dict[int, float] = {}
        partials: list[Partial] = []
        for concurrency in (1, 16):
            started = time.perf_counter()
            kept = partials if concurrency == 16 else None
            report = anyio.run(_run, info, rows, concurrency, kept)
            times[concurrency] = time.perf_counter() - started
            print(
                f"concurrency {concurrency:>2}: {times[concurrency]:6.2f} s  "
                f"({report.matched:,} matched, {len(report.discrepancies)} discrepancies, "
                f"{report.stats['pages']} pages)"
            )
        print(f"ratio c=1 / c=16: {times[1] / times[16]:.2f}x")
        # What a shard ships to a merging process (issue 17): pickled partials per reference.
        blob = sum(len(pickle.dumps(p)) for p in partials)
        references = sum(len(p.references) for p in partials)
        print(
            f"partials: {len(partials)} shards, {blob / 2**20:.1f} MiB pickled, "
            f"{blob / max(references, 1):.0f} bytes per reference"
        )
        del partials
        del rows
        tracemalloc.start()
        rows = read_ledger(ledger_path)
        after_ledger = tracemalloc.get_traced_memory()[0]
        anyio.run(_run, info, rows, 16)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"tracemalloc (c=16, ledger read included): ledger rows "
            f"{after_ledger / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB"
        )
    finally:
        child.terminate()
        child.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
