"""Test helpers: the ``FlexitiSandbox`` POS API emulator, its faults, and a pytest plugin.

Needs the ``sandbox`` extra (starlette, uvicorn). Names are imported lazily so that the
pytest plugin stays cheap to load.

The sandbox is strict like Flexiti (``FlexitiSandbox(strict=False)`` or one switch relaxes
it); ``read_pin(flexiti, account_number)`` reads the PIN it "sent", in process or from
``flexiti sandbox serve``; ``sandbox.faults.hold(route)`` holds requests until released.

>>> from flexiti_async.testing import FlexitiSandbox, Fault
>>> sandbox = FlexitiSandbox(seed=1)
>>> sandbox.faults.add(route="capture", fault=Fault.status(503, retry_after=2), times=1)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clock import SandboxClock as SandboxClock
    from ._faults import ROUTES as ROUTES
    from ._faults import Fault as Fault
    from ._faults import FaultPlan as FaultPlan
    from ._faults import FaultRule as FaultRule
    from ._faults import Hold as Hold
    from ._ledger import Ledger as Ledger
    from ._ledger import LedgerEntry as LedgerEntry
    from ._pins import read_pin as read_pin
    from ._sandbox import FlexitiSandbox as FlexitiSandbox
    from ._serve import serve_forever as serve_forever
    from ._state import Account as Account
    from ._state import Authorization as Authorization
    from ._state import Capture as Capture
    from ._state import HistoryRecord as HistoryRecord
    from ._state import Merchant as Merchant
    from ._state import Plan as Plan
    from ._state import Release as Release
    from ._state import Return as Return
    from ._state import Store as Store
    from ._stats import Stats as Stats

__all__ = [
    "ROUTES",
    "Account",
    "Authorization",
    "Capture",
    "Fault",
    "FaultPlan",
    "FaultRule",
    "FlexitiSandbox",
    "HistoryRecord",
    "Hold",
    "Ledger",
    "LedgerEntry",
    "Merchant",
    "Plan",
    "Release",
    "Return",
    "SandboxClock",
    "Stats",
    "Store",
    "read_pin",
    "serve_forever",
]

_HOME = {
    "SandboxClock": "_clock",
    "ROUTES": "_faults",
    "Fault": "_faults",
    "FaultPlan": "_faults",
    "FaultRule": "_faults",
    "Hold": "_faults",
    "read_pin": "_pins",
    "FlexitiSandbox": "_sandbox",
    "Ledger": "_ledger",
    "LedgerEntry": "_ledger",
    "Stats": "_stats",
    "serve_forever": "_serve",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{_HOME.get(name, '_state')}", __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
