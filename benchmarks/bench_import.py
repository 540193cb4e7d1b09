"""Import time: ``python -X importtime -c "import flexiti_async"`` vs ``import httpx``.

Each import runs in a fresh interpreter (interleaved, medians). The cumulative time of
the top-level module is compared; flexiti_async imports httpx itself, so the ratio
includes it. The flexiti modules (and the third-party packages they pull in beyond
httpx) with the largest self time are listed.

Measured in the steady state a user sees: bytecode caches are allowed (a
``PYTHONDONTWRITEBYTECODE`` in the environment is dropped for the child interpreters) and
one unmeasured import of each module writes them first; otherwise an editable checkout
would be timed compiling its sources against an httpx whose ``.pyc`` files pip wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from typing import Any

from ._harness import Context, fmt_ratio, interleaved, markdown_table, median

NAME = "import"
TITLE = "Import time: flexiti_async vs httpx"
TARGET = 1.5


def _parse(line: str) -> tuple[str, int, int] | None:
    if not line.startswith("import time:") or "[us]" in line:
        return None
    head, cumulative, name = line.split("|", 2)
    return name.strip(), int(head.split(":", 1)[1]), int(cumulative)


def importtime(module: str) -> dict[str, tuple[int, int]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    times: dict[str, tuple[int, int]] = {}
    for line in proc.stderr.splitlines():
        parsed = _parse(line)
        if parsed is not None:
            name, self_us, cumulative_us = parsed
            times[name] = (self_us, cumulative_us)
    return times


async def run(ctx: Context, server: object = None) -> dict[str, Any]:
    rounds = ctx.rounds_or(9, 5)
    totals: dict[str, list[int]] = {"flexiti_async": [], "httpx": []}
    self_times: dict[str, list[int]] = defaultdict(list)
    httpx_modules: set[str] = set()
    for module in totals:  # warm-up: writes the bytecode caches, fills the page cache
        importtime(module)
    for _, module in interleaved(list(totals), rounds):
        times = importtime(module)
        totals[module].append(times[module][1])
        if module == "flexiti_async":
            for name, (self_us, _) in times.items():
                self_times[name].append(self_us)
        else:
            httpx_modules.update(times)
    flexiti_ms = median(totals["flexiti_async"]) / 1e3
    httpx_ms = median(totals["httpx"]) / 1e3
    ratio = median(f / h for f, h in zip(totals["flexiti_async"], totals["httpx"], strict=True))

    ours = sorted(
        ((name, median(v)) for name, v in self_times.items() if name.startswith("flexiti_async")),
        key=lambda item: -item[1],
    )
    extra = sorted(
        (
            (name.split(".")[0], median(v))
            for name, v in self_times.items()
            if not name.startswith("flexiti_async") and name not in httpx_modules
        ),
        key=lambda item: -item[1],
    )
    by_package: dict[str, float] = defaultdict(float)
    for package, us in extra:
        by_package[package] += us
    our_total = sum(us for _, us in ours)
    table = markdown_table(
        ["import", "cumulative", f"ratio (target <= {TARGET}x)", "verdict"],
        [
            ["httpx", f"{httpx_ms:.1f} ms", "1.00x", ""],
            [
                "flexiti_async",
                f"{flexiti_ms:.1f} ms",
                fmt_ratio(ratio),
                "met" if ratio <= TARGET else "missed",
            ],
        ],
    )
    top = markdown_table(
        ["flexiti module", "self time", "share of flexiti's own modules"],
        [[name, f"{us / 1e3:.2f} ms", f"{us / our_total:.0%}"] for name, us in ours[:10]],
    )
    packages = markdown_table(
        ["package pulled in beyond httpx", "self time (all its modules)"],
        [
            [name, f"{us / 1e3:.2f} ms"]
            for name, us in sorted(by_package.items(), key=lambda i: -i[1])[:8]
        ],
    )
    text = (
        f"Median of {rounds} fresh interpreters each.\n\n{table}\n\n{top}\n\n"
        f"flexiti's own modules: {our_total / 1e3:.1f} ms self time in total.\n\n{packages}"
    )
    return {
        "title": TITLE,
        "text": text,
        "ratios": {"flexiti_async/httpx import": ratio},
        "rounds": rounds,
        "samples": {
            "cumulative_us": totals,
            "flexiti_self_us": dict(self_times),
        },
    }
