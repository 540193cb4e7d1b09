"""`paused_gc`: build many acyclic objects without the cyclic collector re-scanning the heap."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a synchronous bulk build.

    Merging a run allocates a few objects per record while the ledger and the partials
    (hundreds of thousands of objects) are alive, and every collection the allocations
    trigger walks all of them: over half of the merge's time. Nothing built here forms a
    reference cycle, so nothing is left for the collector to find; it resumes (if it was on)
    when the block ends. Only for code that never awaits.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
