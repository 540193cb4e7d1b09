"""Loopback uvicorn server for the sandbox.

Under asyncio uvicorn runs as a task on the caller's own loop: one thread, so the client
under test and the sandbox do not fight over the GIL (a thread costs ~4x throughput on a
loaded loopback). Under trio, where uvicorn cannot run, it gets a thread with its own
asyncio loop.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import threading
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.to_thread
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._app import CLOSE_CONNECTION_KEY, PREFIX

__all__ = ["BindError", "check_loopback", "run_forever", "serve_app"]


class _DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, giving the app a way to close its own connection.

    uvicorn answers 500 when an app raises before starting a response, so a dropped
    connection cannot be an exception: the app closes the transport itself instead.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        inner: ASGIApp = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope[CLOSE_CONNECTION_KEY] = transport.close
            await inner(scope, receive, send)

        self.app = app


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handlers: it runs inside someone else's program (tests)."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def check_loopback(host: str) -> None:
    """Refuse anything but a loopback address: the sandbox has no real security."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the sandbox binds loopback addresses only, not {host!r}")


def _config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_DroppableH11Protocol,
        loop="asyncio",
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # Longer than the client's idle expiry (httpx: 5 s), so the server never closes a
        # kept-alive connection just as the client reuses it: a POST lost in that race
        # ends as OutcomeUnknownError, which on a loaded test machine makes runs flaky.
        timeout_keep_alive=60,
        timeout_graceful_shutdown=2,
    )


class BindError(OSError):
    """The sandbox could not listen on the address (in use, or not available)."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this. Without it uvicorn's two writes per response (head,
    # body) meet the client's delayed ACK: ~40 ms per request on loopback.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        hint = (
            " (another server uses it: pick another port)" if exc.errno == errno.EADDRINUSE else ""
        )
        error = BindError(f"cannot listen on {host}:{port}: {reason}{hint}")
        error.errno = exc.errno
        raise error from None
    sock.set_inheritable(True)
    return sock


@asynccontextmanager
async def serve_app(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 10.0
) -> AsyncIterator[str]:
    """Serve ``app`` on loopback in a background thread; yield the POS API base URL.

    Works under asyncio and trio: the server runs its own asyncio loop in a thread and
    the caller's loop only waits on thread events through ``anyio.to_thread``.
    """
    check_loopback(host)
    sock = _bind(host, port)
    real_port = sock.getsockname()[1]
    display = f"[{host}]" if ":" in host else host
    base_url = f"http://{display}:{real_port}{PREFIX}"
    if _on_asyncio():
        server: uvicorn.Server = _QuietServer(_config(app, host, real_port))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve, [sock])
                with anyio.fail_after(startup_timeout):
                    # uvicorn offers no startup event to wait on; fail_after bounds this.
                    while not server.started:  # noqa: ASYNC110
                        await anyio.sleep(0.005)
                try:
                    yield base_url
                finally:
                    server.should_exit = True
        finally:
            sock.close()
        return
    server = uvicorn.Server(_config(app, host, real_port))
    try:
        async with serving_in_thread(
            server, sock, startup_timeout, name=f"flexiti-sandbox-{real_port}"
        ):
            yield base_url
    finally:
        sock.close()


@asynccontextmanager
async def serving_in_thread(
    server: uvicorn.Server, sock: socket.socket, startup_timeout: float, *, name: str
) -> AsyncIterator[tuple[threading.Thread, list[BaseException]]]:
    """Run ``server`` on ``sock`` in a thread with its own asyncio loop until the block ends.

    Waits (bounded) until uvicorn has started, raising RuntimeError if it did not; yields the
    thread and the list that collects its failure, if any; on exit asks the server to stop and
    joins the thread (bounded). Shared by trio-side serving and the TLS test servers.
    """
    started = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        for _ in range(int(startup_timeout / 0.005) + 1):  # bounded wait for startup
            if server.started or task.done():
                break
            await asyncio.sleep(0.005)
        started.set()
        await task

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the caller's loop
            failure.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        await anyio.to_thread.run_sync(started.wait, startup_timeout)
        if failure or not server.started:
            raise RuntimeError(f"{name}: the server did not start") from (
                failure[0] if failure else None
            )
        yield thread, failure
    finally:
        server.should_exit = True
        await anyio.to_thread.run_sync(thread.join, startup_timeout + 10)


def run_forever(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[str], Any] | None = None,
) -> None:
    """Serve ``app`` in the calling thread until interrupted (Ctrl-C / SIGTERM)."""
    check_loopback(host)
    sock = _bind(host, port)
    server = uvicorn.Server(_config(app, host, sock.getsockname()[1]))

    async def main() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        if on_ready is not None:
            for _ in range(6000):  # up to a minute for startup
                if server.started or task.done():
                    break
                await asyncio.sleep(0.01)
            if server.started:
                display = f"[{host}]" if ":" in host else host
                on_ready(f"http://{display}:{sock.getsockname()[1]}{PREFIX}")
        await task

    try:
        asyncio.run(main())
    finally:
        sock.close()
