"""The aiohttp fast lane: httpx-aiohttp's transport with delivery-accurate error mapping.

httpx-aiohttp maps every ``aiohttp.ClientConnectionError`` to ``httpx.ConnectTimeout``,
including ``ServerDisconnectedError`` (the server closed the connection *after* receiving the
request). Our retry rules read ``ConnectTimeout`` as "the request never left", so a dropped
capture would be resent. This wrapper re-classifies from the original aiohttp exception:
only connector failures (DNS, refused, TLS handshake, connect timeout) count as never sent.
"""

from __future__ import annotations

import asyncio

import httpx

__all__ = ["AiohttpTransport"]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport on aiohttp (asyncio only). Needs the ``aiohttp`` extra."""

    def __init__(self, *, limits: httpx.Limits, verify: bool = True) -> None:
        from httpx_aiohttp import AiohttpTransport as _Inner

        self._inner = _Inner(limits=limits, verify=verify)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise httpx.UnsupportedProtocol(
                "transport='aiohttp' works under asyncio only; use the default transport on trio"
            ) from None
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            raise _reclassify(exc, request) from exc
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _reclassify(exc: httpx.TransportError, request: httpx.Request) -> httpx.TransportError:
    import aiohttp

    cause = exc.__cause__
    message = str(exc) or type(cause).__name__
    if cause is None or not isinstance(cause, aiohttp.ClientError):
        return exc
    connection_timeout = getattr(aiohttp, "ConnectionTimeoutError", ())
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)  # never reached the server
    if connection_timeout and isinstance(cause, connection_timeout):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(message, request=request)  # sent; no answer in time
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(cause, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        return httpx.ReadError(message, request=request)  # reset mid-exchange: maybe sent
    return exc
