"""pytest plugin (entry point ``flexiti_sandbox``): ``flexiti_sandbox`` and ``flexiti_client``.

Loaded in every pytest run of a project that installs flexiti-async, so it imports nothing
heavy until a fixture is used. Options for the sandbox go in a marker::

    @pytest.mark.flexiti_sandbox(seed=7, amounts_as_strings=True)
    async def test_something(flexiti_sandbox, flexiti_client): ...

``flexiti_client`` is an async fixture; run the test under anyio
(``pytestmark = pytest.mark.anyio``).

The sandbox is strict, like Flexiti (see ``FlexitiSandbox``): an online authorization needs
``widget.init`` first, an in-store one the PIN from ``accounts.verify`` (read it with
``flexiti_async.testing.read_pin``). A test about something else relaxes a check through
the marker, e.g. ``@pytest.mark.flexiti_sandbox(require_widget=False)``, or all of them
with ``strict=False``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flexiti_async.testing import FlexitiSandbox

__all__ = ["DEFAULT_SEED", "flexiti_client", "flexiti_sandbox"]

#: Seed of the ``flexiti_sandbox`` fixture unless the marker gives one.
DEFAULT_SEED = 1234


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``flexiti_sandbox`` marker."""
    config.addinivalue_line(
        "markers",
        "flexiti_sandbox(**options): keyword arguments for the flexiti_sandbox fixture",
    )


@pytest.fixture
def flexiti_sandbox(request: pytest.FixtureRequest) -> FlexitiSandbox:
    """A fresh, seeded ``FlexitiSandbox`` for one test."""
    try:
        from flexiti_async.testing import FlexitiSandbox
    except ImportError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"flexiti_sandbox needs the 'sandbox' extra: {exc}")
    marker = request.node.get_closest_marker("flexiti_sandbox")
    options: dict[str, Any] = {"seed": DEFAULT_SEED}
    if marker is not None:
        options.update(marker.kwargs)
    return FlexitiSandbox(**options)


@pytest.fixture
async def flexiti_client(flexiti_sandbox: FlexitiSandbox) -> AsyncIterator[Any]:
    """A ``FlexitiClient`` wired to ``flexiti_sandbox`` in process; closed afterwards."""
    http = flexiti_sandbox.http_client()
    client = flexiti_sandbox.client(http_client=http)
    try:
        yield client
    finally:
        await client.aclose()
        await http.aclose()
