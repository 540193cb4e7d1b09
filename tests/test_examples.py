"""The README's two flows (examples/) run end to end against the sandbox on loopback."""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from flexiti_async.testing import FlexitiSandbox

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def test_instore_flow(capsys: pytest.CaptureFixture[str]) -> None:
    sandbox = FlexitiSandbox(seed=1)
    result = await load("instore_flow").main(sandbox)
    assert result.authorized == Decimal("1200.00")
    assert result.captured == Decimal("900.00")
    assert result.returned == Decimal("50.00")
    assert result.released == Decimal("300.00")
    kinds = [(e.kind, e.amount) for e in sandbox.ledger]
    assert kinds == [
        ("authorization", Decimal("1200.00")),
        ("capture", Decimal("900.00")),
        ("return", Decimal("50.00")),
        ("release", Decimal("300.00")),
    ]
    auth = sandbox.authorization(result.authorization_id)
    assert auth.status == "closed"
    assert "released 300.00" in capsys.readouterr().out
    # The PIN was read over the wire, as against `flexiti sandbox serve`, and used once.
    assert sandbox.stats.count("sandbox_pin", 200) == 1
    assert sandbox.stats.count("authorize", 200) == 1


async def test_online_flow() -> None:
    sandbox = FlexitiSandbox(seed=1)
    result = await load("online_flow").main(sandbox)
    assert result.widget_session_id
    assert result.captured == Decimal("249.99")
    assert [(e.kind, e.amount) for e in sandbox.ledger] == [
        ("authorization", Decimal("249.99")),
        ("capture", Decimal("249.99")),
    ]
