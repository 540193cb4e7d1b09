"""The long chaos run (marked ``slow``) runs only when a marker expression asks for it:
``nox -s chaos`` (``-m "slow or not slow"``), ``-m slow``. A plain ``pytest`` or
``pytest tests/chaos`` runs the small seed set only (CI passes ``-m "not slow"`` anyway)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr"):
        return  # the caller chose with -m: pytest's own selection applies
    skip = pytest.mark.skip(reason="long chaos run: `nox -s chaos` or -m 'slow or not slow'")
    for item in items:
        if item.get_closest_marker("slow") is not None and "tests/chaos/" in item.nodeid:
            item.add_marker(skip)
