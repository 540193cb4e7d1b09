"""OAuth token grants and bearer-token checks, as the POS API performs them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import parse_qsl

from ._context import Call, Env
from ._errors import ApiError, FieldError, InputError
from ._state import Token

__all__ = [
    "CUSTOMER_ROUTES",
    "authenticate",
    "expire_all",
    "grant_token",
    "revoke_all",
]

#: Routes a ``customer``-scope token may call (API reference §3.2); every other route
#: needs ``merchant`` scope.
CUSTOMER_ROUTES = frozenset(
    {
        "i18n",
        "terms",
        "drivers_license",
        "widget_init",
        "apply",
        "close",
        "calculate_interest",
        "verify",
        "authorize",
    }
)
_SCOPES = ("merchant", "customer")
_FORM_FIELDS = ("client_id", "client_secret", "grant_type", "refresh_token", "scope")


def _oauth(status: int, error: str, description: str) -> ApiError:
    return ApiError(status, error, description)


def grant_token(env: Env, call: Call, raw_body: bytes) -> dict[str, object]:
    """Handle ``POST /oauth/token`` (form-encoded ``client_credentials`` / ``refresh_token``)."""
    if any(name in call.query for name in _FORM_FIELDS):
        raise _oauth(400, "invalid_request", "parameters must be sent in the request body")
    content_type = call.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _oauth(
            400, "invalid_request", "content type must be application/x-www-form-urlencoded"
        )
    try:
        form = dict(parse_qsl(raw_body.decode("ascii"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise _oauth(400, "invalid_request", "malformed form body")
    world = env.world
    merchant = world.merchants.get(form.get("client_id", ""))
    if merchant is None or form.get("client_secret") != merchant.client_secret:
        raise _oauth(400, "invalid_client", "Bad client credentials")
    grant_type = form.get("grant_type") or "client_credentials"
    scope = form.get("scope") or "merchant"
    if scope not in _SCOPES:
        raise InputError(FieldError("scope", "invalid", scope))
    now = env.clock.now()
    if grant_type == "refresh_token":
        presented = form.get("refresh_token")
        if not presented:
            raise _oauth(400, "invalid_request", "refresh_token is required")
        previous = world.refresh_tokens.get(presented)
        if previous is None or previous.client_id != merchant.client_id or previous.refreshed:
            raise _oauth(400, "invalid_grant", "Invalid refresh token")
        if previous.revoked or now >= previous.expires_at:
            raise _oauth(400, "invalid_grant", "Access token expired: request a new token")
        previous.refreshed = True
        del world.refresh_tokens[presented]
        scope = previous.scope
    elif grant_type != "client_credentials":
        raise _oauth(400, "invalid_request", "Unsupported grant type")
    token = Token(
        access_token=f"{env.rng.getrandbits(160):040x}",
        refresh_token=f"{env.rng.getrandbits(160):040x}",
        client_id=merchant.client_id,
        scope=scope,
        issued_at=now,
        expires_at=now + timedelta(seconds=env.options.expires_in),
        grant_type=grant_type,
    )
    world.tokens[token.access_token] = token
    world.refresh_tokens[token.refresh_token] = token
    env.stats.grant(grant_type)
    return {
        "token_type": "bearer",
        "access_token": token.access_token,
        "expires_in": env.options.expires_in,
        "refresh_token": token.refresh_token,
        "scope": token.scope,
    }


def authenticate(env: Env, headers: Mapping[str, str], client_id: str, route: str) -> Token:
    """Check the bearer token of an API call: known, live, same client, enough scope."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "invalid_token", "Full authentication is required")
    token = env.world.tokens.get(value.strip())
    if token is None:
        raise ApiError(401, "invalid_token", "Invalid access token")
    if token.revoked:
        raise ApiError(401, "invalid_token", "Access token revoked")
    if env.clock.now() >= token.expires_at:
        raise ApiError(401, "invalid_token", "Access token expired")
    if token.client_id != client_id:
        raise ApiError(401, "invalid_token", "Access token was issued to another client")
    if token.scope != "merchant" and route not in CUSTOMER_ROUTES:
        raise ApiError(
            403, "insufficient_scope", "Insufficient scope: authorized scope is insufficient"
        )
    return token


def revoke_all(env: Env) -> int:
    """Revoke every issued token (access and refresh). Returns how many were live."""
    live = 0
    for token in env.world.tokens.values():
        live += not token.revoked
        token.revoked = True
    return live


def expire_all(env: Env) -> int:
    """Expire every issued access token now. Returns how many were live."""
    now = env.clock.now()
    live = 0
    for token in env.world.tokens.values():
        if token.expires_at > now:
            live += 1
            token.expires_at = now
    return live
