"""`RedisTokenStore`: tokens shared by processes on many machines through Redis."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.parse
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ._base import AccessToken, Outage, decode_token, encode_token

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisTokenStore"]

_T = TypeVar("_T")

# Compare-and-delete of a token: only if the key still holds this access token.
_INVALIDATE = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, t = pcall(cjson.decode, v)
if ok and type(t) == 'table' and t['access_token'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Release of the fetch lock: only if we still own it (our lease may have run out).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_WAIT_MARGIN = 1.0
_POLL_FIRST, _POLL_MAX = 0.005, 0.05
_TRIO_MESSAGE = (
    "RedisTokenStore needs asyncio (redis-py's asyncio client); under trio, share tokens "
    "between processes with FileTokenStore(path)"
)


class RedisTokenStore:
    """A `TokenStore` in Redis, for workers on many machines (extra ``redis``).

    >>> store = RedisTokenStore.from_url("redis://127.0.0.1:6379/0", prefix="flexiti:")
    >>> async with FlexitiClient(client_id, secret, token_store=store) as flexiti:  # doctest: +SKIP
    ...     ...

    * Token keys (``<prefix>token:<base url>|<client id>|<scope>``) hold the token as JSON
      with a TTL equal to its remaining life. **They hold secrets**: protect Redis (ACLs,
      TLS with ``rediss://``, no shared database).
    * The fetch lock (``<prefix>lock:...``) is ``SET NX PX`` with a lease longer than a token
      fetch and a bounded wait; it is released, and tokens invalidated, by compare-and-delete
      Lua scripts, so a late owner or a stale 401 never deletes someone else's entry.
    * If Redis is down or slow (each call is bounded by ``timeout`` seconds), requests still
      go through: the store logs a warning once, the client falls back to its in-process
      single flight, and sharing resumes when Redis answers again (tried again after
      ``retry_interval`` seconds).
    * asyncio only (redis-py's asyncio client); under trio it raises an error that points to
      `FileTokenStore`.
    """

    def __init__(
        self,
        connect: Callable[[], Redis],
        *,
        prefix: str = "flexiti:",
        retry_interval: float = 5.0,
        display: str = "redis",
    ) -> None:
        self._connect = connect
        self.prefix = prefix
        self._display = display
        self._outage = Outage(f"Redis token store {display}", retry_interval)
        # redis-py's asyncio connections belong to one event loop: one client per loop.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "flexiti:",
        timeout: float = 0.5,
        retry_interval: float = 5.0,
        **redis_options: Any,
    ) -> RedisTokenStore:
        """A store on the Redis at ``url`` (``redis://``, ``rediss://`` or ``unix://``).

        ``timeout`` bounds each Redis call (connect and reply); ``redis_options`` go to
        ``redis.asyncio.Redis.from_url``. Nothing connects until the first token fetch.
        """
        try:
            from redis.asyncio import Redis
            from redis.asyncio.connection import parse_url
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            raise ImportError(
                "RedisTokenStore needs the 'redis' extra: pip install 'flexiti-async[redis]'"
            ) from None
        try:
            parse_url(url)  # a bad URL is a configuration error: say so now, not mid-payment
        except ValueError as exc:
            raise ValueError(f"invalid Redis URL {_display(url)!r}: {exc}") from None
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            # A down Redis must cost a short failure, not redis-py's retries with backoff; one
            # immediate retry replaces a pooled connection that died with a Redis restart.
            "retry": Retry(NoBackoff(), 1),
            **redis_options,
        }

        def connect() -> Redis:
            return Redis.from_url(url, **options)

        return cls(connect, prefix=prefix, retry_interval=retry_interval, display=_display(url))

    def __repr__(self) -> str:
        return f"<RedisTokenStore {self._display} prefix={self.prefix!r}>"

    async def get(self, key: str) -> AccessToken | None:
        """The stored token for ``key``, or None (also when Redis does not answer)."""
        raw = await self._call(lambda r: r.get(self._token_key(key)), None)
        return decode_token(raw) if raw is not None else None

    async def set(self, key: str, token: AccessToken) -> None:
        """Store ``token`` under ``key`` with a TTL equal to its remaining life."""
        ttl_ms = int((token.expires_at - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        payload = json.dumps(encode_token(token))
        await self._call(lambda r: r.set(self._token_key(key), payload, px=ttl_ms), None)

    async def invalidate(self, key: str, token: AccessToken) -> None:
        """Delete ``key`` if it still holds ``token`` (one atomic Lua script)."""
        await self._call(lambda r: r.eval(_INVALIDATE, 1, self._token_key(key), token.value), None)

    def lock(self, key: str, *, lease: float) -> AbstractAsyncContextManager[bool]:
        """``SET NX PX`` lock for ``key`` with a ``lease``; yields False if Redis does not
        answer or the lock stays taken for longer than the lease."""
        return self._lock(key, lease)

    async def aclose(self) -> None:
        """Close this event loop's Redis connections (the store stays usable)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    @asynccontextmanager
    async def _lock(self, key: str, lease: float) -> AsyncIterator[bool]:
        name = self._lock_key(key)
        nonce = secrets.token_hex(16)
        lease_ms = max(int(lease * 1000), 1)
        deadline = anyio.current_time() + lease + _WAIT_MARGIN
        delay = _POLL_FIRST
        held = False
        while True:  # bounded by the deadline
            held = bool(await self._call(lambda r: r.set(name, nonce, nx=True, px=lease_ms), 0))
            if held or self._outage.down or anyio.current_time() >= deadline:
                break
            await anyio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)
        if not held:
            yield False
            return
        try:
            yield True
        finally:
            with anyio.CancelScope(shield=True):
                await self._call(lambda r: r.eval(_RELEASE, 1, name, nonce), None)

    async def _call(self, op: Callable[[Redis], Awaitable[Any]], fallback: Any) -> Any:
        client = self._client()
        if self._outage.down:
            return fallback
        from redis.exceptions import RedisError

        try:
            result = await op(client)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._outage.failed(exc)
            return fallback
        self._outage.succeeded()
        return result

    def _client(self) -> Redis:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(_TRIO_MESSAGE) from None
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._connect()
        return client

    def _token_key(self, key: str) -> str:
        return f"{self.prefix}token:{key}"

    def _lock_key(self, key: str) -> str:
        return f"{self.prefix}lock:{key}"


def _display(url: str) -> str:
    """The URL without credentials, for reprs and log lines."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
