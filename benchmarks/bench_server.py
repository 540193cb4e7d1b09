"""Is the benchmark server the bottleneck? Its CPU use while serving the fastest client.

Raw aiohttp, the fastest client measured, runs lookups at c=50 against the server while the
server's own CPU time is read from ``/proc/<pid>/stat``. Server CPU seconds per request give
its capacity (what one server process could answer with a whole core), and its utilisation
shows how close the client came to it. Both server implementations are measured.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._harness import Context, interleaved, markdown_table, median, run_cell
from ._server import ServerProcess

NAME = "server"
TITLE = "Server check: the loopback server's CPU while serving raw aiohttp"

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def run(ctx: Context, server: ServerProcess) -> dict[str, Any]:
    if not Path("/proc/self/stat").exists():
        return {"title": TITLE, "text": "skipped: needs Linux /proc", "skipped": True}
    rounds = ctx.rounds_or(3, 2)
    n = ctx.n(5_000, 2_000)
    kinds = {server.kind: server}
    other_kind = "uvicorn" if server.kind == "raw" else "raw"
    samples: dict[str, list[dict[str, float]]] = {}
    with ServerProcess(other_kind) as other:
        kinds[other_kind] = other
        for kind, target in kinds.items():  # warm-up
            samples[kind] = []
            await run_cell("aiohttp (raw)", target.base_url, 500, 50, budget=60)
        for _, kind in interleaved(list(kinds), rounds):
            target = kinds[kind]
            assert target.pid is not None
            before = cpu_seconds(target.pid)
            result = await run_cell("aiohttp (raw)", target.base_url, n, 50, budget=60)
            used = cpu_seconds(target.pid) - before
            sample = {
                "client_rate": result.rate,
                "server_cpu_per_request": used / max(result.ok, 1),
                "server_utilisation": used / result.elapsed,
            }
            samples[kind].append(sample)
            print(
                f"  {kind:<8} raw aiohttp {result.rate:7,.0f}/s; server busy "
                f"{sample['server_utilisation']:.0%} of a core, "
                f"{sample['server_cpu_per_request'] * 1e6:.0f} µs CPU per request",
                flush=True,
            )
    rows = []
    for kind, values in samples.items():
        per_request = median(v["server_cpu_per_request"] for v in values)
        rows.append(
            [
                kind + (" (used)" if kind == server.kind else ""),
                f"{median(v['client_rate'] for v in values):,.0f}/s",
                f"{per_request * 1e6:.0f} µs",
                f"{1 / per_request:,.0f}/s",
                f"{median(v['server_utilisation'] for v in values):.0%}",
            ]
        )
    table = markdown_table(
        [
            "server",
            "raw aiohttp c=50",
            "server CPU / request",
            "server capacity (1 core)",
            "server busy",
        ],
        rows,
    )
    return {"title": TITLE, "text": table, "rounds": rounds, "samples": samples}
