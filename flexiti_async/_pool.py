"""A connection pool for a client that admits its own requests.

httpcore 1.0.9's ``AsyncConnectionPool`` re-scans every connection it holds twice per
request (once to assign it, once when its response closes), and each scan asks every idle
connection whether its socket is readable: a ``poll()`` system call and a fresh anyio
attribute dictionary per connection, plus a quadratic count of idle connections. With the
32+ keep-alive connections a busy FlexitiClient holds, that scan was ~40% of the client's
CPU per request under cProfile (encode/httpcore#1035 fixes it upstream; httpx 0.28 is
frozen on 1.0.x).

`AdmittedConnectionPool` needs none of that because the FlexitiClient's admission limiter
never lets more requests in than there are connections: no request ever waits for a
connection, so there is no queue to serve. A request takes the most recently used idle
connection for its origin (checking only that one), or opens a new one; the connection
goes back on the free list when the response is closed. O(1) per request.

It is swapped in only on the client's own HTTP/1.1 transport (`use_admitted_pool`):
HTTP/2 keeps httpcore's pool (it multiplexes many requests on one connection), proxies
keep theirs, and an injected ``http_client`` is never modified.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from types import TracebackType
from typing import Any

import anyio
import httpcore
import httpx

__all__ = ["AdmittedConnectionPool", "use_admitted_pool"]

#: The httpcore pool settings a connection needs (private attribute names of httpcore 1.0).
_SETTINGS = (
    "_ssl_context",
    "_keepalive_expiry",
    "_http1",
    "_http2",
    "_retries",
    "_local_address",
    "_uds",
    "_network_backend",
    "_socket_options",
)


class AdmittedConnectionPool:
    """An httpcore request interface that hands out connections from per-origin free lists.

    It never queues: a request with no idle connection opens a new one. That is safe only
    behind an admission limiter sized to the pool (the FlexitiClient's), which bounds the
    connections in use; at most ``max_keepalive_connections`` idle ones are kept per origin.
    Idle connections are reused most recently used first, so after a burst the surplus at
    the bottom of a list is only checked (and closed if the server dropped it) when a
    later burst reaches it, or when the pool closes.
    """

    def __init__(self, *, max_keepalive_connections: int, **connection_settings: Any) -> None:
        self._max_keepalive = max_keepalive_connections
        self._settings = connection_settings
        # Keyed by (scheme, host, port): httpcore's Origin defines __eq__ but no __hash__.
        self._idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncHTTPConnection]] = {}
        self._connections: set[httpcore.AsyncHTTPConnection] = set()
        self._closed = False

    @classmethod
    def like(cls, pool: httpcore.AsyncConnectionPool) -> AdmittedConnectionPool:
        """A pool with the same connection settings (TLS context, keep-alive, retries...)."""
        settings = {name[1:]: getattr(pool, name) for name in _SETTINGS}
        return cls(max_keepalive_connections=pool._max_keepalive_connections, **settings)

    @property
    def connections(self) -> list[httpcore.AsyncHTTPConnection]:
        """The open connections, idle and in use (as httpcore's pool names them)."""
        return list(self._connections)

    @property
    def in_use(self) -> int:
        """Connections carrying a request or an unread response right now."""
        return len(self._connections) - sum(len(idle) for idle in self._idle.values())

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on an idle (or new) connection; the response gives it back."""
        if request.url.scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(
                f"Request URL has an unsupported protocol {request.url.scheme!r}."
            )
        if self._closed:
            raise httpcore.ConnectError("the connection pool is closed")
        connection = await self._checkout(request.url.origin)
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            # httpcore has already closed the connection if the exchange broke off midway
            # (or it never connected); an intact one goes back to the free list.
            await self._check_in(connection)
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_CheckInOnClose(response.stream, connection, self),
            extensions=response.extensions,
        )

    async def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        idle = self._idle.get((origin.scheme, origin.host, origin.port))
        while idle:  # bounded: every pass removes one connection from the list
            connection = idle.pop()
            # One readability check, on this connection only: a server that closed an
            # idle keep-alive connection shows up here as "readable" (EOF pending).
            if not connection.has_expired() and not connection.is_closed():
                return connection
            await self._discard(connection)
        connection = httpcore.AsyncHTTPConnection(origin=origin, **self._settings)
        self._connections.add(connection)
        return connection

    async def _check_in(self, connection: httpcore.AsyncHTTPConnection) -> None:
        if not self._closed and connection.is_idle() and not connection.is_closed():
            origin = connection._origin
            idle = self._idle.setdefault((origin.scheme, origin.host, origin.port), [])
            if len(idle) < self._max_keepalive:
                idle.append(connection)
                return
        await self._discard(connection)

    async def _discard(self, connection: httpcore.AsyncHTTPConnection) -> None:
        self._connections.discard(connection)
        with anyio.CancelScope(shield=True):
            await connection.aclose()

    async def aclose(self) -> None:
        """Close every connection, including those under a request still in flight."""
        self._closed = True
        connections, self._connections = self._connections, set()
        self._idle.clear()
        with anyio.CancelScope(shield=True):
            for connection in connections:
                await connection.aclose()

    async def __aenter__(self) -> AdmittedConnectionPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        idle = sum(len(connections) for connections in self._idle.values())
        return f"<AdmittedConnectionPool [{len(self._connections)} connections, {idle} idle]>"


class _CheckInOnClose:
    """A response body that returns its connection to the pool when it is closed."""

    def __init__(
        self,
        stream: AsyncIterable[bytes],
        connection: httpcore.AsyncHTTPConnection,
        pool: AdmittedConnectionPool,
    ) -> None:
        self._stream = stream
        self._connection = connection
        self._pool = pool
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await close()
        await self._pool._check_in(self._connection)


def use_admitted_pool(client: httpx.AsyncClient) -> bool:
    """Swap `AdmittedConnectionPool` into ``client``'s default HTTP/1.1 transport.

    Only for a client the FlexitiClient built and admits requests to. Returns False (and
    changes nothing) when the transport is not httpx's own with a plain httpcore pool, or
    when it may negotiate HTTP/2.
    """
    transport = getattr(client, "_transport", None)
    if type(transport) is not httpx.AsyncHTTPTransport:
        return False
    pool = getattr(transport, "_pool", None)
    if type(pool) is not httpcore.AsyncConnectionPool or getattr(pool, "_http2", True):
        return False
    if not all(hasattr(pool, name) for name in (*_SETTINGS, "_max_keepalive_connections")):
        return False
    transport._pool = AdmittedConnectionPool.like(pool)  # type: ignore[assignment]
    return True
