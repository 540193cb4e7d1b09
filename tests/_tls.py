"""Loopback servers for tests: any ASGI app under a real uvicorn on 127.0.0.1, plainly or
over TLS with a certificate from a ``trustme`` CA.

uvicorn runs in a thread with its own asyncio loop, so the caller may be on asyncio or trio;
the caller's loop only waits on thread events (bounded).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import trustme
import uvicorn

from flexiti_async.testing._server import serving_in_thread

__all__ = ["client_context", "serve_in_thread", "serve_tls"]

STARTUP_TIMEOUT = 10.0


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handlers: it runs inside the test process."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A verifying client context that trusts ``ca`` (and nothing else)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=None)
    context.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
    return context


@asynccontextmanager
async def serve_in_thread(app: object, **options: Any) -> AsyncIterator[tuple[str, Any]]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (port 0) in a thread with its own asyncio
    loop; yield ``("127.0.0.1:<port>", server)``. ``options`` go to ``uvicorn.Config``
    (e.g. ``ssl_certfile``, ``lifespan="on"``). On exit the server shuts down gracefully
    (lifespan shutdown included) and the thread is joined (bounded)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted sockets: without it each response waits ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings: dict[str, Any] = {
        "loop": "asyncio",
        "ws": "none",
        "lifespan": "off",
        "log_level": "critical",
        "access_log": False,
        "timeout_graceful_shutdown": 5,
        # uvicorn closes idle keep-alive connections after 5 s by default; on a loaded machine
        # that races the test client reusing one (a reset on the client's next request).
        "timeout_keep_alive": 60,
    }
    settings.update(options)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **settings)  # type: ignore[arg-type]
    server = _QuietServer(config)
    serving = serving_in_thread(server, sock, STARTUP_TIMEOUT, name=f"test-server-{port}")
    try:
        async with serving as (thread, failure):
            yield f"127.0.0.1:{port}", server
    finally:
        sock.close()
    assert not thread.is_alive(), "the test server did not stop"
    if failure:
        raise RuntimeError("the test server failed") from failure[0]


@asynccontextmanager
async def serve_tls(
    app: object,
    ca: trustme.CA,
    tmp_path: Path,
    *,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    prefix: str = "/flexiti/pos-api",
) -> AsyncIterator[str]:
    """Serve ``app`` on ``https://127.0.0.1:<port>`` with a leaf issued by ``ca`` for
    ``hosts``; yield the base URL (``prefix`` appended)."""
    leaf = ca.issue_cert(*hosts)
    cert_file = tmp_path / "server.pem"
    key_file = tmp_path / "server.key"
    leaf.private_key_pem.write_to_path(str(key_file))
    with cert_file.open("wb") as handle:
        for blob in leaf.cert_chain_pems:
            handle.write(blob.bytes())
    async with serve_in_thread(app, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as (
        address,
        _,
    ):
        yield f"https://{address}{prefix}"
