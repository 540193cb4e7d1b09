"""Input checks shared by the sandbox rules; failures raise ``InputError`` (409 wrong_inputs)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .._redact import REDACTED, SENSITIVE_KEYS
from ._errors import FieldError, InputError

__all__ = [
    "account_number",
    "bad",
    "boolean",
    "check_account_number",
    "day",
    "integer",
    "money",
    "optional_integer",
    "optional_money",
    "optional_string",
    "string",
]

_MAX_MONEY = Decimal("9999999999999999.99")


def _shown(param: str, value: object) -> str:
    # Field errors echo the bad value, except for secrets and card numbers.
    if param in SENSITIVE_KEYS:
        return REDACTED
    return "" if value is None else str(value)


def bad(param: str, msg: str, value: object = None) -> InputError:
    """A one-field ``wrong_inputs`` error."""
    return InputError(FieldError(param, msg, _shown(param, value)))


def optional_money(source: Mapping[str, Any], param: str) -> Decimal | None:
    """A positive amount with at most two decimals, given as a JSON number or string."""
    value = source.get(param)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise bad(param, "invalid", value)
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise bad(param, "invalid", value)
    if not amount.is_finite() or amount <= 0 or amount > _MAX_MONEY:
        raise bad(param, "invalid", value)
    if amount != amount.quantize(Decimal("0.01")):
        raise bad(param, "too_many_decimals", value)
    return amount.quantize(Decimal("0.01"))


def money(source: Mapping[str, Any], param: str) -> Decimal:
    """A required amount (see ``optional_money``)."""
    amount = optional_money(source, param)
    if amount is None:
        raise bad(param, "required")
    return amount


_MAX_ACCOUNT = 10**14  # number (14)


def check_account_number(param: str, value: int) -> int:
    """An account number is documented as number (14): 1 to 14 digits."""
    if not 0 < value < _MAX_ACCOUNT:
        raise bad(param, "invalid", value)
    return value


def account_number(source: Mapping[str, Any], param: str = "account_number") -> int | None:
    """An optional account number (see ``check_account_number``)."""
    value = optional_integer(source, param)
    return None if value is None else check_account_number(param, value)


def optional_integer(source: Mapping[str, Any], param: str) -> int | None:
    """An integer given as a JSON number or a string of digits."""
    value = source.get(param)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad(param, "invalid", value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    raise bad(param, "invalid", value)


def integer(source: Mapping[str, Any], param: str) -> int:
    """A required integer (see ``optional_integer``)."""
    value = optional_integer(source, param)
    if value is None:
        raise bad(param, "required")
    return value


def optional_string(source: Mapping[str, Any], param: str, max_length: int = 250) -> str | None:
    """A string (numbers are accepted and turned into their digits)."""
    value = source.get(param)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad(param, "invalid", value)
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or len(value) > max_length:
        raise bad(param, "invalid", value)
    return value


def string(source: Mapping[str, Any], param: str, max_length: int = 250) -> str:
    """A required string (see ``optional_string``)."""
    value = optional_string(source, param, max_length)
    if value is None:
        raise bad(param, "required")
    return value


def boolean(source: Mapping[str, Any], param: str, default: bool | None = None) -> bool:
    """A JSON boolean (``"true"``/``"false"`` strings are accepted too)."""
    value = source.get(param)
    if value is None:
        if default is None:
            raise bad(param, "required")
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise bad(param, "invalid", value)


def day(source: Mapping[str, Any], param: str) -> date | None:
    """An optional ``YYYY-MM-DD`` date."""
    value = source.get(param)
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise bad(param, "invalid", value)
