"""The one cattrs converter (JSON <-> models) and canonical JSON for request bodies.

Everything that knows the wire lives here, not in ``models/``: scalar coercions
(`_scalars`: Flexiti renders ids and amounts both as numbers and as strings), tolerant
enums (`_enums`), spelling variants and fix-ups per model (`_renames`), the ``raw``
mapping kept on every response model and the configured converter (`_configured`), the
generated per-model structure functions (`_fastpath`) and JSON text (`_json`).

Structure functions are built lazily, on the first use of each model, which keeps
``import flexiti_async`` cheap.
"""

from __future__ import annotations

from ._configured import configure_converter, converter, structure, unstructure
from ._json import dumps, loads

__all__ = [
    "configure_converter",
    "converter",
    "dumps",
    "loads",
    "structure",
    "unstructure",
]
