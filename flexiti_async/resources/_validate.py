"""Argument checks run before any I/O. Each raises `InvalidRequestError` naming the field,
and never echoes a secret value (card numbers, PINs, answers) in its message."""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import InvalidRequestError

__all__ = [
    "check_account_number",
    "check_amount",
    "check_customer_id",
    "check_date",
    "check_id",
    "check_lang",
    "check_text",
    "check_vcc_number",
    "exactly_one",
    "normalise_postal_code",
]

_CENT = Decimal("0.01")
#: number(18,2): at most 16 digits before the point.
_MAX_AMOUNT = Decimal("9999999999999999.99")
_POSTAL = re.compile(r"^[A-Za-z]\d[A-Za-z]\d[A-Za-z]\d$")


def exactly_one(**candidates: Any) -> tuple[str, Any]:
    """The one argument that is not None; error if none or several are given."""
    given = [(name, value) for name, value in candidates.items() if value is not None]
    if len(given) != 1:
        names = ", ".join(candidates)
        raise InvalidRequestError(
            f"give exactly one of {names} (got {len(given)})", field=next(iter(candidates))
        )
    return given[0]


def check_account_number(value: Any, field: str = "account_number") -> int:
    """A Flexiti account number: a positive integer of at most 14 digits (int or digit string)."""
    if isinstance(value, bool):
        raise InvalidRequestError(f"{field} must be an integer", field=field)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0 or value >= 10**14:
        raise InvalidRequestError(f"{field} must be a positive number of 1-14 digits", field=field)
    return value


def check_id(value: Any, field: str, *, digits: int = 18) -> int:
    """A numeric id from Flexiti (authorization, capture, plan): a positive integer."""
    if isinstance(value, bool):
        raise InvalidRequestError(f"{field} must be an integer", field=field)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0 or value >= 10**digits:
        raise InvalidRequestError(f"{field} must be a positive integer", field=field)
    return value


def check_vcc_number(value: Any, field: str = "vcc_number") -> str:
    """A FlexitiCard number: 16 digits. The message never repeats the value."""
    text = str(value).replace(" ", "").replace("-", "") if isinstance(value, (str, int)) else ""
    if isinstance(value, bool) or len(text) != 16 or not text.isdigit():
        raise InvalidRequestError(f"{field} must be 16 digits", field=field)
    return text


def check_customer_id(value: Any, field: str = "customer_id") -> str:
    """A customer id: digits, or ``master-authorizedUser`` for business users; <= 20 chars."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidRequestError(f"{field} must be a string or integer", field=field)
    text = str(value).strip()
    if not text or len(text) > 20 or not text.isascii():
        raise InvalidRequestError(f"{field} must be 1-20 ASCII characters", field=field)
    return text


def check_amount(value: Any, field: str = "amount", *, allow_zero: bool = False) -> Decimal:
    """Money: a `Decimal` (or an int or numeric string), positive, at most two decimals,
    within number(18,2). Floats are refused: ``0.1 + 0.2`` is not money."""
    if isinstance(value, (bool, float)):
        raise InvalidRequestError(
            f"{field} must be a Decimal (e.g. Decimal('12.34')), not {type(value).__name__}",
            field=field,
        )
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidRequestError(f"{field} is not a number", field=field) from None
    if not amount.is_finite():
        raise InvalidRequestError(f"{field} must be finite", field=field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidRequestError(f"{field} must be positive", field=field)
    if amount != amount.quantize(_CENT):
        raise InvalidRequestError(f"{field} has more than two decimals", field=field)
    if amount > _MAX_AMOUNT:
        raise InvalidRequestError(f"{field} is larger than number(18,2) allows", field=field)
    return amount.quantize(_CENT)


def check_text(
    value: Any, field: str, *, max_length: int, required: bool = False, ascii_only: bool = True
) -> str | None:
    """A string field with Flexiti's documented maximum length."""
    if value is None:
        if required:
            raise InvalidRequestError(f"{field} is required", field=field)
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a string", field=field)
    if required and not value.strip():
        raise InvalidRequestError(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise InvalidRequestError(f"{field} is longer than {max_length} characters", field=field)
    if ascii_only and not value.isascii():
        raise InvalidRequestError(f"{field} must be ASCII", field=field)
    return value


def check_lang(value: Any) -> str:
    """``en`` or ``fr``."""
    if value not in ("en", "fr"):
        raise InvalidRequestError("lang must be 'en' or 'fr'", field="lang")
    return str(value)


def check_date(value: Any, field: str) -> _dt.date:
    """A `datetime.date` (a datetime is refused: say which day you mean) or 'YYYY-MM-DD'."""
    if isinstance(value, _dt.datetime):
        raise InvalidRequestError(f"{field} must be a date, not a datetime", field=field)
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidRequestError(f"{field} must be a date or 'YYYY-MM-DD'", field=field)


def normalise_postal_code(value: Any, field: str = "postal_code") -> str:
    """A Canadian postal code as Flexiti wants it: ``'a1a 1a1'`` -> ``'A1A1A1'``."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a string", field=field)
    text = value.replace(" ", "").replace("-", "").upper()
    if not _POSTAL.match(text):
        raise InvalidRequestError(f"{field} must look like A1A1A1", field=field)
    return text
