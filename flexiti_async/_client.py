"""FlexitiClient: lifecycle, configuration, and the one request pipeline every call goes through."""

from __future__ import annotations

import ipaddress
import logging
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import anyio
import anyio.abc
import httpx

from . import _converter
from ._auth import AccessToken, InMemoryTokenStore, TokenManager, TokenStore
from ._redact import SecretRegistry, redact_text
from ._reference import current_reference_id, new_reference_id
from ._retry import Delivery, RetryPolicy, classify_transport_error, parse_retry_after
from ._version import __version__
from .environments import Environment
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    FlexitiError,
    InvalidRequestError,
    OutcomeUnknownError,
    ResponseValidationError,
    error_from_response,
)

if TYPE_CHECKING:
    from .resources.accounts import Accounts
    from .resources.applications import Applications
    from .resources.authorizations import Authorizations
    from .resources.captures import Captures
    from .resources.content import Content
    from .resources.customers import Customers
    from .resources.merchants import Merchants
    from .resources.transactions import Transactions
    from .resources.widget import Widget

__all__ = ["DEFAULT_MAX_CONCURRENCY", "DEFAULT_TIMEOUT", "FlexitiClient"]

logger = logging.getLogger("flexiti_async")

T = TypeVar("T")

#: Requests admitted to the connection pool at once when ``max_concurrency`` is not given.
DEFAULT_MAX_CONCURRENCY = 32
#: Per-attempt timeout (connect, read, write) when none is given.
DEFAULT_TIMEOUT = 30.0
# Connections reserved beyond max_concurrency for token grants (one per scope), which bypass
# the admission limiter so a refresh is never stuck behind the callers waiting for it.
_TOKEN_LANES = 2
_VERSIONS = ("2.5", "2.5.1")
_SCOPES = ("merchant", "customer")
_LANGS = ("en", "fr")

Transport = Literal["httpx", "aiohttp"]


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = _NotGiven()


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":  # not *.localhost: a resolver may send that anywhere
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _normalise_base_url(base_url: str) -> str:
    """Check the HTTPS-unless-loopback rule and strip a trailing version segment."""
    url = httpx.URL(base_url.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequestError(f"base_url must be an http(s) URL, got {base_url!r}")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise InvalidRequestError(
            "base_url must use https (plain http is allowed only for loopback hosts, "
            "e.g. the sandbox on 127.0.0.1)",
            field="base_url",
        )
    text = str(url.copy_with(query=None, fragment=None)).rstrip("/")
    for version in _VERSIONS:
        if text.endswith("/v" + version):
            text = text[: -len(version) - 2]
    return text


def _timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    seconds = DEFAULT_TIMEOUT if value is None else float(value)
    # pool=None: waiting for admission is not bounded by the per-attempt timeout (see README).
    return httpx.Timeout(seconds, pool=None)


class _Family:
    """State shared by a client and every client derived from it with `with_options`."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        base_url: str,
        http: httpx.AsyncClient,
        owns_http: bool,
        max_concurrency: int,
        token_store: TokenStore,
        refresh_leeway: float,
        clock: Callable[[], float],
        transport: Transport,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.base_url = base_url
        self.http = http
        self.owns_http = owns_http
        self.max_concurrency = max_concurrency
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self.token_store = token_store
        self.refresh_leeway = refresh_leeway
        self.clock = clock
        self.transport = transport
        self.secrets = SecretRegistry()
        self.secrets.add_permanent(client_secret)
        self.managers: dict[str, TokenManager] = {}
        self.closed = False
        self.task_group: anyio.abc.TaskGroup | None = None
        # One cancel scope per background job (page prefetch), so that `aclose` can stop
        # them without cancelling the task group's own scope: that scope also wraps the
        # body of the user's ``async with`` block.
        self.background: set[anyio.CancelScope] = set()
        self.quoted_client_id = urllib.parse.quote(client_id, safe="")
        self.token_url = f"{base_url}/v2.5/oauth/token"
        self.user_agent = f"flexiti-async/{__version__} httpx/{httpx.__version__}"
        # Our own client has no auth, hooks, cookies, base URL or redirects to apply, so its
        # requests skip AsyncClient.build_request/send (URL re-parsing and cookie extraction
        # were a third of the per-request CPU); an injected client gets the full httpx path.
        self.direct = owns_http and callable(getattr(http, "_transport_for_url", None))
        self.default_headers = dict(http.headers.items())

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
            headers={**self.default_headers, **headers},
            content=content,
            extensions={"timeout": (timeout or self.http.timeout).as_dict()},
        )

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole body (what ``AsyncClient.send`` does for us)."""
        if not self.direct:
            response = await self.http.send(request)
            # httpx 0.28 leaves the read response in a reference cycle with its stream
            # (encode/httpx#3733), so every body waited for a full GC pass: paging through
            # an injected client held ~8 pages. The body is read and closed; cut the cycle.
            response.stream = httpx.ByteStream(b"")
            return response
        # The transport for this URL: the default one, or a proxy mount (HTTPS_PROXY...).
        transport = self.http._transport_for_url(request.url)
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response


class FlexitiClient:
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
    ) -> None:
        if not isinstance(client_id, str) or not client_id.strip():
            raise InvalidRequestError("client_id is required", field="client_id")
        if not isinstance(client_secret, str) or not client_secret:
            raise InvalidRequestError("client_secret is required", field="client_secret")
        if len(client_id) > 100 or len(client_secret) > 100:
            raise InvalidRequestError("client_id and client_secret are at most 100 characters")
        if base_url is None:
            try:
                base_url = Environment.parse(environment).base_url
            except ValueError as exc:
                raise InvalidRequestError(str(exc), field="environment") from None
        base = _normalise_base_url(base_url)
        limit = DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidRequestError("max_concurrency must be a positive integer")
        if transport not in ("httpx", "aiohttp"):
            raise InvalidRequestError("transport must be 'httpx' or 'aiohttp'", field="transport")
        policy = retry_policy or RetryPolicy(max_retries=_check_retries(max_retries))
        resolved_timeout = (
            _timeout(timeout) if (timeout is not None or http_client is None) else None
        )
        owns_http = http_client is None
        if http_client is None:
            http_client = _build_http_client(
                limit + _TOKEN_LANES, resolved_timeout or _timeout(None), transport, http2
            )
        self._family = _Family(
            client_id=client_id,
            client_secret=client_secret,
            base_url=base,
            http=http_client,
            owns_http=owns_http,
            max_concurrency=limit,
            token_store=token_store if token_store is not None else InMemoryTokenStore(),
            refresh_leeway=refresh_leeway,
            clock=clock or time.time,
            transport=transport,
        )
        self._is_root = True
        self._scope = _check_scope(scope)
        self._lang = _check_lang(lang)
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
        scope: str | _NotGiven = NOT_GIVEN,
        lang: str | _NotGiven | None = NOT_GIVEN,
        timeout: float | httpx.Timeout | _NotGiven = NOT_GIVEN,
        max_retries: int | _NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | _NotGiven = NOT_GIVEN,
    ) -> FlexitiClient:
        """A client with some options changed that shares this one's connection pool,
        admission limit and token managers (one per scope).

        >>> customer_api = flexiti.with_options(scope="customer")     # doctest: +SKIP

        Closing a derived client does nothing; the pool belongs to the client it came from.
        """
        clone = object.__new__(FlexitiClient)
        clone._family = self._family
        clone._is_root = False
        clone._scope = self._scope if isinstance(scope, _NotGiven) else _check_scope(scope)
        clone._lang = self._lang if isinstance(lang, _NotGiven) else _check_lang(lang)
        clone._timeout = self._timeout if isinstance(timeout, _NotGiven) else _timeout(timeout)
        if not isinstance(retry_policy, _NotGiven):
            clone._retry = retry_policy
        elif not isinstance(max_retries, _NotGiven):
            clone._retry = RetryPolicy(
                max_retries=_check_retries(max_retries),
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

    # ------------------------------------------------------------------ resources

    @cached_property
    def customers(self) -> Customers:
        """Customer search, lookup and driver's licence decoding."""
        from .resources.customers import Customers

        return Customers(self)

    @cached_property
    def accounts(self) -> Accounts:
        """Verification, financing options, close and refund."""
        from .resources.accounts import Accounts

        return Accounts(self)

    @cached_property
    def authorizations(self) -> Authorizations:
        """Credit authorizations: create, retrieve, list, capture, release, return."""
        from .resources.authorizations import Authorizations

        return Authorizations(self)

    @cached_property
    def captures(self) -> Captures:
        """Capture history."""
        from .resources.captures import Captures

        return Captures(self)

    @cached_property
    def transactions(self) -> Transactions:
        """Deposits, in-store payments and trade-ins (idempotent)."""
        from .resources.transactions import Transactions

        return Transactions(self)

    @cached_property
    def widget(self) -> Widget:
        """Online channel: open a Flexiti widget session."""
        from .resources.widget import Widget

        return Widget(self)

    @cached_property
    def applications(self) -> Applications:
        """Credit applications (schema withdrawn by Flexiti: passthrough)."""
        from .resources.applications import Applications

        return Applications(self)

    @cached_property
    def content(self) -> Content:
        """Terms and conditions, localized strings."""
        from .resources.content import Content

        return Content(self)

    @cached_property
    def merchants(self) -> Merchants:
        """Deprecated merchant login."""
        from .resources.merchants import Merchants

        return Merchants(self)

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
        # scope, e.g. while requests are in flight (tests/test_lifecycle.py).
        for scope in list(family.background):
            scope.cancel()
        if family.owns_http:
            with anyio.CancelScope(shield=True):
                await family.http.aclose()

    def _check_open(self) -> None:
        if self._family.closed:
            raise ClientClosedError("this FlexitiClient is closed; create a new one")

    def _spawn(self) -> Callable[[Callable[[], Awaitable[None]]], None] | None:
        """A function that starts background work in the client's task group, if it has one.

        Work started this way must not raise: an error would cancel the user's ``async with``
        block. The paginator hands every outcome, errors included, to its consumer.
        """
        family = self._family
        task_group = family.task_group
        if task_group is None or family.closed:
            return None

        async def run(work: Callable[[], Awaitable[None]]) -> None:
            with anyio.CancelScope() as scope:
                family.background.add(scope)
                try:
                    if family.closed:
                        scope.cancel()  # closed before it started: let it wind down
                    await work()
                finally:
                    family.background.discard(scope)

        def spawn(work: Callable[[], Awaitable[None]]) -> None:
            if family.closed:
                raise ClientClosedError("this FlexitiClient is closed; create a new one")
            task_group.start_soon(run, work)

        return spawn

    # ------------------------------------------------------------------ tokens

    def _manager(self, scope: str) -> TokenManager:
        family = self._family
        manager = family.managers.get(scope)
        if manager is None:
            manager = family.managers[scope] = TokenManager(
                client_id=family.client_id,
                client_secret=family.client_secret,
                scope=scope,
                key=f"{family.base_url}|{family.client_id}|{scope}",
                fetch=self._fetch_token,
                store=family.token_store,
                secrets=family.secrets,
                refresh_leeway=family.refresh_leeway,
                clock=family.clock,
            )
        return manager

    async def _fetch_token(self, form: Mapping[str, str]) -> Mapping[str, Any]:
        """POST the token form (never in the query string); retried like a GET."""
        family = self._family
        content = urllib.parse.urlencode(form).encode()
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json",
            "user-agent": family.user_agent,
        }
        body, _ = await self._run(
            "POST",
            family.token_url,
            "oauth/token",
            headers=headers,
            params=None,
            content=content,
            idempotent=True,
            manager=None,
            admit=False,
        )
        if not isinstance(body, Mapping):
            raise ResponseValidationError(
                "the token endpoint did not answer with a JSON object",
                reference_id=None,
                status_code=200,
            )
        return body

    # ------------------------------------------------------------------ requests

    def _url(self, version: str, path: str) -> str:
        family = self._family
        return f"{family.base_url}/v{version}/client-id/{family.quoted_client_id}/{path}"

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
        request_headers = {"accept": "application/json", "user-agent": self._family.user_agent}
        content: bytes | None = None
        if json is not None:
            content = _converter.dumps(json)
            request_headers["content-type"] = "application/json"
        if headers:
            request_headers.update(headers)
        body, reference = await self._run(
            method,
            self._url(version, path),
            path,
            headers=request_headers,
            params=_clean_params(params),
            content=content,
            idempotent=method in ("GET", "HEAD") if idempotent is None else idempotent,
            manager=self._manager(scope or self._scope),
            admit=True,
        )
        if cast_to is None:
            return body
        try:
            return _converter.structure(body, cast_to)
        except Exception as exc:  # cattrs raises several types; all mean "does not fit"
            raise ResponseValidationError(
                f"{method} {path}: the response did not fit {cast_to.__name__} "
                f"({type(exc).__name__})",
                reference_id=reference,
                status_code=200,
                body=body,
            ) from None

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
        method = method.upper()
        if version not in _VERSIONS:
            raise InvalidRequestError(f"version must be one of {_VERSIONS}", field="version")
        path = path.lstrip("/")
        if not path or ".." in path.split("/"):
            raise InvalidRequestError("path must be a relative API path", field="path")
        return await self._request(
            method, path, version=version, params=params, json=json, idempotent=idempotent
        )

    async def _run(
        self,
        method: str,
        url: str,
        path: str,
        *,
        headers: dict[str, str],
        params: dict[str, str] | None,
        content: bytes | None,
        idempotent: bool,
        manager: TokenManager | None,
        admit: bool,
    ) -> tuple[Any, str]:
        """The retry loop; returns the decoded body and the reference id it was sent with.

        Bounded: at most ``max_retries`` retries plus one 401 replay.
        """
        family = self._family
        policy = self._retry
        reference = current_reference_id() or new_reference_id()
        headers["x-reference-id"] = reference
        timeout = self._timeout
        retries = 0
        replayed = False
        token: AccessToken | None = None
        # Parsed once, not per attempt: httpx validates a URL character by character.
        target = httpx.URL(f"{url}?{httpx.QueryParams(params)}" if params else url)
        for attempt in range(1, policy.max_retries + 3):
            request = family.build_request(method, target, headers, content, timeout)
            started = time.perf_counter()
            try:
                response, token = await self._send(request, admit, manager)
            except httpx.TransportError as exc:
                self._log(method, path, None, started, attempt, reference, exc)
                delivery = classify_transport_error(exc)
                if family.closed:
                    # aclose() closed the pool under this request: say so, and do not
                    # retry (the retry would only meet the closed client).
                    raise self._transport_error(
                        exc, delivery, idempotent, method, path, reference, closed=True
                    ) from None
                if policy.retryable_transport(delivery, idempotent=idempotent) and (
                    retries < policy.max_retries
                ):
                    retries += 1
                    await anyio.sleep(policy.backoff(retries))
                    continue
                raise self._transport_error(exc, delivery, idempotent, method, path, reference)
            except httpx.DecodingError as exc:
                # The answer came but its body could not be decoded (a broken
                # Content-Encoding from a proxy): like a 2xx whose body is not JSON.
                self._log(method, path, None, started, attempt, reference, exc)
                if idempotent and retries < policy.max_retries:
                    retries += 1
                    await anyio.sleep(policy.backoff(retries))
                    continue
                raise ResponseValidationError(
                    f"{method} {path}: the response body could not be decoded "
                    f"({self._describe(exc)})",
                    reference_id=reference,
                    status_code=0,
                ) from None
            except httpx.HTTPError as exc:
                # Anything else httpx raises without a usable answer, e.g. TooManyRedirects
                # from an injected client that follows redirects: the server did answer
                # (with redirects), so a state-changing POST's outcome is not known.
                self._log(method, path, None, started, attempt, reference, exc)
                if idempotent:
                    raise APIConnectionError(
                        f"{method} {path} failed: {self._describe(exc)}", reference_id=reference
                    ) from None
                raise OutcomeUnknownError(
                    f"{method} {path} got no usable answer ({self._describe(exc)}); it was "
                    "not resent. Check its outcome before retrying.",
                    reference_id=reference,
                    method=method,
                    path=path,
                ) from None
            self._log(method, path, response.status_code, started, attempt, reference, None)
            status = response.status_code
            if status < 300:
                try:
                    body = _converter.loads(response.content) if response.content else None
                except ValueError:
                    if idempotent and retries < policy.max_retries:
                        retries += 1
                        await anyio.sleep(policy.backoff(retries))
                        continue
                    raise ResponseValidationError(
                        f"{method} {path}: HTTP {status} with a body that is not JSON",
                        reference_id=reference,
                        status_code=status,
                    ) from None
                return body, reference
            if status == 401 and manager is not None and token is not None and not replayed:
                # The token was revoked or expired early: drop it (if nobody else has yet)
                # and replay once. A 401 means the request was refused, so a POST is safe.
                replayed = True
                await manager.invalidate(token)
                continue
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if policy.retryable_status(status, idempotent=idempotent) and (
                retries < policy.max_retries
            ):
                delay = policy.delay(retries + 1, retry_after)
                if delay is not None:
                    retries += 1
                    await anyio.sleep(delay)
                    continue
            raise self._status_error(response, reference, retry_after, token_request=not admit)
        raise AssertionError("unreachable: the retry loop always returns or raises")

    async def _send(
        self, request: httpx.Request, admit: bool, manager: TokenManager | None
    ) -> tuple[httpx.Response, AccessToken | None]:
        """Admit the request, put the bearer token on it and send it; returns the response
        and the token it carried."""
        family = self._family
        self._check_not_closed(request, waited=False)
        if not admit:
            token = await self._authorize(request, manager)
            return await family.send(request), token
        borrower = object()  # unique, so one task may hold several slots (e.g. prefetch)
        pool_timeout = self._timeout.pool if self._timeout is not None else None
        try:
            # A free slot and nobody queued (FIFO is kept: this refuses if anyone waits):
            # the awaiting acquire would cost a task switch on every request.
            family.limiter.acquire_on_behalf_of_nowait(borrower)
        except anyio.WouldBlock:
            if pool_timeout is None:
                await family.limiter.acquire_on_behalf_of(borrower)
            else:
                with anyio.move_on_after(pool_timeout) as scope:
                    await family.limiter.acquire_on_behalf_of(borrower)
                if scope.cancelled_caught:
                    raise httpx.PoolTimeout(
                        f"waited {pool_timeout} s for admission to the pool"
                    ) from None
        try:
            # Closed while this request waited for admission: without this check httpx
            # raises a bare RuntimeError ("the client has been closed") from send().
            self._check_not_closed(request, waited=True)
            # The token is taken after admission, not before: a request that waited in line
            # while the token was revoked or replaced would otherwise go out with the stale
            # one and spend its single 401 replay on it; a second revocation while the
            # queue drains then failed every waiting caller with AuthenticationError
            # (tests/chaos). Token grants bypass the limiter, so this cannot deadlock.
            token = await self._authorize(request, manager)
            return await family.send(request), token
        finally:
            family.limiter.release_on_behalf_of(borrower)

    @staticmethod
    async def _authorize(
        request: httpx.Request, manager: TokenManager | None
    ) -> AccessToken | None:
        if manager is None:
            return None
        token = await manager.token()
        request.headers["authorization"] = "Bearer " + token.value
        return token

    def _check_not_closed(self, request: httpx.Request, *, waited: bool) -> None:
        if not self._family.closed:
            return
        what = f"{request.method} {request.url.path}"
        if waited:
            raise ClientClosedError(
                f"the FlexitiClient was closed while {what} waited for a connection; "
                "it was not sent"
            )
        raise ClientClosedError(f"this FlexitiClient is closed; {what} was not sent")

    def _transport_error(
        self,
        exc: httpx.TransportError,
        delivery: Delivery,
        idempotent: bool,
        method: str,
        path: str,
        reference: str,
        *,
        closed: bool = False,
    ) -> FlexitiError:
        """The error for a request that got no answer; ``closed``: because aclose() ran."""
        what = self._describe(exc)
        request = f"{method} {path}"
        if closed:
            request = f"the FlexitiClient was closed while {request} was in flight"
        if delivery is Delivery.MAYBE_SENT and not idempotent:
            message = (
                f"{request} ({what}): it may have reached Flexiti and was not resent."
                if closed
                else f"{request} may have reached Flexiti but no answer came back ({what}); "
                "it was not resent."
            )
            return OutcomeUnknownError(
                f"{message} Check its outcome before retrying.",
                reference_id=reference,
                method=method,
                path=path,
            )
        if closed:
            return ClientClosedError(
                f"{request} ({what}); it was not retried", reference_id=reference
            )
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        return cls(f"{request} failed: {what}", reference_id=reference)

    def _describe(self, exc: httpx.HTTPError) -> str:
        """``Type: message`` for an httpx error, redacted, with its request scrubbed.

        Some errors (TLS failures under trio) have an empty message: take the first
        non-empty one down the cause chain. The exception stays chained to ours for
        debugging, so its request must not keep the bearer token.
        """
        try:
            request = exc.request
        except RuntimeError:  # raised outside a request
            request = None
        if request is not None and "authorization" in request.headers:
            request.headers["authorization"] = "Bearer <redacted>"
        text = str(exc)
        cause: BaseException | None = exc.__cause__ or exc.__context__
        for _ in range(8):  # bounded walk down the chain
            if text or cause is None:
                break
            text = str(cause)
            cause = cause.__cause__ or cause.__context__
        return redact_text(f"{type(exc).__name__}: {text}", self._family.secrets.values)

    def _status_error(
        self,
        response: httpx.Response,
        reference: str,
        retry_after: float | None,
        *,
        token_request: bool,
    ) -> APIStatusError:
        # The exception keeps the response; make sure nothing secret travels with it.
        if token_request:
            response = httpx.Response(
                response.status_code,
                headers=response.headers,
                content=response.content,
                request=httpx.Request(response.request.method, response.request.url),
            )
        elif "authorization" in response.request.headers:
            response.request.headers["authorization"] = "Bearer <redacted>"
        return error_from_response(
            response,
            reference_id=reference,
            secrets=self._family.secrets.values,
            retry_after=retry_after,
        )

    @staticmethod
    def _log(
        method: str,
        path: str,
        status: int | None,
        started: float,
        attempt: int,
        reference: str,
        exc: BaseException | None,
    ) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        elapsed = (time.perf_counter() - started) * 1000
        outcome = str(status) if exc is None else type(exc).__name__
        # Only the path: query strings can hold card numbers (customers/lookup?vcc_number=).
        logger.debug(
            "%s %s -> %s in %.1f ms (attempt %d, reference id %s)",
            method,
            path,
            outcome,
            elapsed,
            attempt,
            reference,
        )


def _build_http_client(
    connections: int, timeout: httpx.Timeout, transport: Transport, http2: bool
) -> httpx.AsyncClient:
    # keep-alive == max connections: httpcore then never closes and reopens connections
    # under load, and the admission limiter keeps it from ever queueing requests.
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
    from ._pool import use_admitted_pool

    client = httpx.AsyncClient(limits=limits, timeout=timeout, http2=http2)
    # The admission limiter already keeps requests from waiting for connections, so the
    # pool can hand them out in O(1) instead of httpcore's per-request scan (see _pool).
    use_admitted_pool(client)
    return client


def _running_asyncio() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _check_scope(scope: str) -> str:
    if scope not in _SCOPES:
        raise InvalidRequestError("scope must be 'merchant' or 'customer'", field="scope")
    return scope


def _check_lang(lang: str | None) -> str | None:
    if lang is not None and lang not in _LANGS:
        raise InvalidRequestError("lang must be 'en' or 'fr'", field="lang")
    return lang


def _check_retries(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRequestError("max_retries must be a non-negative integer")
    return value


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Drop None values and render the rest as Flexiti expects (dates ISO, bools lowercase)."""
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        elif hasattr(value, "value") and isinstance(value.value, str):  # enums
            out[key] = value.value
        else:
            out[key] = str(value)
    return out or None
