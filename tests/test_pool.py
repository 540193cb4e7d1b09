"""AdmittedConnectionPool: O(1) connection reuse behind the admission limiter.

A tiny HTTP/1.1 server on 127.0.0.1 counts the connections it accepts, so every test
asserts what happened on the wire (connections opened, reused, dropped), never timings.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpcore
import httpx
import pytest

from flexiti_async import FlexitiClient
from flexiti_async._transports._pool import (
    CONNECTION_PARAMETERS,
    AdmittedConnectionPool,
    admitted_client,
)

pytestmark = pytest.mark.anyio

_BODY = b'{"ok": true}'
_TOKEN = b'{"access_token": "pool-test-token", "token_type": "bearer", "expires_in": 3600}'


class _Server:
    """Answers every GET with a small JSON body; GET /slow waits until released."""

    def __init__(self, *, close_after_response: bool = False) -> None:
        self.close_after_response = close_after_response
        self.connections = 0
        self.requests = 0
        self.closed_by_server = 0
        self.release_slow = anyio.Event()
        self.slow_started = anyio.Event()
        self.port = 0

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        buffer = b""
        async with stream:
            for _ in range(10_000):  # bounded: one request per pass
                while b"\r\n\r\n" not in buffer:
                    try:
                        chunk = await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                self.requests += 1
                body = _BODY
                if head.startswith(b"POST"):  # the token grant: skip its form body
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    while len(buffer) < length:
                        buffer += await stream.receive()
                    buffer = buffer[length:]
                    body = _TOKEN
                if head.startswith(b"GET /slow"):
                    self.slow_started.set()
                    await self.release_slow.wait()
                response = (
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(body), body)
                )
                try:
                    await stream.send(response)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return
                if self.close_after_response:
                    self.closed_by_server += 1
                    return


@asynccontextmanager
async def _serve(server: _Server) -> AsyncIterator[str]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.handle)
        try:
            yield f"http://127.0.0.1:{server.port}"
        finally:
            server.release_slow.set()
            tg.cancel_scope.cancel()


def _pool(max_keepalive: int = 8, **settings: Any) -> AdmittedConnectionPool:
    return AdmittedConnectionPool(max_keepalive_connections=max_keepalive, **settings)


async def _get(pool: AdmittedConnectionPool, url: str) -> bytes:
    request = httpcore.Request("GET", url, headers=[(b"host", b"127.0.0.1")])
    response = await pool.handle_async_request(request)
    try:
        return await response.aread()
    finally:
        await response.aclose()


async def test_sequential_requests_reuse_one_connection() -> None:
    server = _Server()
    async with _serve(server) as base:
        pool = _pool()
        async with pool:
            for _ in range(20):
                assert await _get(pool, base + "/x") == _BODY
            assert len(pool.connections) == 1
        assert server.connections == 1
        assert server.requests == 20
        assert len(pool.connections) == 0


async def test_concurrent_requests_open_one_connection_each_and_keep_the_cap() -> None:
    server = _Server()
    async with _serve(server) as base:
        pool = _pool(max_keepalive=3)
        async with pool:
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(_get, pool, base + "/slow")
                # Five requests in flight at once: five connections (the pool never queues).
                await server.slow_started.wait()
                for _ in range(2):
                    tg.start_soon(_get, pool, base + "/slow")
                for _ in range(100):  # bounded: wait until all five reached the server
                    if server.requests == 5:
                        break
                    await anyio.sleep(0.01)
                assert len(pool.connections) == 5
                server.release_slow.set()
            # Only max_keepalive idle connections are kept; the others were closed.
            assert len(pool.connections) == 3
            for _ in range(6):
                await _get(pool, base + "/x")
        assert server.connections == 5


async def test_a_connection_the_server_closed_is_replaced_without_an_error() -> None:
    server = _Server(close_after_response=True)
    async with _serve(server) as base:
        pool = _pool()
        async with pool:
            for expected in range(1, 6):
                assert await _get(pool, base + "/x") == _BODY
                assert server.closed_by_server == expected
                idle = next(iter(pool._idle.values()), [])
                for _ in range(200):  # bounded: until the FIN has reached our socket
                    if not idle or idle[0][1].has_expired():
                        break
                    await anyio.sleep(0.005)
            # Each request found its predecessor's connection closed and opened a new one.
            assert server.connections == 5
            assert server.requests == 5
            assert len(pool.connections) <= 1


async def test_a_cancelled_request_does_not_return_its_connection() -> None:
    server = _Server()
    async with _serve(server) as base:
        pool = _pool()
        async with pool:
            with anyio.move_on_after(30):  # a safety net; the test cancels it itself
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_get, pool, base + "/slow")
                    await server.slow_started.wait()
                    tg.cancel_scope.cancel()
            # The half-finished exchange made the connection unusable: it was closed.
            assert len(pool.connections) == 0
            assert await _get(pool, base + "/x") == _BODY
            assert len(pool.connections) == 1
        assert server.connections == 2


async def test_a_refused_connection_is_not_kept() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens on this port now
    pool = _pool()
    async with pool:
        with pytest.raises(httpcore.ConnectError):
            await _get(pool, f"http://127.0.0.1:{port}/x")
        assert len(pool.connections) == 0


async def test_a_closed_pool_refuses_requests_and_closes_in_flight_ones() -> None:
    server = _Server()
    async with _serve(server) as base:
        pool = _pool()
        errors: list[BaseException] = []

        async def in_flight() -> None:
            try:
                await _get(pool, base + "/slow")
            except Exception as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(in_flight)
            await server.slow_started.wait()
            await pool.aclose()
            server.release_slow.set()
        assert len(errors) == 1
        assert len(pool.connections) == 0
        with pytest.raises(httpcore.ConnectError, match="closed"):
            await _get(pool, base + "/x")


async def test_unsupported_scheme_is_refused() -> None:
    pool = _pool()
    with pytest.raises(httpcore.UnsupportedProtocol):
        await pool.handle_async_request(httpcore.Request("GET", "ftp://127.0.0.1/x"))
    assert len(pool.connections) == 0


def _pool_of(client: httpx.AsyncClient) -> Any:
    return client._transport._pool  # type: ignore[attr-defined]


async def test_the_clients_own_http1_transport_uses_the_admitted_pool() -> None:
    client = FlexitiClient("id", "secret", base_url="http://127.0.0.1:9")
    async with client:
        assert isinstance(_pool_of(client._family.http), AdmittedConnectionPool)


async def test_an_http2_client_keeps_httpcores_pool() -> None:
    http2 = FlexitiClient("id", "secret", base_url="http://127.0.0.1:9", http2=True)
    async with http2:
        # HTTP/2 multiplexes on one connection: httpcore's pool does that, ours does not.
        assert type(_pool_of(http2._family.http)) is httpcore.AsyncConnectionPool


async def test_an_injected_http_client_is_left_alone() -> None:
    injected = httpx.AsyncClient()
    async with FlexitiClient("id", "secret", base_url="http://127.0.0.1:9", http_client=injected):
        assert type(_pool_of(injected)) is httpcore.AsyncConnectionPool
    await injected.aclose()


async def test_an_http2_client_built_for_the_pool_keeps_httpcores_pool() -> None:
    http = admitted_client(httpx.Limits(max_connections=4), http2=True, timeout=httpx.Timeout(5))
    assert type(_pool_of(http)) is httpcore.AsyncConnectionPool
    await http.aclose()


def test_httpcore_connection_parameters_are_the_ones_the_pool_passes() -> None:
    """The pool builds ``httpcore.AsyncHTTPConnection`` by keyword: a new httpcore that
    renames, adds or drops a parameter must fail here, not in production."""
    signature = inspect.signature(httpcore.AsyncHTTPConnection.__init__)
    assert tuple(signature.parameters)[1:] == CONNECTION_PARAMETERS
    assert httpcore.__version__.startswith("1.0."), httpcore.__version__


async def test_surplus_idle_connections_are_closed_once_they_expire() -> None:
    """After a burst, steady traffic reuses the most recent connection; the surplus below
    it is closed when a connection comes back and they have been idle past the expiry."""
    now = [1000.0]
    server = _Server()
    async with _serve(server) as base:
        pool = _pool(max_keepalive=8, keepalive_expiry=30.0, clock=lambda: now[0])
        async with pool:
            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(_get, pool, base + "/slow")
                for _ in range(200):  # bounded: until all four reached the server
                    if server.requests == 4:
                        break
                    await anyio.sleep(0.01)
                server.release_slow.set()
            assert len(pool.connections) == 4
            now[0] += 10.0  # not expired yet: everything is kept
            await _get(pool, base + "/x")
            assert len(pool.connections) == 4
            now[0] += 25.0  # the three left idle since the burst are now past 30 s
            await _get(pool, base + "/x")
            assert len(pool.connections) == 1
            assert pool.in_use == 0
        assert server.connections == 4


async def test_client_over_loopback_reuses_connections_through_the_pool() -> None:
    """Through the whole client: 200 calls, 8 at a time -> at most 8 + token connections."""
    server = _Server()
    async with _serve(server) as base:
        client = FlexitiClient("id", "secret", base_url=base + "/", max_concurrency=8)
        async with client:
            results: list[Any] = []

            async def call() -> None:
                results.append(await client.request("GET", "anything", idempotent=True))

            async with anyio.create_task_group() as tg:
                for _ in range(200):
                    tg.start_soon(call)
        assert results == [{"ok": True}] * 200
        # 200 API calls + the token grant; never more connections than admitted callers.
        assert server.requests == 201
        assert server.connections <= 8 + 2


async def test_an_environment_proxy_still_carries_the_clients_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The direct send path picks the transport per URL, so HTTP_PROXY keeps working."""
    proxy = _Server()
    async with _serve(proxy) as proxy_url:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        # Nothing listens on port 9: the answer can only come through the proxy.
        client = FlexitiClient("id", "secret", base_url="http://127.0.0.1:9/")
        async with client:
            assert await client.request("GET", "anything", idempotent=True) == {"ok": True}
        assert proxy.requests == 2  # the token grant and the call, both via the proxy


def _responses_from(port: int) -> int:
    """Response objects still in memory (reachable or not) that came from ``port``."""
    count = 0
    for obj in gc.get_objects():
        if isinstance(obj, httpx.Response):
            try:
                url = obj.request.url
            except RuntimeError:  # a response built without a request
                continue
            count += url.port == port
    return count


@pytest.mark.parametrize("injected", [True, False], ids=["injected-client", "own-client"])
async def test_read_responses_are_freed_without_waiting_for_the_gc(injected: bool) -> None:
    """httpx 0.28 leaves a sent response in a reference cycle with its stream; the client
    cuts it, so paging does not hold pages until the next full GC pass."""
    server = _Server()
    async with _serve(server) as base:
        http = httpx.AsyncClient() if injected else None
        client = FlexitiClient("id", "secret", base_url=base + "/", http_client=http)
        async with client:
            await client.request("GET", "warm-up", idempotent=True)
            gc.collect()
            gc.disable()
            try:
                for _ in range(10):
                    await client.request("GET", "anything", idempotent=True)
                # Only this test's responses: other tests may still hold their own.
                alive = _responses_from(server.port)
            finally:
                gc.enable()
        if http is not None:
            await http.aclose()
        assert server.requests == 12
        assert alive == 0
