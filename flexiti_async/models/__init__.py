"""Typed, immutable models of Flexiti POS API requests and responses.

Models are plain attrs classes: frozen, slotted, keyword-only, without wire-format
knowledge (the one converter in ``flexiti_async._converter`` owns renames, spelling
variants and type coercion). Money is always `decimal.Decimal`. Every response model keeps
the decoded JSON object it was built from in ``raw`` (read-only, excluded from ``repr``
and ``==``), so fields Flexiti adds later stay reachable.

``terms-and-conditions`` and ``i18n`` have no model: Flexiti never published their
schema, so they are returned as the decoded JSON (as is ``apply``).

The model classes are built on first access to one of them (PEP 562), so importing the
package, or the converter, does not pay for that. Each name is listed once: in the
``__all__`` of the submodule that defines it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .accounts import *  # noqa: F403
    from .authorizations import *  # noqa: F403
    from .customers import *  # noqa: F403
    from .enums import *  # noqa: F403
    from .location import *  # noqa: F403
    from .merchants import *  # noqa: F403
    from .transactions import *  # noqa: F403
    from .widget import *  # noqa: F403

_SUBMODULES = (
    "enums",
    "customers",
    "accounts",
    "authorizations",
    "transactions",
    "widget",
    "merchants",
    "location",
)


def _load() -> list[str]:
    """Import every submodule; put its public names here; return them all, in order."""
    names: list[str] = []
    for submodule in _SUBMODULES:
        module = importlib.import_module(f".{submodule}", __name__)
        names += module.__all__
        globals().update({name: getattr(module, name) for name in module.__all__})
    return names


# Hidden from type checkers, which see the imports above instead: a module-level
# __getattr__ would make them accept any misspelt name.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """Build the models on first access to one of them (or to ``__all__``)."""
        names = _load()
        globals()["__all__"] = names  # later look-ups no longer come here
        if name in globals():
            return globals()[name]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        """List the lazily loaded public names too."""
        return sorted(set(globals()) | set(__getattr__("__all__")))
