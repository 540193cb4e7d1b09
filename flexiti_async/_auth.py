"""TokenManager: lazy, single-flight OAuth token fetch and refresh, in one process and,
through a shared `TokenStore`, across processes."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from functools import partial
from typing import Any

import anyio
import attrs

from ._redact import SecretRegistry
from ._stores import AccessToken, InMemoryTokenStore, TokenStore
from .errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ResponseValidationError,
    ServerError,
)

__all__ = [
    "AccessToken",
    "InMemoryTokenStore",
    "TokenManager",
    "TokenStore",
    "lock_lease_for",
]

logger = logging.getLogger("flexiti_async")

#: Default lifetime when the token response has no usable ``expires_in`` (Flexiti: 1200 s).
DEFAULT_EXPIRES_IN = 1200.0
#: Fetch-lock lease when the client does not say how long a token fetch may take.
DEFAULT_LOCK_LEASE = 35.0
# A leader that is cancelled hands over to a waiter; this bounds how often that can repeat.
_MAX_ROUNDS = 8
# Added to a fetch's own timeout to make the lock's lease.
_LEASE_MARGIN = 5.0


def lock_lease_for(timeout: Any) -> float:
    """The fetch-lock lease for requests with this ``httpx.Timeout`` (or seconds): longer
    than one token request can take (connect + write + read), so a live owner keeps it."""
    if isinstance(timeout, (int, float)):
        return float(timeout) + _LEASE_MARGIN
    parts = [getattr(timeout, name, None) for name in ("connect", "write", "read")]
    if any(part is None for part in parts):
        return DEFAULT_LOCK_LEASE
    return float(sum(parts)) + _LEASE_MARGIN  # type: ignore[arg-type]


def _own_copy(exc: BaseException) -> BaseException:
    """A copy of ``exc`` for one waiter: raising one object in many tasks would make them
    share (and keep extending) one traceback and one ``__context__``."""
    cls = type(exc)
    try:
        copy = cls.__new__(cls, *exc.args)
        copy.__dict__.update(exc.__dict__)
        copy.args = exc.args
    except Exception:  # an exotic exception type: chain a plain error to it instead
        copy = APIConnectionError(f"could not obtain an access token ({cls.__name__})")
        copy.__cause__ = exc
        return copy
    copy.__cause__ = exc.__cause__
    copy.__suppress_context__ = exc.__suppress_context__
    return copy


@asynccontextmanager
async def _no_lock() -> AsyncIterator[bool]:
    yield False


class _Flight:
    """One fetch in progress; waiters block on ``done`` and then read the outcome."""

    __slots__ = ("cancelled", "done", "error", "token")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.token: AccessToken | None = None
        self.error: BaseException | None = None
        self.cancelled = False


#: Starts a coroutine function in a task group (the client's), or raises if it is closed.
Spawn = Callable[[Callable[[], Awaitable[None]]], None]

#: Posts a form to the token endpoint and returns the decoded JSON object.
TokenFetcher = Callable[[Mapping[str, str]], Awaitable[Mapping[str, Any]]]


class TokenManager:
    """Hands out a valid bearer token for one (client id, scope), fetching as little as possible.

    * Lazy: nothing is fetched until the first request.
    * Single flight: while one fetch is in progress, every other caller waits for it; they
      never each fetch. No lock is held while a user's request is in flight: the manager is
      only awaited *before* a request is sent.
    * Refresh point per token: ``refresh_leeway`` seconds before expiry, but never earlier
      than 90% of the token's life (a token living 2 s with the default 60 s leeway is
      refreshed once, at 1.8 s, not continually).
    * Soft window (from the refresh point to expiry): one refresh with the ``refresh_token``
      grant while every caller keeps using the still-valid token. With ``background`` (the
      client's task group, inside ``async with``) the refresh runs there and no caller waits
      for it; without one, the first caller in the window refreshes inline. If that
      refresh fails for a transient reason, the still-valid token is used and a later caller
      tries again. A refused refresh falls back to ``client_credentials``.
    * Hard expiry: everyone waits for one ``client_credentials`` fetch (Flexiti: an expired
      token cannot be refreshed).
    * `invalidate` is compare-and-invalidate: after a 401, only the token the failed request
      used is dropped, so a storm of 401s leads to one new token.
    * Across processes (a shared `TokenStore`): the token is kept in process memory, so a warm
      call makes no store round-trip. At the refresh point or after a 401 the fetching task
      re-reads the store, takes the store's fetch lock (leased for ``lock_lease`` seconds) only
      while fetching, re-reads the store once more under it, and fetches only if nobody else
      has: N processes make one grant.
    * Cancellation-safe: a cancelled fetcher wakes its waiters, and one of them takes over.

    ``grants`` counts the grants requested by type, for tests and benchmarks.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        scope: str,
        key: str,
        fetch: TokenFetcher,
        store: TokenStore,
        secrets: SecretRegistry,
        refresh_leeway: float = 60.0,
        clock: Callable[[], float] = time.time,
        lock_lease: float = DEFAULT_LOCK_LEASE,
        background: Callable[[], Spawn | None] | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.key = key
        self._fetch = fetch
        self._store = store
        self._secrets = secrets
        self._leeway = refresh_leeway
        self._clock = clock
        self._lease = lock_lease
        self._background = background
        self._token: AccessToken | None = None
        self._flight: _Flight | None = None
        self.grants: dict[str, int] = {"client_credentials": 0, "refresh_token": 0}

    def __repr__(self) -> str:
        return f"<TokenManager client_id={self._client_id!r} scope={self.scope!r}>"

    @property
    def current(self) -> AccessToken | None:
        """The token in hand (possibly expired), without fetching."""
        return self._token

    async def token(self) -> AccessToken:
        """A token that is valid now."""
        for _ in range(_MAX_ROUNDS):
            token = self._token
            now = self._clock()
            if token is not None and token.fresh(now, self._leeway):
                return token  # fast path: no await, no lock
            flight = self._flight
            if token is not None and not token.expired(now):
                if flight is None:
                    spawn = self._background() if self._background is not None else None
                    if spawn is None:
                        return await self._lead(token)  # no task group: refresh inline
                    flight = self._flight = _Flight()
                    try:
                        spawn(partial(self._refresh_quietly, token, flight))
                    except Exception:  # the client is closing: refresh inline
                        self._flight = None
                        flight.done.set()
                        return await self._lead(token)
                return token  # someone is refreshing; this one is still good
            if flight is None:
                return await self._lead(None)
            await flight.done.wait()
            if flight.token is not None:
                return flight.token
            if flight.error is not None and not flight.cancelled:
                raise _own_copy(flight.error)
            # The leader was cancelled: loop, and one waiter becomes the new leader.
        raise APIConnectionError("could not obtain an access token: every fetch was cancelled")

    async def invalidate(self, token: AccessToken) -> None:
        """Drop ``token`` if it is still the current one (after a 401 ``invalid_token``).

        Only the first caller with that token in this process tells the store; the others
        find it already gone from memory.
        """
        if self._token is not None and self._token.value == token.value:
            self._token = None
            await self._store.invalidate(self.key, token)

    async def _refresh_quietly(self, current: AccessToken, flight: _Flight) -> None:
        """A soft-window refresh in the client's task group: it must not raise there."""
        try:
            await self._lead(current, flight)
        except Exception as exc:
            # Callers keep the valid token; at expiry one of them fetches (and sees the error).
            logger.warning("background token refresh failed (%s)", type(exc).__name__)

    async def _lead(
        self, current: AccessToken | None, flight: _Flight | None = None
    ) -> AccessToken:
        if flight is None:
            flight = self._flight = _Flight()
        try:
            token = await self._obtain(current)
        except BaseException as exc:
            flight.cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            flight.error = exc
            transient = (APIConnectionError, ServerError, ResponseValidationError)
            if (
                current is not None
                and not current.expired(self._clock())
                and isinstance(exc, transient)
            ):
                # A transient failure in the soft window: keep using the valid token.
                logger.warning("token refresh failed (%s); using the current token", exc)
                flight.token = current
                return current
            raise
        else:
            self._token = token
            flight.token = token
            return token
        finally:
            self._flight = None
            flight.done.set()

    async def _obtain(self, current: AccessToken | None) -> AccessToken:
        current = await self._adopt(current)
        if current is not None and current.fresh(self._clock(), self._leeway):
            return current  # another client (or process) already refreshed
        async with self._store_lock() as held:
            if held:
                # Double-checked: whoever held the lock before us may have just stored one.
                current = await self._adopt(current)
                if current is not None and current.fresh(self._clock(), self._leeway):
                    return current
            token = await self._fetch_new(current)
            await self._store.set(self.key, token)
            return token

    async def _adopt(self, current: AccessToken | None) -> AccessToken | None:
        """The stored token if it is valid and newer than ``current``; else ``current``."""
        stored = await self._store.get(self.key)
        if stored is None or stored.expired(self._clock()):
            return current
        if current is None or stored.expires_at > current.expires_at:
            return stored
        return current

    def _store_lock(self) -> AbstractAsyncContextManager[bool]:
        lock = getattr(self._store, "lock", None)
        if lock is None:  # a store written before stores had a lock: in-process only
            return _no_lock()
        result: AbstractAsyncContextManager[bool] = lock(self.key, lease=self._lease)
        return result

    async def _fetch_new(self, current: AccessToken | None) -> AccessToken:
        now = self._clock()
        token: AccessToken | None = None
        if current is not None and current.refresh_token and not current.expired(now):
            try:
                token = await self._grant("refresh_token", refresh_token=current.refresh_token)
            except APIStatusError as exc:
                if isinstance(exc, ServerError):
                    raise
                logger.info("refresh grant refused (%s); using client_credentials", exc.raw_code)
        if token is None:
            token = await self._grant("client_credentials")
        if token.refresh_token is None and current is not None:
            # Flexiti does not say whether refresh rotates the refresh token: keep the old one.
            token = attrs.evolve(token, refresh_token=current.refresh_token)
        return token

    async def _grant(self, grant_type: str, *, refresh_token: str | None = None) -> AccessToken:
        form = {
            "grant_type": grant_type,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "scope": self.scope,
        }
        if refresh_token is not None:
            form["refresh_token"] = refresh_token
        self.grants[grant_type] = self.grants.get(grant_type, 0) + 1
        obtained_at = self._clock()
        body = await self._fetch(form)
        return self._parse(body, obtained_at)

    def _parse(self, body: Mapping[str, Any], obtained_at: float) -> AccessToken:
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthenticationError(
                "the token endpoint answered without an access_token", status_code=200
            )
        expires_in = body.get("expires_in")
        try:
            lifetime = float(Decimal(str(expires_in))) if expires_in is not None else 0.0
        except ArithmeticError:
            lifetime = 0.0
        if not lifetime > 0:
            lifetime = DEFAULT_EXPIRES_IN
        refresh = body.get("refresh_token")
        refresh_token = refresh if isinstance(refresh, str) and refresh else None
        self._secrets.add(value, refresh_token)
        scope = body.get("scope")
        return AccessToken(
            value=value,
            expires_at=obtained_at + lifetime,
            scope=scope if isinstance(scope, str) and scope else self.scope,
            refresh_token=refresh_token,
            obtained_at=obtained_at,
        )
