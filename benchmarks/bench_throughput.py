"""Throughput: 5,000 GETs of a ~600-byte JSON body at concurrency 50-5,000 (issue 9).

Reproduces the issue's table (raw httpx with its default pool, with limits = concurrency,
with keep-alive = max = 32 behind a CapacityLimiter(32), httpx on the httpx-aiohttp
transport, raw aiohttp) and adds flexiti_async on its native transport and on the aiohttp
transport, with the token requests each cold flexiti client made.

Every cell starts cold (new client: connections, and for flexiti the token, are part of
the time) and has a time budget. The raw-httpx rows are slow by design (that is the bug
being measured), so below c=1,000 they run fewer calls and their time is scaled to 5,000
(marked with a dagger); at c >= 1,000 they run the full wave so that the pool really
holds that many waiters.
"""

from __future__ import annotations

from typing import Any

from ._cell import run_isolated
from ._harness import (
    Context,
    RoundResult,
    fmt_ratio,
    interleaved,
    markdown_table,
    median,
    run_cell,
)
from ._server import ServerProcess

NAME = "throughput"
TITLE = "Throughput: 5,000 GETs (~600-byte JSON) by concurrency"

ROWS = (
    "httpx default pool",
    "httpx limits=concurrency",
    "httpx keep-alive=max=32 + limiter(32)",
    "httpx + httpx-aiohttp",
    "aiohttp (raw)",
    "flexiti (httpx)",
    "flexiti (aiohttp)",
)
SLOW_ROWS = ROWS[:3]
#: Rows whose pool collapses at c >= 1,000: run once, in a child process with a hard deadline.
ISOLATED = ROWS[:2]
CONCURRENCY = (50, 200, 1000, 5000)
TOTAL = 5_000
#: The first measurement in issue 9 (seconds for 5,000 GETs), for reference.
ISSUE_9 = {
    "httpx default pool": ("9.0", "44", "PoolTimeout", "-"),
    "httpx limits=concurrency": ("8.3", "12", "26", "-"),
    "httpx keep-alive=max=32 + limiter(32)": ("8.7", "8.0", "8.6", "-"),
    "httpx + httpx-aiohttp": ("2.3", "2.1", "2.7", "-"),
    "aiohttp (raw)": ("0.65", "0.77", "1.0", "-"),
}


def _calls(ctx: Context, row: str, concurrency: int) -> int:
    if concurrency >= 1000:
        return max(concurrency, ctx.n(TOTAL, 1_000))
    if row in SLOW_ROWS:
        return ctx.n(500, 300)
    return ctx.n(TOTAL, 1_000)


def _cell_text(runs: list[RoundResult], scaled: bool) -> str:
    if not runs:
        return "-"
    if any("killed" in r.errors for r in runs):
        return f"timeout: killed after {runs[0].elapsed:.0f} s"
    failed = sum(r.failed for r in runs)
    timed_out = sum(r.timed_out for r in runs)
    if failed or timed_out:
        done = median(r.ok for r in runs)
        n = runs[0].n
        kinds = sorted({k for r in runs for k in r.errors})
        what = ", ".join(kinds) if kinds else "timeout"
        if timed_out and kinds:
            what += ", timeout"
        return f"failed: {what} ({done:.0f}/{n} ok)"
    seconds = TOTAL / median(r.rate for r in runs)
    return f"{seconds:.2f} s" + ("†" if scaled else "")


async def run(ctx: Context, server: ServerProcess) -> dict[str, Any]:
    rounds = ctx.rounds_or(2, 1)
    budget = 15.0 if ctx.quick else 20.0
    base_url = server.base_url
    cells = [(row, c) for c in CONCURRENCY for row in ROWS]
    samples: dict[tuple[str, int], list[RoundResult]] = {cell: [] for cell in cells}
    server_tokens: dict[tuple[str, int], list[int]] = {cell: [] for cell in cells}
    for row in ROWS:  # untimed warm-up pass: imports and code paths
        await run_cell(row, base_url, 50, 10, budget=budget)
    for round_number, (row, c) in interleaved(cells, rounds):
        n = _calls(ctx, row, c)
        isolated = row in ISOLATED and c >= 1000
        if isolated and round_number > 0:
            continue  # pathological and slow: measured once, in a child process
        server.reset()
        if isolated:
            result = await run_isolated(row, base_url, n, c, budget)
        else:
            result = await run_cell(row, base_url, n, c, budget=budget)
        stats = server.stats()
        server_tokens[(row, c)].append(stats["client_credentials"] + stats["refresh_token"])
        samples[(row, c)].append(result)
        print(
            f"  {row:<38} c={c:<5} {result.ok:>5}/{n} ok in {result.elapsed:6.2f} s "
            f"({result.rate:7.0f}/s)"
            + (f" tokens={result.token_requests}" if result.token_requests is not None else "")
            + (f"  FAILED {result.errors}" if result.failed else "")
            + ("  TIMEOUT" if result.timed_out else ""),
            flush=True,
        )

    def paired(a: str, b: str, c: int) -> float:
        """Median over rounds of rate(a) / rate(b): how many times faster a is than b."""
        pairs = zip(samples[(a, c)], samples[(b, c)], strict=False)  # isolated: 1 round
        return median(x.rate / y.rate for x, y in pairs if x.ok and y.ok)

    rows = []
    for row in ROWS:
        line: list[Any] = [row]
        for c in CONCURRENCY:
            runs = samples[(row, c)]
            line.append(_cell_text(runs, scaled=bool(runs) and runs[0].n < TOTAL))
        if row.startswith("flexiti"):
            counts = sorted(
                {t for c in CONCURRENCY for r in samples[(row, c)] for t in [r.token_requests]}
            )
            line.append(", ".join(str(t) for t in counts))
        else:
            line.append("-")
        rows.append(line)
    table = markdown_table(
        ["client", *(f"c={c}" for c in CONCURRENCY), "token requests / cold client"], rows
    )
    reference = markdown_table(
        ["client (issue 9, first measurement)", *(f"c={c}" for c in CONCURRENCY)],
        [[row, *values] for row, values in ISSUE_9.items()],
    )

    native = "flexiti (httpx)"
    fast = "flexiti (aiohttp)"
    native_200 = paired(native, "httpx default pool", 200)
    fast_200 = paired(fast, "httpx default pool", 200)
    native_5000 = samples[(native, 5000)]
    native_ok_5000 = all(r.complete for r in native_5000)
    ratios: dict[str, float] = {}
    ratio_rows = []
    for c in CONCURRENCY:
        vs_hx_aio = paired("httpx + httpx-aiohttp", fast, c)  # time ratio fast / httpx-aiohttp
        vs_raw = paired(native, "httpx default pool", c)
        vs_tuned = paired(native, "httpx limits=concurrency", c)
        vs_aiohttp = paired("aiohttp (raw)", native, c)
        ratios.update(
            {
                f"native/httpx-default speedup @ c={c}": vs_raw,
                f"native/httpx-tuned speedup @ c={c}": vs_tuned,
                f"aiohttp-transport time / httpx-aiohttp time @ c={c}": vs_hx_aio,
                f"aiohttp-transport/httpx-default speedup @ c={c}": paired(
                    fast, "httpx default pool", c
                ),
                f"raw-aiohttp/native speedup @ c={c}": vs_aiohttp,
            }
        )
        ratio_rows.append(
            [
                c,
                fmt_ratio(vs_raw),
                fmt_ratio(vs_tuned),
                fmt_ratio(ratios[f"aiohttp-transport/httpx-default speedup @ c={c}"]),
                fmt_ratio(vs_hx_aio),
                fmt_ratio(vs_aiohttp),
            ]
        )
    ratio_table = markdown_table(
        [
            "c",
            "native vs raw httpx (x faster)",
            "native vs httpx tuned (x faster)",
            "aiohttp transport vs raw httpx (x faster)",
            "aiohttp transport time / httpx-aiohttp time",
            "raw aiohttp vs native (x faster)",
        ],
        ratio_rows,
    )
    hx_aio_worst = max(
        (paired("httpx + httpx-aiohttp", fast, c) for c in CONCURRENCY), default=float("nan")
    )
    targets = [
        ("native >= 5x raw httpx throughput at c=200", fmt_ratio(native_200), native_200 >= 5),
        (
            "native: no failures at c=5000",
            "no failures" if native_ok_5000 else "failures/timeouts",
            native_ok_5000,
        ),
        (
            "aiohttp transport within 1.3x of httpx + httpx-aiohttp (worst c)",
            fmt_ratio(hx_aio_worst),
            hx_aio_worst <= 1.3,
        ),
        ("aiohttp transport >= 15x raw httpx at c=200", fmt_ratio(fast_200), fast_200 >= 15),
    ]
    target_table = markdown_table(
        ["target", "measured", "verdict"],
        [[t, m, "met" if ok else "missed"] for t, m, ok in targets],
    )
    text = (
        f"Seconds for 5,000 GETs (median of {rounds} interleaved rounds; † = measured over "
        f"fewer calls and scaled to 5,000):\n\n{table}\n\n{ratio_table}\n\n{target_table}\n\n"
        f"For reference, the issue's first measurement on another machine:\n\n{reference}"
    )
    return {
        "title": TITLE,
        "text": text,
        "ratios": ratios,
        "targets": {t: {"measured": m, "met": ok} for t, m, ok in targets},
        "rounds": rounds,
        "samples": {
            f"{row} @ c={c}": [
                {**r.as_dict(), "server_token_requests": tokens}
                for r, tokens in zip(runs, server_tokens[(row, c)], strict=True)
            ]
            for (row, c), runs in samples.items()
        },
    }
