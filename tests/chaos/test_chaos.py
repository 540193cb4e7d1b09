"""Chaos: mixed operations at high concurrency against the loopback sandbox under a seeded
fault plan, with the invariants of `_harness` checked at the end of every run.

The small seed set runs in CI under asyncio and trio. The long run (many seeds, thousands of
operations each) is marked ``slow``: ``nox -s chaos`` or
``pytest tests/chaos -m "slow or not slow" -s`` to see the figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ._harness import ChaosRun, merge_reports

pytestmark = pytest.mark.anyio

CI_SEEDS = (1, 2)
CI_OPERATIONS = 400
LONG_SEEDS = tuple(range(101, 111))
AIOHTTP_SEEDS = (201, 202, 203)
LONG_OPERATIONS = 2500


def _backend(anyio_backend: Any) -> str:
    return str(anyio_backend[0] if isinstance(anyio_backend, tuple) else anyio_backend)


def _publish(report: dict[str, Any], path: Path) -> None:
    text = json.dumps(report, indent=2, sort_keys=True, default=str)
    path.write_text(text)
    print(f"\nchaos report ({path}):\n{text}")


def _assert_clean(report: dict[str, Any]) -> None:
    """No escaped exception, duplicate, leak, ledger disagreement or token excess."""
    where = f"seed {report['seed']} on {report['backend']}/{report['transport']}"
    for key in ("escaped", "duplicates", "leaks", "mismatches", "token_grant_problems"):
        assert report[key] == [], f"{key} ({where}): {report[key][:20]}"
    assert report["outcomes"]["escaped"] == 0, where


@pytest.mark.parametrize("seed", CI_SEEDS)
async def test_chaos(seed: int, anyio_backend: Any, tmp_path: Path) -> None:
    run = ChaosRun(seed, operations=CI_OPERATIONS, backend=_backend(anyio_backend))
    report = await run.run()
    _publish(report, tmp_path / f"chaos-{report['backend']}-{seed}.json")
    _assert_clean(report)
    # The run really was chaotic, and really did work.
    assert report["operations"] >= CI_OPERATIONS * 0.6
    assert report["faults_injected_total"] > 0
    assert report["outcomes"]["ok"] > report["operations"] / 2


@pytest.mark.slow
async def test_chaos_long_run(anyio_backend: Any, tmp_path: Path) -> None:
    backend = _backend(anyio_backend)
    reports = []
    for seed in LONG_SEEDS:
        report = await ChaosRun(seed, operations=LONG_OPERATIONS, backend=backend).run()
        _publish(report, tmp_path / f"chaos-{backend}-{seed}.json")
        _assert_clean(report)
        reports.append(report)
    total = merge_reports(reports)
    total["backend"] = backend
    _publish(total, tmp_path / f"chaos-{backend}-total.json")
    assert total["duplicates"] == 0
    assert total["leaks"] == 0
    assert total["mismatches"] == 0
    assert total["outcomes"]["escaped"] == 0
    assert total["operations"] >= len(LONG_SEEDS) * LONG_OPERATIONS * 0.6


@pytest.mark.slow
async def test_chaos_long_run_on_aiohttp(anyio_backend: Any, tmp_path: Path) -> None:
    """The same invariants on the aiohttp transport (asyncio only; no httpcore pool to
    inspect, the admission limiter still is)."""
    backend = _backend(anyio_backend)
    if backend != "asyncio":
        pytest.skip("the aiohttp transport is asyncio-only")
    reports = []
    for seed in AIOHTTP_SEEDS:
        run = ChaosRun(seed, operations=LONG_OPERATIONS, backend=backend, transport="aiohttp")
        report = await run.run()
        _publish(report, tmp_path / f"chaos-aiohttp-{seed}.json")
        _assert_clean(report)
        reports.append(report)
    total = merge_reports(reports)
    total["backend"] = f"{backend}+aiohttp"
    _publish(total, tmp_path / "chaos-aiohttp-total.json")
