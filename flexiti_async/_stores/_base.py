"""The `AccessToken`, the `TokenStore` protocol and the default in-memory store."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, runtime_checkable

import anyio
import attrs

__all__ = [
    "AccessToken",
    "InMemoryTokenStore",
    "Outage",
    "TokenStore",
    "decode_token",
    "encode_token",
]

logger = logging.getLogger("flexiti_async")

# A token whose lifetime is shorter than the leeway is refreshed at this fraction of its life:
# late enough that short-lived tokens cost about one grant per lifetime, early enough that the
# refresh usually lands before the token expires.
_MIN_LIFE_FRACTION = 0.9


@attrs.frozen(kw_only=True)
class AccessToken:
    """A bearer token and when it expires (wall-clock epoch seconds, so it can be shared
    through a `TokenStore` across processes). The token values never appear in the repr."""

    value: str = attrs.field(repr=False)
    expires_at: float
    scope: str
    refresh_token: str | None = attrs.field(default=None, repr=False)
    obtained_at: float = 0.0

    def expired(self, now: float) -> bool:
        """True once the token must not be used any more."""
        return now >= self.expires_at

    def refresh_at(self, leeway: float) -> float:
        """When this token should be refreshed: ``leeway`` seconds before expiry, clamped so
        that a token living less than the leeway is not born inside its refresh window."""
        lifetime = self.expires_at - self.obtained_at
        if self.obtained_at <= 0 or lifetime <= 0:
            return self.expires_at - leeway
        return self.obtained_at + max(lifetime - max(leeway, 0.0), lifetime * _MIN_LIFE_FRACTION)

    def fresh(self, now: float, leeway: float) -> bool:
        """True while the token is before its refresh point."""
        return now < self.refresh_at(leeway)


def encode_token(token: AccessToken) -> dict[str, Any]:
    """The token as a JSON-able dict (it holds secrets: store it only where tokens may live)."""
    return {
        "access_token": token.value,
        "expires_at": token.expires_at,
        "scope": token.scope,
        "refresh_token": token.refresh_token,
        "obtained_at": token.obtained_at,
    }


def decode_token(data: object) -> AccessToken | None:
    """The token from `encode_token`'s dict (or its JSON text); None if it is not one."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, Mapping):
        return None
    value, expires_at, scope = data.get("access_token"), data.get("expires_at"), data.get("scope")
    refresh, obtained_at = data.get("refresh_token"), data.get("obtained_at", 0.0)
    if not (isinstance(value, str) and value and isinstance(scope, str)):
        return None
    if not isinstance(expires_at, (int, float)) or not isinstance(obtained_at, (int, float)):
        return None
    return AccessToken(
        value=value,
        expires_at=float(expires_at),
        scope=scope,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        obtained_at=float(obtained_at),
    )


@runtime_checkable
class TokenStore(Protocol):
    """Where tokens live, keyed by (base URL, client id, scope).

    Share one store between clients, or a `FileTokenStore` / `RedisTokenStore` between
    processes, so that N workers do not each fetch their own token. The token manager keeps
    the token in process memory and calls the store only near the token's refresh point or
    after a 401: a warm request makes no store round-trip.

    * `get` / `set`: read and write the token for a key.
    * `invalidate`: compare-and-delete, atomic across everyone sharing the store: it removes
      the entry only if it still holds ``token`` (so a storm of 401s drops one token).
    * `lock`: an async context manager held *only while fetching* a token, yielding True if
      the lock is held. It has a lease (``lease`` seconds, longer than a token fetch), so an
      owner that dies delays the others by at most the lease, and a bounded wait: if it cannot
      be taken in time it yields False and the caller fetches anyway. After taking it the
      manager re-reads the store (double-checked), so N processes make one grant.

    A store that is unreachable must not fail a payment: it answers ``get`` with None, skips
    ``set``/``invalidate`` and yields False from ``lock``, logging a warning once.
    """

    async def get(self, key: str) -> AccessToken | None:
        """The stored token for ``key``, or None."""
        ...

    async def set(self, key: str, token: AccessToken) -> None:
        """Store ``token`` under ``key`` (until it expires)."""
        ...

    async def invalidate(self, key: str, token: AccessToken) -> None:
        """Delete ``key`` if, and only if, it still holds ``token``."""
        ...

    def lock(self, key: str, *, lease: float) -> AbstractAsyncContextManager[bool]:
        """Hold the fetch lock for ``key`` (lease ``lease`` seconds); yields True if held."""
        ...


class InMemoryTokenStore:
    """The default `TokenStore`: a dict, shared by the clients (in one process) it is given to.

    Its lock is an in-process one, so clients that share the store share one fetch too.
    """

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._fetching: dict[str, anyio.Event] = {}

    async def get(self, key: str) -> AccessToken | None:
        """The stored token for ``key``, or None."""
        return self._tokens.get(key)

    async def set(self, key: str, token: AccessToken) -> None:
        """Store ``token`` under ``key``."""
        self._tokens[key] = token

    async def invalidate(self, key: str, token: AccessToken) -> None:
        """Delete ``key`` if it still holds ``token``."""
        if self._tokens.get(key) == token:
            del self._tokens[key]

    @asynccontextmanager
    async def _lock(self, key: str, lease: float) -> AsyncIterator[bool]:
        # One Event per holding (created in the running loop, dropped on release), so the
        # store holds no primitive across event loops. Only the wait is bounded: a cancel
        # scope around the yield would cancel the owner's fetch.
        free = False
        with anyio.move_on_after(lease):
            while (busy := self._fetching.get(key)) is not None:
                await busy.wait()
            free = True
        if not free:
            yield False  # the owner outlived its lease: fetch without the lock
            return
        held = self._fetching[key] = anyio.Event()
        try:
            yield True
        finally:
            del self._fetching[key]
            held.set()

    def lock(self, key: str, *, lease: float) -> AbstractAsyncContextManager[bool]:
        """Hold the in-process fetch lock for ``key``; yields False after ``lease`` seconds."""
        return self._lock(key, lease)

    def __repr__(self) -> str:
        return f"<InMemoryTokenStore {len(self._tokens)} tokens>"


class Outage:
    """Tracks whether a shared store is reachable: warns once per outage, and after a failure
    skips the store for ``retry_interval`` seconds so a dead store costs no time per call."""

    def __init__(self, name: str, retry_interval: float) -> None:
        self.name = name
        self.retry_interval = retry_interval
        self._down_until: float | None = None

    @property
    def down(self) -> bool:
        """True while the store is being skipped after a failure."""
        return self._down_until is not None and time.monotonic() < self._down_until

    def failed(self, exc: BaseException) -> None:
        """Record a failure; the first of an outage logs a warning (exception type only: a
        store's message may quote the command, and the command may hold a token)."""
        if self._down_until is None:
            reason = type(exc).__name__
            if isinstance(exc, OSError) and exc.strerror:
                reason += f": {exc.strerror}"
            logger.warning(
                "%s unavailable (%s); tokens are shared in this process only until it is back",
                self.name,
                reason,
            )
        self._down_until = time.monotonic() + self.retry_interval

    def succeeded(self) -> None:
        """Record a success; ends an outage."""
        if self._down_until is not None:
            logger.info("%s is back; sharing tokens again", self.name)
            self._down_until = None
