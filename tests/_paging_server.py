"""A tiny history-listing server for paging and fan-out tests (not the sandbox).

`PagingApp` serves ``GET /authorizations?page_number=&page_size=`` over N synthetic items in
one of several response shapes, counts requests, and tracks how many requests it is
handling at once. Use it in-process through ``httpx.ASGITransport`` or over a real loopback
socket with `serve_in_thread` (uvicorn on 127.0.0.1, port 0, its own asyncio loop in a
thread, so the test itself may run under trio).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

#: Response shapes: a bare list, or an envelope whose end-of-history signal is the key.
SHAPES = (
    "list",
    "plain",  # envelope with the list only: ends by short/empty page like a bare list
    "total_pages",
    "total_count",
    "last",
    "has_more",
    "has_next",
    "next",
    "next_page",
)


def make_item(i: int) -> dict[str, Any]:
    return {
        "authorization_id": i,
        "amount": f"{i % 1000}.{i % 100:02d}",
        "external_location_id": f"store-{i % 3}",
    }


def envelope(shape: str, items: list[Any], *, page: int, size: int, total: int, key: str) -> Any:
    """The body for one page in the given shape."""
    if shape == "list":
        return items
    pages = -(-total // size)
    body: dict[str, Any] = {key: items, "page_number": page, "page_size": size}
    more = page < pages
    if shape == "total_pages":
        body["total_pages"] = pages
    elif shape == "total_count":
        body["total_count"] = total
    elif shape == "last":
        body["last"] = not more
    elif shape in ("has_more", "has_next"):
        body[shape] = more
    elif shape in ("next", "next_page"):
        body[shape] = f"/authorizations?page_number={page + 1}" if more else None
    return body


class PagingApp:
    """Starlette app over ``total`` items; counters are read by the tests."""

    def __init__(
        self, total: int, *, shape: str = "list", key: str = "authorizations", delay: float = 0
    ) -> None:
        self.total = total
        self.shape = shape
        self.key = key
        self.delay = delay  # seconds per request, only to make requests overlap
        self.requests = 0
        self.pages_requested: list[int] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()  # uvicorn's thread and the test read/write counters
        self.app = Starlette(
            routes=[
                Route("/authorizations", self.authorizations),
                Route("/item/{n:int}", self.item),
            ]
        )

    def _enter(self) -> None:
        with self._lock:
            self.requests += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _exit(self) -> None:
        with self._lock:
            self.active -= 1

    async def _pause(self) -> None:
        # The app may run under trio (ASGITransport) or asyncio (uvicorn).
        if self.delay:
            await anyio.sleep(self.delay)

    async def authorizations(self, request: Request) -> JSONResponse:
        self._enter()
        try:
            page = int(request.query_params.get("page_number", "1"))
            size = int(request.query_params.get("page_size", "100"))
            self.pages_requested.append(page)
            await self._pause()
            start = (page - 1) * size
            items = [make_item(i) for i in range(start + 1, min(start + size, self.total) + 1)]
            body = envelope(self.shape, items, page=page, size=size, total=self.total, key=self.key)
            return JSONResponse(body)
        finally:
            self._exit()

    async def item(self, request: Request) -> JSONResponse:
        self._enter()
        try:
            await self._pause()
            return JSONResponse(make_item(request.path_params["n"]))
        finally:
            self._exit()


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (random port) in a thread; yields the base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        for _ in range(1000):  # bounded wait for startup (~10 s)
            if server.started:
                break
            time.sleep(0.01)
        else:
            raise RuntimeError("uvicorn did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
