"""A connection pool for a client that admits its own requests.

httpcore 1.0.9's ``AsyncConnectionPool`` re-scans every connection it holds twice per
request (once to assign it, once when its response closes), and each scan asks every idle
connection whether its socket is readable: a ``poll()`` system call and a fresh anyio
attribute dictionary per connection, plus a quadratic count of idle connections. With the
32+ keep-alive connections a busy FlexitiClient holds, that scan dominated the client's
CPU per request (encode/httpcore#1035 fixes it upstream; httpx 0.28 is frozen on 1.0.x).

`AdmittedConnectionPool` needs none of that because the FlexitiClient's admission limiter
never lets more requests in than there are connections: no request ever waits for a
connection, so there is no queue to serve. A request takes the most recently used idle
connection for its origin (checking only that one), or opens a new one; the connection
goes back on the free list when the response is closed. O(1) per request.

It is swapped in only on the client's own HTTP/1.1 transport (`admitted_client`):
HTTP/2 keeps httpcore's pool (it multiplexes many requests on one connection), proxies
keep theirs, and an injected ``http_client`` is never modified.
"""

from __future__ import annotations

import ssl
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from types import TracebackType

import anyio
import httpcore
import httpx

__all__ = ["CONNECTION_PARAMETERS", "AdmittedConnectionPool", "admitted_client"]

#: ``httpcore.AsyncHTTPConnection``'s keyword parameters as of httpcore 1.0 (pinned in
#: pyproject): the pool passes its settings through by these names, and a test fails loudly
#: if a new httpcore renames or adds one.
CONNECTION_PARAMETERS = (
    "origin",
    "ssl_context",
    "keepalive_expiry",
    "http1",
    "http2",
    "retries",
    "local_address",
    "uds",
    "network_backend",
    "socket_options",
)

_Key = tuple[bytes, bytes, int]


class AdmittedConnectionPool:
    """An httpcore request interface that hands out connections from per-origin free lists.

    It never queues: a request with no idle connection opens a new one. That is safe only
    behind an admission limiter sized to the pool (the FlexitiClient's), which bounds the
    connections in use; at most ``max_keepalive_connections`` idle ones are kept per origin.
    Idle connections are reused most recently used first; the least recently used ones are
    closed when a connection comes back and they have been idle for ``keepalive_expiry``
    seconds, so the surplus of a past burst does not hold sockets open for ever.

    The connection settings are ``httpcore.AsyncHTTPConnection``'s own keyword arguments.
    """

    def __init__(
        self,
        *,
        max_keepalive_connections: int,
        keepalive_expiry: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        http1: bool = True,
        http2: bool = False,
        retries: int = 0,
        local_address: str | None = None,
        uds: str | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_keepalive = max_keepalive_connections
        self._expiry = keepalive_expiry
        self._clock = clock
        self._settings = {
            "ssl_context": ssl_context,
            "keepalive_expiry": keepalive_expiry,
            "http1": http1,
            "http2": http2,
            "retries": retries,
            "local_address": local_address,
            "uds": uds,
            "network_backend": network_backend,
            "socket_options": socket_options,
        }
        # Keyed by (scheme, host, port): httpcore's Origin defines __eq__ but no __hash__.
        # Each entry: (when it went idle, connection), least recently used on the left.
        self._idle: dict[_Key, deque[tuple[float, httpcore.AsyncHTTPConnection]]] = {}
        self._connections: set[httpcore.AsyncHTTPConnection] = set()
        self._closed = False

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
        origin = request.url.origin
        key = (origin.scheme, origin.host, origin.port)
        connection = await self._checkout(key, origin)
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            # httpcore has already closed the connection if the exchange broke off midway
            # (or it never connected); an intact one goes back to the free list.
            await self._check_in(key, connection)
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_CheckInOnClose(response.stream, self, key, connection),
            extensions=response.extensions,
        )

    async def _checkout(self, key: _Key, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        idle = self._idle.get(key)
        while idle:  # bounded: every pass removes one connection from the list
            _, connection = idle.pop()
            # One readability check, on this connection only: a server that closed an
            # idle keep-alive connection shows up here as "readable" (EOF pending).
            if not connection.has_expired() and not connection.is_closed():
                return connection
            await self._discard(connection)
        connection = httpcore.AsyncHTTPConnection(origin=origin, **self._settings)  # type: ignore[arg-type]
        self._connections.add(connection)
        return connection

    async def _check_in(self, key: _Key, connection: httpcore.AsyncHTTPConnection) -> None:
        if self._closed or not connection.is_idle() or connection.is_closed():
            await self._discard(connection)
            return
        idle = self._idle.setdefault(key, deque())
        now = self._clock()
        if self._expiry is not None:
            # Only the oldest are looked at (no socket poll): O(1) per request amortised.
            while idle and now - idle[0][0] >= self._expiry:  # bounded by len(idle)
                await self._discard(idle.popleft()[1])
        if len(idle) < self._max_keepalive:
            idle.append((now, connection))
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
        pool: AdmittedConnectionPool,
        key: _Key,
        connection: httpcore.AsyncHTTPConnection,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._key = key
        self._connection = connection
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
        await self._pool._check_in(self._key, self._connection)


def admitted_client(
    limits: httpx.Limits, *, http2: bool = False, timeout: httpx.Timeout
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` whose default HTTP/1.1 transport uses `AdmittedConnectionPool`.

    Built from public constructor arguments: the TLS context is made once with
    ``httpx.create_ssl_context`` (what httpx would make) and shared by httpx's transports
    (proxy mounts from the environment included) and our pool. Only the swap touches private
    attributes (``_transport._pool``), each checked by type first. HTTP/2 multiplexes many
    requests on one connection: it keeps httpcore's pool.
    """
    ssl_context = httpx.create_ssl_context()
    client = httpx.AsyncClient(verify=ssl_context, limits=limits, http2=http2, timeout=timeout)
    transport = getattr(client, "_transport", None)
    if http2 or type(transport) is not httpx.AsyncHTTPTransport:
        return client
    if type(getattr(transport, "_pool", None)) is not httpcore.AsyncConnectionPool:
        return client
    transport._pool = AdmittedConnectionPool(  # type: ignore[assignment]
        max_keepalive_connections=limits.max_keepalive_connections or 0,
        keepalive_expiry=limits.keepalive_expiry,
        ssl_context=ssl_context,
    )
    return client
