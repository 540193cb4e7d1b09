"""The send step: build an `httpx.Request` and send it, directly on our own client's transport.

Our own `httpx.AsyncClient` has no auth, hooks, cookies, base URL or redirects to apply, so
its requests skip ``AsyncClient.build_request``/``send`` (URL re-parsing and cookie
extraction were a third of the per-request CPU). An injected client gets the full httpx path.
"""

from __future__ import annotations

import httpx

from ..errors import ClientClosedError, InvalidRequestError

__all__ = ["Sender", "build_http_client"]


class Sender:
    """Builds and sends requests on one `httpx.AsyncClient` and reads the whole body."""

    __slots__ = ("_default_headers", "direct", "http", "owns_http")

    def __init__(self, http: httpx.AsyncClient, *, owns_http: bool) -> None:
        self.http = http
        self.owns_http = owns_http
        # ``_transport_for_url`` is httpx's own (private) mount lookup; without it (a future
        # httpx) our client takes the public path like an injected one.
        self.direct = owns_http and callable(getattr(http, "_transport_for_url", None))
        self._default_headers = dict(http.headers.items())

    def build_request(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        content: bytes | None,
        timeout: httpx.Timeout | None,
    ) -> httpx.Request:
        """A request with the client's default headers (Accept-Encoding...) under ours."""
        if not self.direct:
            return self.http.build_request(
                method,
                url,
                content=content,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        return httpx.Request(
            method,
            url,
            headers={**self._default_headers, **headers},
            content=content,
            extensions={"timeout": (timeout or self.http.timeout).as_dict()},
        )

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole body (what ``AsyncClient.send`` does for us)."""
        if not self.direct:
            return await self._send_injected(request)
        # The transport for this URL: the default one, or a proxy mount (HTTPS_PROXY...).
        transport = self.http._transport_for_url(request.url)
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def _send_injected(self, request: httpx.Request) -> httpx.Response:
        if self.http.is_closed:
            # httpx would raise a bare RuntimeError; the request provably never left.
            raise ClientClosedError(
                f"the injected http_client is closed; {request.method} {request.url.path} "
                "was not sent (it is yours to keep open while the FlexitiClient is in use)"
            )
        response = await self.http.send(request)
        # httpx 0.28 leaves the read response in a reference cycle with its stream
        # (encode/httpx#3733), so every body waited for a full GC pass: paging through an
        # injected client held ~8 pages. The body is read and closed; cut the cycle.
        response.stream = httpx.ByteStream(b"")
        return response


def build_http_client(
    connections: int, timeout: httpx.Timeout, transport: str, http2: bool
) -> httpx.AsyncClient:
    """The client's own `httpx.AsyncClient`: ``connections`` kept alive, never queued."""
    # keep-alive == max connections: connections are never closed and reopened under load,
    # and the admission limiter keeps the pool from ever queueing requests.
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=30.0
    )
    if transport == "aiohttp":
        try:
            from ._aiohttp import AiohttpTransport

            aiohttp_transport = AiohttpTransport(limits=limits)
        except ImportError:
            raise InvalidRequestError(
                "transport='aiohttp' needs the aiohttp extra: pip install 'flexiti-async[aiohttp]'",
                field="transport",
            ) from None
        return httpx.AsyncClient(transport=aiohttp_transport, timeout=timeout)
    # Imported here: _pool needs httpcore, which httpx itself imports only for a transport.
    from ._pool import admitted_client

    return admitted_client(limits, http2=http2, timeout=timeout)
