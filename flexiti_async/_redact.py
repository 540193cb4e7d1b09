"""Redaction of secrets for reprs, log lines and exception text."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "SENSITIVE_KEYS",
    "SecretRegistry",
    "mask_last4",
    "redact_mapping",
    "redact_text",
    "redacted_repr",
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


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secret values, bearer tokens and card-number-like digit runs from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _CARD_RUN.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(1), text)


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
    """A logging filter that redacts a record's formatted message.

    The library never logs secrets itself; this filter is a second line of defence users
    can attach to their own handlers: ``handler.addFilter(RedactingFilter())``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
