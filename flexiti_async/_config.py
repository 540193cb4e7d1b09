"""Client configuration: the base URL rule, timeouts and argument checks."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from ._checks import check_int
from .errors import InvalidRequestError

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "TOKEN_LANES",
    "VERSIONS",
    "NotGiven",
    "Transport",
    "check_api_path",
    "check_concurrency",
    "check_credentials",
    "check_lang",
    "check_retries",
    "check_scope",
    "check_transport",
    "clean_params",
    "is_loopback",
    "normalise_base_url",
    "resolve_timeout",
]

#: Requests admitted to the connection pool at once when ``max_concurrency`` is not given.
DEFAULT_MAX_CONCURRENCY = 32
#: Per-attempt timeout (connect, read, write) when none is given.
DEFAULT_TIMEOUT = 30.0
# Connections reserved beyond max_concurrency for token grants (one per scope), which bypass
# the admission limiter so a refresh is never stuck behind the callers waiting for it.
TOKEN_LANES = 2
VERSIONS = ("2.5", "2.5.1")
_SCOPES = ("merchant", "customer")
_LANGS = ("en", "fr")

Transport = Literal["httpx", "aiohttp"]


class NotGiven:
    """The type of `NOT_GIVEN`: "keep the current value" in `FlexitiClient.with_options`."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (where plain http is allowed)."""
    host = host.strip("[]").lower()
    if host == "localhost":  # not *.localhost: a resolver may send that anywhere
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(base_url: str) -> str:
    """Check the HTTPS-unless-loopback rule and strip a trailing version segment."""
    url = httpx.URL(base_url.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequestError(f"base_url must be an http(s) URL, got {base_url!r}")
    if url.scheme == "http" and not is_loopback(url.host):
        raise InvalidRequestError(
            "base_url must use https (plain http is allowed only for loopback hosts, "
            "e.g. the sandbox on 127.0.0.1)",
            field="base_url",
        )
    text = str(url.copy_with(query=None, fragment=None)).rstrip("/")
    for version in VERSIONS:
        if text.endswith("/v" + version):
            text = text[: -len(version) - 2]
    return text


def resolve_timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    """An `httpx.Timeout` from seconds (or None: the default), or the one given."""
    if isinstance(value, httpx.Timeout):
        return value
    seconds = DEFAULT_TIMEOUT if value is None else float(value)
    # pool=None: waiting for admission is not bounded by the per-attempt timeout (see README).
    return httpx.Timeout(seconds, pool=None)


def check_credentials(client_id: object, client_secret: object) -> None:
    """Both present, strings, at most 100 characters (Flexiti's limit)."""
    if not isinstance(client_id, str) or not client_id.strip():
        raise InvalidRequestError("client_id is required", field="client_id")
    if not isinstance(client_secret, str) or not client_secret:
        raise InvalidRequestError("client_secret is required", field="client_secret")
    if len(client_id) > 100 or len(client_secret) > 100:
        raise InvalidRequestError("client_id and client_secret are at most 100 characters")


def check_concurrency(value: int | None) -> int:
    """``max_concurrency``: a positive integer, or None for the default."""
    if value is None:
        return DEFAULT_MAX_CONCURRENCY
    return int(check_int("max_concurrency", value, low=1))


def check_transport(value: object) -> Transport:
    """``"httpx"`` or ``"aiohttp"``."""
    if value == "httpx":
        return "httpx"
    if value == "aiohttp":
        return "aiohttp"
    raise InvalidRequestError("transport must be 'httpx' or 'aiohttp'", field="transport")


def check_scope(scope: str) -> str:
    """``"merchant"`` or ``"customer"``."""
    if scope not in _SCOPES:
        raise InvalidRequestError("scope must be 'merchant' or 'customer'", field="scope")
    return scope


def check_lang(lang: str | None) -> str | None:
    """``"en"``, ``"fr"`` or None."""
    if lang is not None and lang not in _LANGS:
        raise InvalidRequestError("lang must be 'en' or 'fr'", field="lang")
    return lang


def check_retries(value: int) -> int:
    """``max_retries``: an integer >= 0."""
    return int(check_int("max_retries", value, low=0))


def check_api_path(version: str, path: str) -> str:
    """The escape hatch's version and relative path; returns the path without a leading /."""
    if version not in VERSIONS:
        raise InvalidRequestError(f"version must be one of {VERSIONS}", field="version")
    path = path.lstrip("/")
    if not path or ".." in path.split("/"):
        raise InvalidRequestError("path must be a relative API path", field="path")
    return path


def clean_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
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
