"""``python -m flexiti_async.cli``: the same as the ``flexiti`` console script."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main()
