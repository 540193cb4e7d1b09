"""Run one benchmark cell in a child process, so that a pathological cell can be killed.

raw httpx with 1,000+ callers waiting in httpcore's pool can take minutes to finish or
even to cancel; in a child process a hard deadline always holds.
``python -m benchmarks._cell ROW BASE_URL N CONCURRENCY BUDGET`` prints the result as JSON.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import anyio
import anyio.to_thread

from ._harness import RoundResult, run_cell

__all__ = ["run_isolated"]

#: Seconds allowed beyond the budget for interpreter start-up and cancellation.
_GRACE = 10.0


async def run_isolated(
    row: str, base_url: str, n: int, concurrency: int, budget: float
) -> RoundResult:
    """`run_cell` in a child process that is killed ``budget + 10`` s after it starts."""
    command = [sys.executable, "-m", "benchmarks._cell", row, base_url, str(n), str(concurrency)]
    command.append(str(budget))
    run = functools.partial(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        timeout=budget + _GRACE,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    try:
        proc = await anyio.to_thread.run_sync(run)
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return RoundResult(
            n=n,
            concurrency=concurrency,
            ok=0,
            failed=0,
            elapsed=budget + _GRACE,
            timed_out=True,
            p50=float("nan"),
            p99=float("nan"),
            errors={"killed": 1},
        )
    data.pop("rate", None)
    return RoundResult(**data)


def _main() -> None:
    row, base_url, n, concurrency, budget = sys.argv[1:6]
    result = anyio.run(
        functools.partial(run_cell, row, base_url, int(n), int(concurrency), budget=float(budget)),
        backend="asyncio",
    )
    print(json.dumps(result.as_dict()), flush=True)


if __name__ == "__main__":
    _main()
