"""Token storm: N concurrent calls on a cold client, across a forced expiry, and in the
refresh window; token requests made and the p99 latency added vs a warm client (issue 7).

Time is moved with the client's ``clock=`` parameter (tokens live 1,200 s on the
benchmark server): "expired" jumps past expiry (everyone must wait for one
client_credentials grant), "refresh window" jumps to 30 s before expiry (one caller
refreshes with the refresh_token grant, the others keep using the valid token).
Token requests are counted twice: by the client's TokenManager and by the server.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ._harness import Context, RoundResult, drive, fmt_seconds, interleaved, markdown_table, median
from ._payloads import CLIENT_ID, CLIENT_SECRET
from ._server import ServerProcess

NAME = "tokens"
TITLE = "Token storm: concurrent calls on cold / expiring tokens"

CASES = ("warm", "cold", "expired", "refresh window")
TTL = 1200.0
# The token manager is the same on both transports; aiohttp makes 10,000 calls take a
# third of the time. The native transport's cold-client token count is in `throughput`.
TRANSPORT = "aiohttp"


@asynccontextmanager
async def _client(base_url: str, case: str) -> AsyncIterator[Any]:
    from flexiti_async import FlexitiClient

    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    client = FlexitiClient(
        CLIENT_ID, CLIENT_SECRET, base_url=base_url, clock=clock, transport=TRANSPORT
    )
    async with client:
        if case != "cold":
            # Warm: a token and a full set of pooled connections.
            await drive(lambda: client.customers.lookup(account_number=1), 64, 32, 60)
        if case == "expired":
            offset[0] += TTL + 1
        elif case == "refresh window":
            offset[0] += TTL - 30
        yield client


async def run(ctx: Context, server: ServerProcess) -> dict[str, Any]:
    rounds = ctx.rounds_or(2, 1)
    n = ctx.n(10_000, 2_000)
    budget = 60.0 if ctx.quick else 180.0
    samples: dict[str, list[RoundResult]] = {case: [] for case in CASES}
    server_counts: dict[str, list[dict[str, int]]] = {case: [] for case in CASES}
    for _, case in interleaved(CASES, rounds):
        async with _client(server.base_url, case) as client:
            grants_before = dict(client.token_manager.grants)
            server.reset()

            def call(client: Any = client) -> Any:
                return client.customers.lookup(account_number=100000001)

            result = await drive(call, n, n, budget)
            stats = server.stats()
            grants = {
                k: v - grants_before.get(k, 0) for k, v in client.token_manager.grants.items()
            }
        result.token_requests = sum(grants.values())
        samples[case].append(result)
        server_counts[case].append(
            {
                "client_credentials": stats["client_credentials"],
                "refresh_token": stats["refresh_token"],
            }
        )
        print(
            f"  {case:<15} {result.ok:>6}/{n} ok  p50 {fmt_seconds(result.p50)}  "
            f"p99 {fmt_seconds(result.p99)}  client grants {grants}  server grants "
            f"{server_counts[case][-1]}" + (f"  FAILED {result.errors}" if result.failed else ""),
            flush=True,
        )

    warm = samples["warm"]
    rows = []
    summary: dict[str, Any] = {}
    for case in CASES:
        runs = samples[case]
        added = median(r.p99 - w.p99 for r, w in zip(runs, warm, strict=True))
        ratio = median(r.p99 / w.p99 for r, w in zip(runs, warm, strict=True))
        tokens = sorted({r.token_requests for r in runs})
        server_tokens = sorted(
            {c["client_credentials"] + c["refresh_token"] for c in server_counts[case]}
        )
        expected = 0 if case == "warm" else 1
        met = all(t == expected for t in tokens) and all(t == expected for t in server_tokens)
        failed = sum(r.failed for r in runs)
        summary[case] = {
            "token_requests": tokens,
            "server_token_requests": server_tokens,
            "p50": median(r.p50 for r in runs),
            "p99": median(r.p99 for r in runs),
            "added_p99": added,
            "p99_ratio": ratio,
            "failed": failed,
        }
        rows.append(
            [
                case,
                ", ".join(map(str, tokens)),
                ", ".join(map(str, server_tokens)),
                fmt_seconds(summary[case]["p50"]),
                fmt_seconds(summary[case]["p99"]),
                "-" if case == "warm" else f"{added * 1e3:+.1f} ms ({ratio:.2f}x)",
                failed,
                f"exactly {expected}: " + ("met" if met else "missed"),
            ]
        )
    table = markdown_table(
        [
            f"{n:,} concurrent calls",
            "token requests (client)",
            "(server)",
            "p50",
            "p99",
            "added p99 vs warm",
            "failed",
            "target",
        ],
        rows,
    )
    text = (
        f"{table}\n\nClient: transport={TRANSPORT!r}, default max_concurrency=32, {rounds} "
        "interleaved round(s). Every call is admitted 32 at a time, so p50/p99 are dominated "
        "by that queue; the added p99 is what the token fetch costs the slowest callers."
    )
    return {
        "title": TITLE,
        "text": text,
        "summary": summary,
        "rounds": rounds,
        "samples": {
            case: [
                {**r.as_dict(), "server_grants": counts}
                for r, counts in zip(samples[case], server_counts[case], strict=True)
            ]
            for case in CASES
        },
    }
