"""Scalar structure hooks: the coercions Flexiti's loose wire types need.

Flexiti renders ids and amounts both as numbers and as strings, booleans as text, and
sends ``""`` for absent optional values. Error messages never include the offending
value: it may be a secret.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, get_args

from ._enums import is_enum, is_union, structure_enum_value

__all__ = [
    "OPTIONAL_HOOKS",
    "SCALARS",
    "format_date",
    "format_datetime",
    "optional_scalar",
    "optional_scalar_hook",
    "parse_datetime",
    "structure_int",
    "structure_optional_str",
    "structure_str",
]

_UTC = timezone.utc
_NONE_TYPE = type(None)


def _decimal_from_text(text: str) -> Decimal:
    try:
        result = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError("expected a decimal number") from None
    if not result.is_finite():
        raise ValueError("expected a finite decimal number")
    return result


def _structure_decimal(value: Any, _: Any) -> Decimal:
    """Money and rates: exact from int, str or Decimal; never from float."""
    kind = type(value)  # exact types first: they are the hot path
    result: Decimal
    if kind is str:
        return _decimal_from_text(value)
    if kind is Decimal:
        result = value
    elif kind is int:
        return Decimal(value)  # exact, like Decimal(str(value))
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise TypeError("expected a decimal number, got a boolean")
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, str):
        return _decimal_from_text(value)
    elif isinstance(value, float):
        # A float here means the JSON was decoded without parse_float=Decimal, so the
        # amount may already be off by a binary rounding error: refuse it loudly.
        raise TypeError("expected a decimal number, got a float (decode JSON with loads())")
    else:
        raise TypeError("expected a decimal number")
    if not result.is_finite():
        raise ValueError("expected a finite decimal number")
    return result


def structure_int(value: Any, tp: Any) -> Any:
    """Ids and counts: Flexiti renders ids both as numbers and as digit strings."""
    if tp is not int and is_enum(tp):  # an IntEnum, dispatched here as an int subclass
        return structure_enum_value(value, tp)
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
        try:  # "100000.0"
            value = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("expected an integer") from None
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        raise ValueError("expected an integer")
    raise TypeError("expected an integer")


def structure_str(value: Any, tp: Any) -> Any:
    """Text and string ids: numbers (e.g. a numeric ``customer_id``) become their digits."""
    if tp is not str:
        # cattrs dispatches str subclasses here too, str-valued enums included.
        return structure_enum_value(value, tp)
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a str enum member: its value, not "Class.MEMBER"
    if isinstance(value, bool):
        raise TypeError("expected a string, got a boolean")
    if isinstance(value, (int, Decimal)):
        return str(value)
    raise TypeError("expected a string")


_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def _structure_bool(value: Any, _: Any) -> bool:
    """Booleans, also written as ``"true"``/``"false"`` (any case) or 0/1."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    elif isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("expected a boolean")


# Hand-written rather than date/datetime.fromisoformat: Python 3.10 rejects "Z",
# offsets without a colon and fractions that are not 3 or 6 digits long.
_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


# The usual shapes, ASCII digits and in-range times only (so both parsers agree on them):
# ``2024-05-17T12:34:56Z``, with ``.123`` or ``.123456``, or an offset ``+05:30``.
_ISO_8601_COMMON = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{3}|\.[0-9]{6})?(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_ISO_DATE_COMMON = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FROMISOFORMAT_Z = sys.version_info >= (3, 11)  # Python 3.10 reads no "Z"


def parse_datetime(text: str) -> datetime:
    """ISO 8601 -> aware UTC datetime (naive means UTC, a bare date means midnight UTC)."""
    common = _ISO_8601_COMMON.fullmatch(text)
    if common is not None:
        # The C parser, for what it reads exactly as `_parse_datetime_general` does.
        try:
            result = datetime.fromisoformat(
                text if _FROMISOFORMAT_Z or common[1] != "Z" else text[:-1] + "+00:00"
            )
        except ValueError:
            pass  # a day out of range: the general parser says so
        else:
            return result if result.tzinfo is _UTC else result.astimezone(_UTC)
    return _parse_datetime_general(text)


def _parse_datetime_general(text: str) -> datetime:
    """`parse_datetime` for every accepted form, with its error messages."""
    match = _ISO_8601.fullmatch(text.strip())
    if match is None:
        raise ValueError("expected an ISO 8601 date-time")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        tzinfo = _UTC
        if offset and offset not in ("Z", "z"):
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
            tzinfo = timezone(-delta if offset[0] == "-" else delta)
        result = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo,
        )
    except ValueError:
        raise ValueError("expected an ISO 8601 date-time (a part is out of range)") from None
    return result if tzinfo is _UTC else result.astimezone(_UTC)


def _structure_datetime(value: Any, _: Any) -> datetime:
    """ISO 8601 text (or a datetime/date) -> aware UTC datetime."""
    if type(value) is str:
        return parse_datetime(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=_UTC)
    if isinstance(value, str):
        return parse_datetime(value)
    raise TypeError("expected an ISO 8601 date-time string")


def _structure_date(value: Any, _: Any) -> date:
    """``YYYY-MM-DD``; a full ISO date-time also works and its date (as written) is kept."""
    if type(value) is str:
        return _parse_date(value)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return _parse_date(value)
    raise TypeError("expected a YYYY-MM-DD date string")


def _parse_date(text: str) -> date:
    if _ISO_DATE_COMMON.fullmatch(text):
        try:
            return date.fromisoformat(text)  # the C parser, for the usual shape
        except ValueError:
            pass  # out of range: the general parser says so
    return _parse_date_general(text)


def _parse_date_general(text: str) -> date:
    """`_parse_date` for every accepted form, with its error messages."""
    match = _ISO_8601.fullmatch(text.strip())
    if match is None:
        raise ValueError("expected a YYYY-MM-DD date")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ValueError("expected a YYYY-MM-DD date (a part is out of range)") from None


def format_datetime(value: datetime) -> str:
    """Aware UTC ISO 8601 with a ``Z`` suffix (naive values are taken as UTC)."""
    value = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    return value.isoformat().replace("+00:00", "Z")


def format_date(value: date) -> str:
    """``YYYY-MM-DD``."""
    return value.isoformat()


# Structured the same way, and an empty string on the wire means "no value" for them
# (Flexiti sends "" for absent optional values, e.g. "address_2": "").
SCALARS: dict[Any, Callable[[Any, Any], Any]] = {
    Decimal: _structure_decimal,
    int: structure_int,
    bool: _structure_bool,
    datetime: _structure_datetime,
    date: _structure_date,
}


def optional_scalar(tp: Any) -> Any:
    """The scalar type of ``Scalar | None`` unions handled by `optional_scalar_hook`."""
    if not is_union(tp):
        return None
    args = get_args(tp)
    if len(args) != 2 or _NONE_TYPE not in args:
        return None
    inner = args[0] if args[1] is _NONE_TYPE else args[1]
    return inner if inner in SCALARS or inner is str else None


def structure_optional_str(value: Any, _: Any) -> str | None:
    """``str | None``: an empty string stays an empty string (``"address_2": ""``)."""
    return None if value is None else structure_str(value, str)


def _structure_optional_int(value: Any, _: Any) -> int | None:
    """``int | None``; ``""`` means None."""
    if type(value) is int:
        return value
    if value is None or (type(value) is str and not value.strip()):
        return None
    result: int = structure_int(value, int)
    return result


def _structure_optional_decimal(value: Any, _: Any) -> Decimal | None:
    """``Decimal | None``; ``""`` means None."""
    if type(value) is str:
        return _decimal_from_text(value) if value.strip() else None
    if value is None:
        return None
    return _structure_decimal(value, Decimal)


def _optional_of(hook: Callable[[Any, Any], Any], inner: Any) -> Callable[[Any, Any], Any]:
    def structure_optional(value: Any, _: Any) -> Any:
        if value is None or (type(value) is str and not value.strip()):
            return None
        return hook(value, inner)

    return structure_optional


#: ``Scalar | None`` hooks, one per scalar (the fast paths recognise them by identity).
OPTIONAL_HOOKS: dict[Any, Callable[[Any, Any], Any]] = {
    **{inner: _optional_of(hook, inner) for inner, hook in SCALARS.items()},
    int: _structure_optional_int,
    Decimal: _structure_optional_decimal,
    str: structure_optional_str,
}


def optional_scalar_hook(tp: Any) -> Callable[[Any, Any], Any]:
    """``Scalar | None`` in one step (cattrs' generic Optional hook dispatches per call)."""
    return OPTIONAL_HOOKS[optional_scalar(tp)]
