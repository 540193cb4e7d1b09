"""Shared test configuration.

* Every async test runs under asyncio and trio (the ``anyio_backend`` fixture).
* ``@pytest.mark.needs_service("redis")`` marks a test that needs a real local service
  (redis-server, uvicorn, a Dask cluster, the OTel SDK, ...). Such a test may skip on a
  developer's machine when the service is missing, but when the ``CI`` environment variable
  is set (``.ci/run`` sets ``CI=true``) a skip of a marked test is reported as a failure, so
  CI cannot go green without having run them.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

_FALSE = {"", "0", "false", "no", "off"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in _FALSE


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_service(name): needs a real local service; a skip fails the run when CI is set",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    marker = item.get_closest_marker("needs_service")
    if marker is None or not report.skipped or hasattr(report, "wasxfail") or not _in_ci():
        return
    services = ", ".join(str(arg) for arg in marker.args) or "a service"
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"{item.nodeid} needs {services} but was skipped under CI ({reason}); "
        "install the service or unset CI to allow the skip"
    )


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {"debug": True}), id="asyncio"),
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param
