"""FlexitiClient: lifecycle, options (`with_options`) and the resource groups.

Every call goes to the shared `Pipeline` (see `_pipeline`); this module knows no retry,
token or transport rule.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload

import anyio
import anyio.abc
import httpx

from ._auth import InMemoryTokenStore, TokenManager, TokenStore
from ._config import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    TOKEN_LANES,
    NotGiven,
    Transport,
    check_api_path,
    check_concurrency,
    check_credentials,
    check_lang,
    check_retries,
    check_scope,
    check_transport,
    normalise_base_url,
    resolve_timeout,
)
from ._family import Spawn, _Family
from ._redact import install_httpx_log_filter
from ._retry import RetryPolicy
from ._telemetry import Telemetry, recorder_for
from ._transports import Sender, build_http_client
from .environments import Environment
from .errors import ClientClosedError, InvalidRequestError
from .resources._base import ResourceGroups

__all__ = ["DEFAULT_MAX_CONCURRENCY", "DEFAULT_TIMEOUT", "FlexitiClient"]

T = TypeVar("T")


class FlexitiClient(ResourceGroups):
    """An async client for the Flexiti POS API v2.5 / v2.5.1.

    One client owns one connection pool and one token manager per scope. Use it as an async
    context manager (or call `aclose`); it works under asyncio and trio.

    >>> async def main() -> None:                                      # doctest: +SKIP
    ...     async with FlexitiClient.from_env() as flexiti:
    ...         profile = await flexiti.customers.lookup(account_number=100000001)
    ...         print(profile.available_credit)

    Arguments (all but the credentials keyword-only):

    * ``environment``: `Environment.TRAINING` (default), ``PRODUCTION`` or
      ``MERCHANT_INTEGRATION`` (or their values ``"training"``, ``"production"``, ``"mi"``).
    * ``base_url``: overrides ``environment``; https required unless the host is loopback.
    * ``scope``: ``"merchant"`` (default) or ``"customer"`` (online widget flows).
    * ``lang``: ``"en"`` or ``"fr"``, sent where an endpoint takes it; None sends nothing
      (Flexiti's default is English).
    * ``timeout``: seconds per attempt (connect, read, write), or an `httpx.Timeout`. With
      an `httpx.Timeout` whose ``pool`` is set, that also bounds the wait for admission.
    * ``max_retries``: retries after the first attempt (see `RetryPolicy`); ``retry_policy``
      gives full control (backoff, Retry-After cap, seeded jitter).
    * ``max_concurrency``: requests admitted to the pool at once (FIFO); callers beyond it
      wait in line. Default 32. The pool is sized to match so httpx never queues.
    * ``http_client``: an `httpx.AsyncClient` you own (proxies, custom CA, mocks). It is
      used as is and never closed by this library; the admission limit still applies.
    * ``transport``: ``"httpx"`` (default) or ``"aiohttp"`` (asyncio only; needs the
      ``aiohttp`` extra): the same client behaviour on aiohttp's faster connection pool.
    * ``token_store``: share tokens across clients or processes (default: in memory).
    * ``refresh_leeway``: seconds before expiry when a refresh starts (default 60).
    * ``http2``: negotiate HTTP/2 (needs the ``http2`` extra).
    * ``telemetry``: ``True`` emits OpenTelemetry spans and metrics through the global
      providers, a `Telemetry` through providers of your own (needs the ``otel`` extra).
      Off by default: it is never switched on just because an SDK is configured.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        environment: Environment | str = Environment.TRAINING,
        base_url: str | None = None,
        scope: str = "merchant",
        lang: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        retry_policy: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: Transport = "httpx",
        http2: bool = False,
        token_store: TokenStore | None = None,
        refresh_leeway: float = 60.0,
        clock: Callable[[], float] | None = None,
        telemetry: bool | Telemetry = False,
    ) -> None:
        check_credentials(client_id, client_secret)
        if base_url is None:
            try:
                base_url = Environment.parse(environment).base_url
            except ValueError as exc:
                raise InvalidRequestError(str(exc), field="environment") from None
        base = normalise_base_url(base_url)
        limit = check_concurrency(max_concurrency)
        transport = check_transport(transport)
        recorder = recorder_for(telemetry, base)  # before any resource: a bad value raises
        policy = retry_policy or RetryPolicy(max_retries=check_retries(max_retries))
        resolved_timeout = (
            resolve_timeout(timeout) if (timeout is not None or http_client is None) else None
        )
        owns_http = http_client is None
        if http_client is None:
            http_client = build_http_client(
                limit + TOKEN_LANES, resolved_timeout or resolve_timeout(None), transport, http2
            )
        sender = Sender(http_client, owns_http=owns_http)
        if not sender.direct:
            # httpx's public send path logs every URL at INFO, query (vcc_number=) included.
            install_httpx_log_filter()
        self._family = _Family(
            client_id=client_id,
            client_secret=client_secret,
            base_url=base,
            sender=sender,
            max_concurrency=limit,
            token_store=token_store if token_store is not None else InMemoryTokenStore(),
            refresh_leeway=refresh_leeway,
            clock=clock or time.time,
            transport=transport,
        )
        self._family.pipeline.recorder = recorder
        self._is_root = True
        self._scope = check_scope(scope)
        self._lang = check_lang(lang)
        self._timeout = resolved_timeout
        self._retry = policy

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> FlexitiClient:
        """Build a client from ``FLEXITI_CLIENT_ID``, ``FLEXITI_CLIENT_SECRET``,
        ``FLEXITI_ENVIRONMENT`` (training | production | mi) and ``FLEXITI_BASE_URL``.

        Keyword arguments override the environment (e.g. ``max_concurrency=64``).
        """
        env = os.environ if environ is None else environ
        client_id = env.get("FLEXITI_CLIENT_ID", "")
        client_secret = env.get("FLEXITI_CLIENT_SECRET", "")
        if not client_id or not client_secret:
            raise InvalidRequestError(
                "set FLEXITI_CLIENT_ID and FLEXITI_CLIENT_SECRET (or pass them to FlexitiClient)"
            )
        if "environment" not in kwargs and env.get("FLEXITI_ENVIRONMENT"):
            kwargs["environment"] = env["FLEXITI_ENVIRONMENT"]
        if "base_url" not in kwargs and env.get("FLEXITI_BASE_URL"):
            kwargs["base_url"] = env["FLEXITI_BASE_URL"]
        return cls(client_id, client_secret, **kwargs)

    def with_options(
        self,
        *,
        scope: str | NotGiven = NOT_GIVEN,
        lang: str | NotGiven | None = NOT_GIVEN,
        timeout: float | httpx.Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | NotGiven = NOT_GIVEN,
    ) -> FlexitiClient:
        """A client with some options changed that shares this one's connection pool,
        admission limit and token managers (one per scope).

        >>> customer_api = flexiti.with_options(scope="customer")     # doctest: +SKIP

        Closing a derived client does nothing; the pool belongs to the client it came from.
        """
        clone = object.__new__(FlexitiClient)
        clone._family = self._family
        clone._is_root = False
        clone._scope = self._scope if isinstance(scope, NotGiven) else check_scope(scope)
        clone._lang = self._lang if isinstance(lang, NotGiven) else check_lang(lang)
        clone._timeout = (
            self._timeout if isinstance(timeout, NotGiven) else resolve_timeout(timeout)
        )
        if not isinstance(retry_policy, NotGiven):
            clone._retry = retry_policy
        elif not isinstance(max_retries, NotGiven):
            clone._retry = RetryPolicy(
                max_retries=check_retries(max_retries),
                backoff_base=self._retry.backoff_base,
                backoff_cap=self._retry.backoff_cap,
                max_retry_after=self._retry.max_retry_after,
                rng=self._retry.rng,
            )
        else:
            clone._retry = self._retry
        return clone

    # ------------------------------------------------------------------ properties

    @property
    def client_id(self) -> str:
        return self._family.client_id

    @property
    def base_url(self) -> str:
        """The POS API base URL (without the version segment)."""
        return self._family.base_url

    @property
    def scope(self) -> str:
        return self._scope

    @property
    def lang(self) -> str | None:
        return self._lang

    @property
    def max_concurrency(self) -> int:
        return self._family.max_concurrency

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    @property
    def is_closed(self) -> bool:
        return self._family.closed

    @property
    def token_manager(self) -> TokenManager:
        """The token manager for this client's scope (shared with `with_options` clients)."""
        return self._manager(self._scope)

    def __repr__(self) -> str:
        state = "closed" if self._family.closed else "open"
        return (
            f"<FlexitiClient client_id={self._family.client_id!r} base_url="
            f"{self._family.base_url!r} scope={self._scope!r} {state}>"
        )

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FlexitiClient:
        self._check_open()
        if self._family.transport == "aiohttp" and not _running_asyncio():
            raise InvalidRequestError(
                "transport='aiohttp' works under asyncio only; use the default transport on trio",
                field="transport",
            )
        if self._is_root and self._family.task_group is None:
            # Owns background work that must not outlive the client (page prefetch).
            task_group = anyio.create_task_group()
            await task_group.__aenter__()
            self._family.task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        finally:
            # The task group entered in __aenter__ is exited here, in the task and at the
            # nesting level that entered it (exiting it anywhere else corrupts the cancel
            # scope stack); `aclose` has already cancelled the work running in it.
            family = self._family
            if self._is_root and family.task_group is not None:
                task_group, family.task_group = family.task_group, None
                await task_group.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Close the connection pool (unless it was injected). Safe to call twice, and from
        any task.

        Requests still running end with an error that says the client was closed:
        `ClientClosedError` if they were waiting, not sent yet or safe to resend, and
        `OutcomeUnknownError` for a state-changing POST that may have reached Flexiti.
        On a client made by `with_options` this does nothing.
        """
        if not self._is_root or self._family.closed:
            return
        family = self._family
        family.closed = True
        # Stop background work only: exiting (or cancelling) the task group here would
        # corrupt the cancel scope stack when aclose() runs in another task or a nested
        # scope, e.g. while requests are in flight.
        for scope in list(family.background):
            scope.cancel()
        if family.owns_http:
            with anyio.CancelScope(shield=True):
                await family.http.aclose()

    def _check_open(self) -> None:
        if self._family.closed:
            raise ClientClosedError("this FlexitiClient is closed; create a new one")

    def _spawn(self) -> Spawn | None:
        """A function that starts background work in the client's task group, if it has one
        (see `_Family.spawner`)."""
        return self._family.spawner()

    # ------------------------------------------------------------------ tokens

    def _manager(self, scope: str) -> TokenManager:
        return self._family.manager(scope, attempt_timeout=self._timeout, policy=self._retry)

    # ------------------------------------------------------------------ requests

    @overload
    async def _request(
        self,
        method: str,
        path: str,
        *,
        cast_to: type[T],
        version: str = ...,
        params: Mapping[str, Any] | None = ...,
        json: Any = ...,
        idempotent: bool | None = ...,
        headers: Mapping[str, str] | None = ...,
        scope: str | None = ...,
    ) -> T: ...

    @overload
    async def _request(
        self,
        method: str,
        path: str,
        *,
        cast_to: None = ...,
        version: str = ...,
        params: Mapping[str, Any] | None = ...,
        json: Any = ...,
        idempotent: bool | None = ...,
        headers: Mapping[str, str] | None = ...,
        scope: str | None = ...,
    ) -> Any: ...

    async def _request(
        self,
        method: str,
        path: str,
        *,
        cast_to: type[T] | None = None,
        version: str = "2.5",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        scope: str | None = None,
    ) -> Any:
        """Send one API call through the pipeline and return the decoded (or structured) body.

        ``idempotent`` says whether resending is harmless; by default GETs are and POSTs are
        not (see `RetryPolicy`). ``path`` is relative to ``/client-id/{client_id}/``.
        """
        self._check_open()
        family = self._family
        return await family.pipeline.request(
            method,
            f"{family.base_url}/v{version}/client-id/{family.quoted_client_id}/{path}",
            path,
            params=params,
            json=json,
            headers=headers,
            idempotent=method in ("GET", "HEAD") if idempotent is None else idempotent,
            manager=self._manager(scope or self._scope),
            attempt_timeout=self._timeout,
            policy=self._retry,
            cast_to=cast_to,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        version: str = "2.5",
        idempotent: bool | None = None,
    ) -> Any:
        """The escape hatch for endpoints this version does not wrap.

        Goes through the same pipeline (token, reference id, admission, retries, error
        mapping, redaction) and returns the decoded JSON (money as `Decimal`).
        ``path`` is relative to ``/client-id/{client_id}/``. POSTs are treated as
        state-changing unless ``idempotent=True``.

        >>> info = await flexiti.request("GET", "i18n", params={"lang": "fr"})  # doctest: +SKIP
        """
        path = check_api_path(version, path)
        return await self._request(
            method.upper(), path, version=version, params=params, json=json, idempotent=idempotent
        )


def _running_asyncio() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
