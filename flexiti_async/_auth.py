"""TokenManager: lazy, single-flight OAuth token fetch and refresh, and TokenStore."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import anyio
import attrs

from ._redact import SecretRegistry
from .errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ResponseValidationError,
    ServerError,
)

__all__ = ["AccessToken", "InMemoryTokenStore", "TokenManager", "TokenStore"]

logger = logging.getLogger("flexiti_async")

#: Default lifetime when the token response has no usable ``expires_in`` (Flexiti: 1200 s).
DEFAULT_EXPIRES_IN = 1200.0
# A leader that is cancelled hands over to a waiter; this bounds how often that can repeat.
_MAX_ROUNDS = 8


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

    def fresh(self, now: float, leeway: float) -> bool:
        """True while the token is outside the refresh window."""
        return now < self.expires_at - leeway


@runtime_checkable
class TokenStore(Protocol):
    """Where tokens live, keyed by (base URL, client id, scope).

    Share one store between clients (or a Redis-backed one between processes) so that N
    workers do not each fetch their own token. Implementations must be safe to call
    concurrently; `invalidate` is compare-and-delete: it removes the entry only if it still
    holds ``token``.
    """

    async def get(self, key: str) -> AccessToken | None: ...

    async def set(self, key: str, token: AccessToken) -> None: ...

    async def invalidate(self, key: str, token: AccessToken) -> None: ...


class InMemoryTokenStore:
    """The default `TokenStore`: a dict, shared by the clients it is given to."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}

    async def get(self, key: str) -> AccessToken | None:
        return self._tokens.get(key)

    async def set(self, key: str, token: AccessToken) -> None:
        self._tokens[key] = token

    async def invalidate(self, key: str, token: AccessToken) -> None:
        if self._tokens.get(key) == token:
            del self._tokens[key]

    def __repr__(self) -> str:
        return f"<InMemoryTokenStore {len(self._tokens)} tokens>"


class _Flight:
    """One fetch in progress; waiters block on ``done`` and then read the outcome."""

    __slots__ = ("cancelled", "done", "error", "token")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.token: AccessToken | None = None
        self.error: BaseException | None = None
        self.cancelled = False


#: Posts a form to the token endpoint and returns the decoded JSON object.
TokenFetcher = Callable[[Mapping[str, str]], Awaitable[Mapping[str, Any]]]


class TokenManager:
    """Hands out a valid bearer token for one (client id, scope), fetching as little as possible.

    * Lazy: nothing is fetched until the first request.
    * Single flight: while one fetch is in progress, every other caller waits for it; they
      never each fetch. No lock is held while a user's request is in flight: the manager is
      only awaited *before* a request is sent.
    * Soft window (``refresh_leeway`` seconds before expiry): the first caller refreshes with
      the ``refresh_token`` grant while the others keep using the still-valid token. If that
      refresh fails for a transient reason, the still-valid token is used and a later caller
      tries again. A refused refresh falls back to ``client_credentials``.
    * Hard expiry: everyone waits for one ``client_credentials`` fetch (Flexiti: an expired
      token cannot be refreshed).
    * `invalidate` is compare-and-invalidate: after a 401, only the token the failed request
      used is dropped, so a storm of 401s leads to one new token.
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
                if flight is not None:
                    return token  # someone is refreshing; this one is still good
                return await self._lead(token)
            if flight is None:
                return await self._lead(None)
            await flight.done.wait()
            if flight.token is not None:
                return flight.token
            if flight.error is not None and not flight.cancelled:
                raise flight.error
            # The leader was cancelled: loop, and one waiter becomes the new leader.
        raise APIConnectionError("could not obtain an access token: every fetch was cancelled")

    async def invalidate(self, token: AccessToken) -> None:
        """Drop ``token`` if it is still the current one (after a 401 ``invalid_token``)."""
        if self._token is not None and self._token.value == token.value:
            self._token = None
        await self._store.invalidate(self.key, token)

    async def _lead(self, current: AccessToken | None) -> AccessToken:
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
        now = self._clock()
        stored = await self._store.get(self.key)
        if stored is not None and stored.fresh(now, self._leeway) and stored != current:
            return stored  # another client (or process) already refreshed
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
        await self._store.set(self.key, token)
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
