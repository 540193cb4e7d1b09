"""Shared helpers of the paginator tests: a fake history ``fetch`` and bounded waits."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel

from tests._paging_server import envelope

KEYS = ("authorizations", "captures", "data", "items", "results", "content")


def parse(raw: Any) -> int:
    return int(raw["authorization_id"])


class FakeHistory:
    """A fake ``fetch`` over ids 1..total, with gates, failures and counters."""

    def __init__(
        self,
        total: int,
        *,
        page_size: int = 100,
        shape: str = "list",
        serve_size: int | None = None,
        page_map: Callable[[int], int] | None = None,
    ) -> None:
        self.total = total
        self.page_size = page_size
        self.serve_size = serve_size or page_size  # a server capping page_size
        self.shape = shape
        self.page_map = page_map  # which page the server really serves for a request
        self.requests: list[int] = []
        self.active = 0
        self.cancelled = 0
        self.gates: dict[int, anyio.Event] = {}
        self.fail_at: dict[int, Exception] = {}

    async def fetch(self, page: int) -> Any:
        self.requests.append(page)
        self.active += 1
        try:
            await anyio.lowlevel.checkpoint()
            gate = self.gates.get(page)
            if gate is not None:
                await gate.wait()
            if page in self.fail_at:
                raise self.fail_at.pop(page)
            served = self.page_map(page) if self.page_map else page
            size = self.serve_size
            start = (served - 1) * size
            items = [
                {"authorization_id": i} for i in range(start + 1, min(start + size, self.total) + 1)
            ]
            body = envelope(
                self.shape, items, page=served, size=size, total=self.total, key="authorizations"
            )
            return body
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.active -= 1


async def wait_until(predicate: Callable[[], bool], *, timeout: float = 5) -> None:
    """Yield to other tasks until ``predicate()`` holds (a bounded wait, not a timing test)."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.lowlevel.checkpoint()


async def settle(rounds: int = 50) -> None:
    for _ in range(rounds):
        await anyio.lowlevel.checkpoint()


def expected_requests(total: int, size: int, shape: str) -> int:
    pages = math.ceil(total / size)
    if shape in ("list", "plain"):
        # Without counts a full last page costs exactly one empty request beyond the end.
        return pages + 1 if total % size == 0 else pages
    return max(pages, 1)
