"""Redaction of secrets for reprs, log lines and exception text."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "SENSITIVE_KEYS",
    "SecretRegistry",
    "install_httpx_log_filter",
    "mask_last4",
    "redact_json",
    "redact_mapping",
    "redact_text",
    "redact_url",
    "redacted_repr",
    "redacted_request",
    "scrub_request",
]

REDACTED = "<redacted>"

#: Body, query and header keys whose values are never shown. Card numbers are shown
#: as their last four digits instead (see `mask_last4`).
SENSITIVE_KEYS = frozenset(
    {
        "client_secret",
        "access_token",
        "refresh_token",
        "authorization",
        "verification_code",
        "security_answer",
        "code",  # driver's licence PDF417 payload (customers/driverslicense)
        "merchant_password",
        "password",
        "vcc_number",
        "vcc",
        "redirection_url",  # carries the access token in its path
    }
)
_CARD_KEYS = frozenset({"vcc_number", "vcc"})

# 13-19 digit runs look like card numbers; keep the last four.
_CARD_RUN = re.compile(r"(?<!\d)\d{9,15}(\d{4})(?!\d)")
# Bearer tokens in free text (e.g. an echoed header).
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
# ``key=value`` of a sensitive query parameter inside a URL in free text (a log line
# holding a URL: httpx logs every request's full URL, query included, at INFO).
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:" + "|".join(sorted(SENSITIVE_KEYS)) + r")=)([^&#;\s\"'<>]*)"
)


def mask_last4(value: object) -> str:
    """Show at most the last four characters of a card number: ``'************1234'``.

    >>> mask_last4("4111111111111111")
    '************1111'
    >>> mask_last4(None)
    'None'
    """
    if value is None:
        return "None"
    text = str(value)
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def redacted_repr(value: object) -> str:
    """attrs ``repr=`` helper for a secret field: says whether it is set, never what it is."""
    return "None" if value is None else REDACTED


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Copy ``data`` (recursively) with sensitive values replaced; cards keep their last four."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        lowered = key.lower()
        if lowered in _CARD_KEYS and value is not None:
            out[key] = mask_last4(value)
        elif lowered in SENSITIVE_KEYS:
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact_mapping(value)
        elif isinstance(value, list):
            out[key] = [redact_mapping(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


def _query_value(match: re.Match[str]) -> str:
    key = match.group(1)[1:-1].lower()
    value = match.group(2)
    if key in _CARD_KEYS:
        return match.group(1) + mask_last4(value)
    return match.group(1) + (REDACTED if value else "")


def redact_json(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Copy decoded JSON with secrets removed: sensitive keys (`redact_mapping`), the
    ``value`` of a field error whose ``param``/``field`` names a sensitive key, and secret
    values or card-like digit runs inside strings (`redact_text`)."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, list):
        return [redact_json(item, secrets) for item in value]
    if not isinstance(value, Mapping):
        return value
    named = value.get("param", value.get("field"))
    named_key = named.lower() if isinstance(named, str) else ""
    out: dict[str, Any] = {}
    for key, item in value.items():
        lowered = key.lower() if isinstance(key, str) else ""
        if lowered == "value" and named_key in SENSITIVE_KEYS and item is not None:
            lowered = named_key
        if lowered in _CARD_KEYS and item is not None:
            out[key] = mask_last4(item)
        elif lowered in SENSITIVE_KEYS and item is not None:
            out[key] = REDACTED
        else:
            out[key] = redact_json(item, secrets)
    return out


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secret values, bearer tokens, sensitive query values (``?vcc_number=``,
    ``&verification_code=``...) and card-number-like digit runs from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUERY_SECRET.sub(_query_value, text)
    return _CARD_RUN.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(1), text)


def redact_url(url: httpx.URL | str, secrets: Iterable[str] = ()) -> str:
    """A URL's text with sensitive query values redacted (cards keep their last four digits).

    >>> redact_url("https://h/p?vcc_number=4111111111111111&lang=en")
    'https://h/p?vcc_number=************1111&lang=en'
    """
    return redact_text(str(url), secrets)


def redacted_request(request: httpx.Request, secrets: Iterable[str] = ()) -> httpx.Request:
    """A copy of ``request`` that is safe to attach to an exception: method, the URL with
    sensitive query values redacted, headers with the credentials redacted, and no body
    (request bodies carry PINs, card numbers, answers and licence payloads)."""
    import httpx

    headers = [
        (key, f"Bearer {REDACTED}" if key.lower() == "authorization" else value)
        for key, value in request.headers.multi_items()
        if key.lower() not in ("content-length", "cookie")
    ]
    return httpx.Request(request.method, redact_url(request.url, secrets), headers=headers)


def scrub_request(carrier: httpx.Response | httpx.HTTPError, secrets: Iterable[str] = ()) -> None:
    """Swap the request a response or an httpx exception carries for `redacted_request`.

    The one scrub, applied where an exception is built: our exceptions keep the response
    (and chain the httpx error) for debugging, and the wire request they point at holds the
    bearer token, the query (``customers/lookup?vcc_number=``) and the body (PINs, card
    numbers, answers, the client secret of a token grant). The sent request is not changed.
    """
    try:
        request = carrier.request
    except RuntimeError:  # built without a request (tests, custom transports)
        return
    carrier.request = redacted_request(request, secrets)


class SecretRegistry:
    """The secret values one client family knows: the client secret and recent tokens.

    Exception text and log lines are passed through `redact` before they leave the library,
    so a server that echoes a token back in an error body cannot make us print it. Tokens are
    kept for the last ``keep`` grants only, so a long-running process does not grow it.
    """

    __slots__ = ("_keep", "_permanent", "_recent")

    def __init__(self, *, keep: int = 64) -> None:
        self._keep = keep
        self._permanent: set[str] = set()
        self._recent: dict[str, None] = {}

    def add_permanent(self, *values: str | None) -> None:
        for value in values:
            if value and len(value) >= 4:
                self._permanent.add(value)

    def add(self, *values: str | None) -> None:
        for value in values:
            if value and len(value) >= 4:
                self._recent.pop(value, None)
                self._recent[value] = None
        while len(self._recent) > self._keep:
            del self._recent[next(iter(self._recent))]

    @property
    def values(self) -> tuple[str, ...]:
        return (*self._permanent, *self._recent)

    def redact(self, text: str) -> str:
        return redact_text(text, self.values)

    def __repr__(self) -> str:
        return f"<SecretRegistry {len(self._permanent) + len(self._recent)} values>"


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record: its formatted message (then its ``args`` are
    dropped), its exception text and its stack text. Card numbers keep their last four
    digits; bearer tokens and sensitive query values (``vcc_number``, ``verification_code``,
    ``security_answer``, ``code``, ``client_secret``, tokens...) are replaced.

    The library never logs secrets itself. httpx, however, logs every request's full URL
    (query string included) on the ``httpx`` logger at INFO, and ``customers.lookup`` must
    send ``vcc_number`` in the query: flexiti_async therefore attaches one
    instance to the ``httpx`` logger when a client sends through httpx's public path (an
    injected ``http_client``; the client's own transport never logs URLs), and
    `install_httpx_log_filter` does it on request. Attach it to your own
    handlers as a second line of defence: ``handler.addFilter(RedactingFilter())`` (a
    handler filter also sees records propagated from child loggers such as
    ``httpcore.http11``, which a logger filter does not).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, not ours
            return True
        cleaned = redact_text(message)
        if cleaned != message:
            # Drop args too: their reprs (e.g. an httpx.URL) would show the raw values.
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # Formatters reuse exc_text when it is set: hand them the redacted traceback.
            record.exc_text = redact_text(
                "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            )
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def install_httpx_log_filter() -> RedactingFilter:
    """Attach a `RedactingFilter` to the ``httpx`` logger, once (idempotent).

    httpx logs ``HTTP Request: GET <full URL> "HTTP/1.1 200 OK"`` at INFO; the POS API
    takes ``vcc_number`` as a query parameter of ``customers/lookup``, so without this a
    full card number would reach any handler that shows INFO records of ``httpx``. Called
    when a FlexitiClient is given an ``http_client`` (only httpx's public send path logs
    URLs); call it yourself to cover other httpx clients. Returns the installed filter.
    """
    httpx_logger = logging.getLogger("httpx")
    for existing in httpx_logger.filters:
        if isinstance(existing, RedactingFilter):
            return existing
    installed = RedactingFilter()
    httpx_logger.addFilter(installed)
    return installed
