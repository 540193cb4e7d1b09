"""The API reference on the docs site covers every public name, and only names that exist.

A name added to a public module's ``__all__`` without a ``::: module.name`` block in
docs/reference/ fails here, so the reference cannot silently fall behind the package.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import flexiti_async
import flexiti_async.resources

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"
DIRECTIVE = re.compile(r"^::: ([\w.]+)\s*$", re.MULTILINE)

#: Public modules whose ``__all__`` the reference must cover.
PUBLIC_MODULES = [
    "flexiti_async",
    "flexiti_async.errors",
    "flexiti_async.environments",
    "flexiti_async.models",
    "flexiti_async.pagination",
    "flexiti_async.concurrency",
    "flexiti_async.reconcile",
    "flexiti_async.testing",
    "flexiti_async.testing.pytest_plugin",
] + [
    f"flexiti_async.resources.{info.name}"
    for info in pkgutil.iter_modules(flexiti_async.resources.__path__)
    if not info.name.startswith("_")
]


def resolve(target: str) -> Any:
    """Import ``a.b.C`` as the longest importable module prefix plus attributes."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(target)


def documented() -> list[str]:
    targets: list[str] = []
    for page in sorted(REFERENCE.glob("*.md")):
        targets.extend(DIRECTIVE.findall(page.read_text(encoding="utf-8")))
    return targets


def public_names() -> list[tuple[str, str]]:
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        assert exported, f"{module_name} has no __all__: say what is public"
        names.extend((module_name, name) for name in exported)
    # The Dask adapter's names are public but imported on first use (extra ``dask``), so
    # they are not in ``__all__``; the module lists them for its ``__getattr__``.
    lazy = importlib.import_module("flexiti_async.reconcile")._DASK_NAMES
    names.extend(("flexiti_async.reconcile", name) for name in sorted(lazy))
    return names


def test_reference_pages_exist() -> None:
    assert len(documented()) > 100


@pytest.mark.parametrize("target", documented())
def test_every_reference_block_names_something_that_exists(target: str) -> None:
    assert target.startswith("flexiti_async")
    # Private modules move in refactors: the reference names public paths only.
    assert not any(part.startswith("_") for part in target.split(".")[1:-1]), target
    resolve(target)


def test_every_public_name_is_in_the_reference() -> None:
    targets = set(documented())
    # A name re-exported from another public module (flexiti_async.NotFoundError is
    # flexiti_async.errors.NotFoundError) is covered by that module's entry.
    by_name: dict[str, list[Any]] = {}
    for target in targets:
        by_name.setdefault(target.rsplit(".", 1)[-1], []).append(resolve(target))
    missing = []
    for module_name, name in public_names():
        if f"{module_name}.{name}" in targets:
            continue
        value = getattr(importlib.import_module(module_name), name)
        if any(other is value for other in by_name.get(name, [])):
            continue
        missing.append(f"{module_name}.{name}")
    assert not missing, f"add a '::: name' block to docs/reference/ for: {missing}"


def test_the_top_level_errors_module_is_documented() -> None:
    assert "flexiti_async.errors" in documented()
    assert flexiti_async.errors is resolve("flexiti_async.errors")
