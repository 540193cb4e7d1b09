"""Bounded concurrent fan-out: `bounded_map`, `date_windows`, `iterate_windows`.

Everything here runs on anyio (asyncio and trio) and bounds both concurrency and memory:
a fixed pool of workers pulls from the inputs lazily, and results wait for the consumer in
a buffer of fixed size, so a million inputs cost the same memory as a hundred::

    async with bounded_map(lookup, account_numbers, limit=8) as results:
        async for profile in results:
            ...

Keep ``limit`` at or below the client's ``max_concurrency`` so work queues here, not in the
connection pool. Task groups live inside the ``async with`` blocks; nothing keeps running
after a block exits (early ``break``, exception or cancellation included).

`bounded_map` lives in `_fanout`, the date windows in `_windows`.
"""

from __future__ import annotations

from ._fanout import OnError as OnError
from ._fanout import Outcome, bounded_map
from ._windows import date_windows, iterate_windows

__all__ = ["Outcome", "bounded_map", "date_windows", "iterate_windows"]
