"""examples/trio_batch.py: its main runs under trio against a sandbox it starts itself."""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
pytest.importorskip("trio")

import trio

from flexiti_async.testing import FlexitiSandbox

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "trio_batch.py"
ACCOUNTS = 120


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_trio_batch", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_trio_batch_main_runs_under_trio(capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example()
    sandbox = FlexitiSandbox(seed=5)
    report = trio.run(lambda: example.main(sandbox, accounts=ACCOUNTS))
    assert len(report.available) == ACCOUNTS
    expected = {Decimal(f"{100 + n}.00") for n in range(ACCOUNTS)}
    assert set(report.available.values()) == expected
    assert report.failed == {99_999_999_999: "not_found"}
    # Bounded concurrency: the client's admission limit and the map's limit (16).
    assert sandbox.stats.max_in_flight <= 16
    assert sandbox.stats.count("lookup") == ACCOUNTS + 1
    assert sandbox.stats.token_grants["client_credentials"] == 1
    assert f"{ACCOUNTS} accounts" in capsys.readouterr().out
