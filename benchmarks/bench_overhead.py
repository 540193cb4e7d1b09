"""Overhead: customers.lookup through flexiti_async vs raw httpx and aiohttp (issue 7).

Same request (headers incl. a fresh x-reference-id and a bearer token), same JSON
decoding into dicts for the raw clients; flexiti additionally structures a
`CustomerProfile`. Each cell opens a fresh client, warms it up (connections, token), then
times its share of calls; cells are interleaved round by round and ratios are taken per
round (paired) before the median.
"""

from __future__ import annotations

from typing import Any

from ._harness import (
    Context,
    RoundResult,
    fmt_ratio,
    fmt_seconds,
    interleaved,
    markdown_table,
    median,
    run_cell,
)
from ._server import ServerProcess

NAME = "overhead"
TITLE = "Overhead: customers.lookup, flexiti vs raw httpx / aiohttp"

ROWS = ("flexiti (httpx)", "httpx default pool", "httpx limits=concurrency", "aiohttp (raw)")
CONCURRENCY = (1, 50, 200)
BASELINES = ("httpx default pool", "httpx limits=concurrency", "aiohttp (raw)")
TARGET = 1.10
SLOW = {
    ("httpx default pool", 200),
    ("httpx limits=concurrency", 50),
    ("httpx limits=concurrency", 200),
}


def _calls_per_round(ctx: Context, row: str, concurrency: int, rounds: int) -> int:
    total = ctx.n(10_000, 1_000)
    per_round = max(total // rounds, concurrency)
    if (row, concurrency) in SLOW:
        # httpcore's pool degrades here (issue 9): an eighth of the calls shows it.
        per_round = max(per_round // 8, concurrency)
    return per_round


async def run(ctx: Context, server: ServerProcess) -> dict[str, Any]:
    base_url = server.base_url
    rounds = ctx.rounds_or(5, 3)
    budget = 40.0 if ctx.quick else 120.0
    cells = [(row, c) for c in CONCURRENCY for row in ROWS]
    samples: dict[tuple[str, int], list[RoundResult]] = {cell: [] for cell in cells}
    # A short untimed pass first: imports, code paths, the server's page cache.
    for row in ROWS:
        await run_cell(row, base_url, 50, 10, budget=budget)
    for _, (row, c) in interleaved(cells, rounds):
        n = _calls_per_round(ctx, row, c, rounds)
        result = await run_cell(row, base_url, n, c, budget=budget, warmup=min(c, 100))
        samples[(row, c)].append(result)
        print(
            f"  {row:<26} c={c:<4} {result.ok:>6}/{n} ok  {result.rate:8.0f}/s  "
            f"p50 {fmt_seconds(result.p50)}  p99 {fmt_seconds(result.p99)}"
            + (f"  FAILED {result.errors}" if result.failed else "")
            + ("  TIMEOUT" if result.timed_out else ""),
            flush=True,
        )

    def ratio(c: int, baseline: str) -> float:
        # Time per call, flexiti over baseline, paired by round.
        pairs = zip(samples[("flexiti (httpx)", c)], samples[(baseline, c)], strict=True)
        return median(b.rate / f.rate for f, b in pairs if f.ok and b.ok)

    rows = []
    summary: dict[str, Any] = {}
    for c in CONCURRENCY:
        for row in ROWS:
            runs = samples[(row, c)]
            rate = median(r.rate for r in runs)
            failed = sum(r.failed for r in runs)
            entry = {
                "calls": sum(r.ok + r.failed for r in runs),
                "rate": rate,
                "p50": median(r.p50 for r in runs),
                "p99": median(r.p99 for r in runs),
                "failed": failed,
                "timed_out": any(r.timed_out for r in runs),
            }
            note = f" ({failed} failed)" if failed else ""
            rows.append(
                [
                    c,
                    row,
                    entry["calls"],
                    f"{rate:,.0f}/s{note}",
                    fmt_seconds(entry["p50"]),
                    fmt_seconds(entry["p99"]),
                ]
            )
            summary[f"{row} @ c={c}"] = entry
    table = markdown_table(["c", "client", "calls", "throughput", "p50", "p99"], rows)

    ratio_rows = []
    ratios: dict[str, float] = {}
    for c in CONCURRENCY:
        values = [ratio(c, b) for b in BASELINES]
        for b, v in zip(BASELINES, values, strict=True):
            ratios[f"flexiti/{b} @ c={c}"] = v
        verdicts = ["met" if v <= TARGET else "missed" for v in values[:2]]
        ratio_rows.append([c, *(fmt_ratio(v) for v in values), " / ".join(verdicts)])
    ratio_table = markdown_table(
        [
            "c",
            "flexiti / httpx default",
            "flexiti / httpx tuned",
            "flexiti / aiohttp",
            f"target <= {TARGET:.2f}x (default / tuned)",
        ],
        ratio_rows,
    )
    text = (
        f"{table}\n\nTime per call, flexiti over the baseline (median of per-round ratios; "
        f">1 = flexiti slower):\n\n{ratio_table}"
    )
    return {
        "title": TITLE,
        "text": text,
        "summary": summary,
        "ratios": ratios,
        "rounds": rounds,
        "samples": {
            f"{row} @ c={c}": [r.as_dict() for r in runs] for (row, c), runs in samples.items()
        },
    }
