"""The pytest plugin's fixtures."""

from __future__ import annotations

import importlib

import pytest

from flexiti_async.testing import FlexitiSandbox
from flexiti_async.testing.pytest_plugin import DEFAULT_SEED

pytestmark = pytest.mark.anyio


def test_fixture_gives_a_seeded_sandbox(flexiti_sandbox: FlexitiSandbox) -> None:
    assert flexiti_sandbox.seed == DEFAULT_SEED
    assert flexiti_sandbox.client_id == FlexitiSandbox(seed=DEFAULT_SEED).client_id


@pytest.mark.flexiti_sandbox(seed=99, amounts_as_strings=True)
def test_marker_options(flexiti_sandbox: FlexitiSandbox) -> None:
    assert flexiti_sandbox.seed == 99
    assert flexiti_sandbox.options.amounts_as_strings


def test_package_import_is_lazy() -> None:
    module = importlib.import_module("flexiti_async.testing")
    assert "FlexitiSandbox" in dir(module)
    with pytest.raises(AttributeError):
        module.Nope  # noqa: B018


def _has_client() -> bool:
    return getattr(importlib.import_module("flexiti_async"), "FlexitiClient", None) is not None


@pytest.mark.skipif(not _has_client(), reason="FlexitiClient is not written yet")
async def test_client_fixture(flexiti_sandbox: FlexitiSandbox, flexiti_client: object) -> None:
    assert flexiti_client is not None
    assert flexiti_sandbox.stats.total_requests == 0  # tokens are fetched lazily
