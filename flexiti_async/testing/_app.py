"""The ASGI application: routing, request checks, faults, stats, error bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from . import _customers as customers
from . import _listings as listings
from . import _money as money
from . import _online as online
from . import _payments as payments
from ._admin import PIN_PATH, pending_pin
from ._auth import authenticate, expire_all, grant_token, revoke_all
from ._context import Call, Env, Reply
from ._errors import ApiError, FieldError, InputError
from ._faults import Fault, FaultPlan
from ._json import dumps, loads

__all__ = ["CLOSE_CONNECTION_KEY", "PREFIX", "SandboxApp"]

PREFIX = "/flexiti/pos-api"
#: Scope key under which the loopback server puts a callable that closes the connection.
CLOSE_CONNECTION_KEY = "flexiti_sandbox.close_connection"

Handler = Callable[[Env, Call], object]
_V25, _V251 = ("v2.5",), ("v2.5.1",)
_BOTH = ("v2.5", "v2.5.1")

# (route name, methods, versions, path under client-id/{client_id}/, handler)
_TABLE: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str, Handler], ...] = (
    ("search", ("GET",), _V25, "customers/search", customers.search),
    ("lookup", ("GET",), _V25, "customers/lookup", customers.lookup),
    ("drivers_license", ("POST",), _V25, "customers/driverslicense", customers.drivers_license),
    ("verify", ("POST",), _V25, "account/{account_number}/verify", customers.verify),
    (
        "calculate_interest",
        ("POST",),
        _BOTH,
        "accounts/{account_number}/calculate-interest",
        customers.calculate_interest,
    ),
    ("close", ("POST",), _V25, "accounts/{account_number}/close", customers.close),
    ("refund", ("POST",), _V25, "accounts/{account_number}/refund", money.refund),
    ("authorize", ("POST",), _BOTH, "authorization", money.authorize),
    (
        "retrieve_authorization",
        ("GET",),
        _V251,
        "authorization/{authorization_id}",
        money.retrieve_authorization,
    ),
    ("list_authorizations", ("GET",), _V251, "authorizations", listings.list_authorizations),
    ("capture", ("POST",), _V25, "authorization/{authorization_id}/capture", money.capture),
    ("release", ("POST",), _V25, "authorization/{authorization_id}/release", money.release),
    (
        "return",
        ("POST",),
        _V25,
        "authorization/{authorization_id}/capture/{capture_id}/return",
        money.return_capture,
    ),
    ("list_captures", ("GET",), _V251, "captures", listings.list_captures),
    ("transactions", ("POST",), _BOTH, "transactions", payments.transactions),
    ("widget_init", ("POST",), _V25, "widget/init", online.widget_init),
    ("apply", ("POST",), _V25, "apply", online.apply),
    ("terms", ("GET",), _V25, "terms-and-conditions", online.terms),
    ("i18n", ("GET", "POST"), _V25, "i18n", online.i18n),
    ("merchant_login", ("POST",), _V25, "merchants/login", online.merchant_login),
    ("sandbox_pin", ("GET",), _V25, PIN_PATH, pending_pin),
)
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: The documented maximum length of ``x-reference-id`` (ASCII string (32)).
REFERENCE_ID_MAX = 32
_HOLD_TIMEOUT = 60.0  # a held request proceeds on its own after this (a forgotten release)


class _ConnectionDropped(Exception):
    """Raised inside the app to close the connection without a response."""


class SandboxApp:
    """ASGI callable serving the POS API from a sandbox ``Env``.

    Over ``httpx.ASGITransport`` a dropped connection surfaces as
    ``httpx.RemoteProtocolError`` raised into the client (the app exception propagates);
    on the loopback server the TCP connection is closed without a response, which httpx
    reports as the same ``RemoteProtocolError``.
    """

    def __init__(self, env: Env, faults: FaultPlan) -> None:
        self._env = env
        self._faults = faults
        # Routes accept every method so that a wrong one gets a JSON 405 from _endpoint
        # (Starlette's own 405 is plain text).
        routes = [
            Route(
                f"{PREFIX}/v2.5/oauth/token",
                self._endpoint("token", "v2.5", None, ("POST",)),
                methods=_ANY_METHOD,
                name="token",
            )
        ]
        for name, methods, versions, path, handler in _TABLE:
            for version in versions:
                routes.append(
                    Route(
                        f"{PREFIX}/{version}/client-id/{{client_id}}/{path}",
                        self._endpoint(name, version, handler, methods),
                        methods=_ANY_METHOD,
                        name=f"{name}:{version}",
                    )
                )
        self._router = Router(routes=routes, redirect_slashes=False, default=self._not_found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            await self._router(scope, receive, send)
        except _ConnectionDropped:
            await _drop(scope, receive)

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._env.stats.enter(False)
        body = {"code": 404, "error": "not_found", "error_description": "no such endpoint"}
        response = Response(dumps(body), status_code=404, media_type="application/json")
        try:
            await response(scope, receive, send)
        finally:
            self._env.stats.leave("unknown", 404, False)

    def _endpoint(
        self, name: str, version: str, handler: Handler | None, methods: tuple[str, ...]
    ) -> Callable[[Request], Awaitable[Response]]:
        stats = self._env.stats
        token_route = handler is None

        async def endpoint(request: Request) -> Response:
            stats.enter(token_route)
            status = 0  # stays 0 when the connection is dropped
            try:
                if request.method not in methods:
                    response = _method_not_allowed(request.method, methods)
                else:
                    response = await self._handle(name, version, handler, request)
                status = response.status_code
                return response
            finally:
                stats.leave(name, status, token_route)

        return endpoint

    async def _handle(
        self, name: str, version: str, handler: Handler | None, request: Request
    ) -> Response:
        raw = await request.body()
        after: Fault | None = None
        for fault in self._faults.pick(name, request.method):
            if fault.kind == "latency":
                await anyio.sleep(fault.seconds)
            elif fault.kind == "hold":
                assert fault.gate is not None
                await fault.gate.wait_released(_HOLD_TIMEOUT)
            elif fault.kind == "revoke_tokens":
                with self._env.world.lock:
                    revoke_all(self._env)
            elif fault.kind == "expire_tokens":
                with self._env.world.lock:
                    expire_all(self._env)
            elif fault.kind == "drop_before":
                raise _ConnectionDropped
            elif fault.kind == "status":
                return _fault_response(fault)
            elif fault.kind == "html_error":
                return _html_error(fault.status_code)
            elif fault.kind == "blocked":
                return _blocked(fault.status_code)
            elif fault.apply:
                after = fault
            else:
                return _malformed()
        response = self._process(name, version, handler, request, raw)
        if after is not None:
            if after.kind == "drop_after":
                raise _ConnectionDropped
            if response.status_code < 300:
                # Only a success is corrupted: a refusal keeps its error body, so the
                # client sees what Flexiti refused rather than a decoding failure.
                return _malformed()
        return response

    def _process(
        self, name: str, version: str, handler: Handler | None, request: Request, raw: bytes
    ) -> Response:
        env = self._env
        path = request.url.path
        call = Call(
            route=name,
            method=request.method,
            path=path,
            version=version,
            params=request.path_params,
            query=request.query_params,
            headers=request.headers,
            raw=raw,
        )
        try:
            with env.world.lock:
                call.reference_id = _reference_id(env, request)
                if handler is None:
                    return self._json(grant_token(env, call, raw))
                call.token = authenticate(
                    env, request.headers, request.path_params["client_id"], name
                )
                lang = request.query_params.get("lang") or "en"
                if lang not in ("en", "fr"):
                    raise InputError(FieldError("lang", "invalid", lang))
                call.lang = lang
                if request.method == "POST":
                    call.body = _json_body(request, raw)
                result = handler(env, call)
        except ApiError as exc:
            body = {"code": exc.status, "error": exc.error, "error_description": exc.description}
            return self._json(body, exc.status)
        except InputError as exc:
            return self._json(
                {
                    "url": path,
                    "message": "Some inputs are wrong!",
                    "error": "wrong_input",
                    "field_errors": [
                        {"param": f.param, "msg": f.msg, "value": f.value} for f in exc.field_errors
                    ],
                },
                409,
            )
        if isinstance(result, Reply):
            content = result.raw if result.raw is not None else self._dumps(result.body)
            return Response(
                content,
                status_code=result.status,
                headers=result.headers,
                media_type="application/json",
            )
        return self._json(result)

    def _dumps(self, body: object) -> bytes:
        return dumps(body, amounts_as_strings=self._env.options.amounts_as_strings)

    def _json(self, body: object, status: int = 200) -> Response:
        return Response(self._dumps(body), status_code=status, media_type="application/json")


def _reference_id(env: Env, request: Request) -> str:
    reference = request.headers.get("x-reference-id", "").strip()
    if not reference:
        raise InputError(FieldError("x-reference-id", "required"))
    if env.options.strict_reference_id and (
        len(reference) > REFERENCE_ID_MAX or not reference.isascii()
    ):
        raise InputError(
            FieldError("x-reference-id", f"at most {REFERENCE_ID_MAX} ASCII characters", reference)
        )
    return reference


def _method_not_allowed(method: str, allowed: tuple[str, ...]) -> Response:
    body = {
        "code": 405,
        "error": "method_not_allowed",
        "error_description": f"{method} is not allowed here; use {', '.join(allowed)}",
    }
    return Response(
        dumps(body),
        status_code=405,
        headers={"allow": ", ".join(allowed)},
        media_type="application/json",
    )


def _blocked(status: int) -> Response:
    # Blocked answers come from Flexiti's edge (firewall, ACL, geo-block), not the API:
    # an HTML page, as such an edge sends.
    reason = {465: "Malicious payload", 466: "ACL rule", 467: "Geo-blocked"}.get(status, "")
    page = f"<html><body><h1>{status} Blocked</h1><p>{reason}</p></body></html>"
    return Response(page.encode(), status_code=status, media_type="text/html")


def _json_body(request: Request, raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise InputError(FieldError("content-type", "must be application/json", content_type))
    try:
        body = loads(raw)
    except ValueError:
        raise InputError(FieldError("body", "invalid JSON"))
    if not isinstance(body, dict):
        raise InputError(FieldError("body", "must be a JSON object"))
    return body


def _fault_response(fault: Fault) -> Response:
    body = {
        "code": fault.status_code,
        "error": fault.error,
        "error_description": fault.description or fault.error,
    }
    headers = {"retry-after": fault.retry_after} if fault.retry_after is not None else None
    return Response(
        dumps(body), status_code=fault.status_code, headers=headers, media_type="application/json"
    )


def _html_error(status: int) -> Response:
    page = (
        "<!DOCTYPE html><html><head><title>Error</title></head>"
        f"<body><h1>{status} Server Error</h1><p>The server encountered an error.</p></body></html>"
    )
    return Response(page.encode(), status_code=status, media_type="text/html")


def _malformed() -> Response:
    return Response(b'{"authorization_id": 1, "amount": ', media_type="application/json")


async def _drop(scope: Scope, receive: Receive) -> None:
    close = scope.get(CLOSE_CONNECTION_KEY)
    if close is None:
        # In process (httpx.ASGITransport) the app's exception reaches the client: make it
        # the transport error a real dropped connection produces.
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    close()
    # Wait until the server has seen the disconnect, so it does not answer 500 itself.
    with anyio.move_on_after(5):
        for _ in range(100):
            message = await receive()
            if message["type"] == "http.disconnect":
                break


async def _lifespan(receive: Receive, send: Send) -> None:
    for _ in range(2):
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
