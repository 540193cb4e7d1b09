"""JSON text: canonical request bodies (`dumps`) and Decimal-exact decoding (`loads`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs

from ._configured import unstructure
from ._scalars import format_datetime

__all__ = ["dumps", "loads"]

# The C escaper json.dumps uses with ensure_ascii=False.
_encode_str: Callable[[str], str] = json.encoder.encode_basestring


def _format_decimal(value: Decimal) -> str:
    """A JSON number with at least two decimals and no trailing zeros beyond them.

    ``100`` -> ``100.00``, ``10.5`` -> ``10.50``, ``0.2999`` -> ``0.2999``,
    ``1.000`` -> ``1.00``: equal amounts always give the same text (hash stability).
    """
    if not value.is_finite():
        raise ValueError("NaN and Infinity cannot be written as JSON numbers")
    if not value:
        return "0.00"  # also -0 and 0E-5
    text = str(value)
    if "E" in text:
        text = format(value, "f")  # plain notation, never rounded
    head, _, fraction = text.partition(".")
    if len(fraction) == 2:
        return text
    if len(fraction) > 2:
        fraction = fraction.rstrip("0")
    return head + "." + fraction.ljust(2, "0")


def _key_text(key: Any) -> str:
    if isinstance(key, Enum) and isinstance(key.value, str):
        return key.value
    if isinstance(key, str):
        return str.__str__(key)
    raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")


def _first(item: tuple[str, Any]) -> str:
    return item[0]


def _encode_object(mapping: Mapping[Any, Any]) -> str:
    items = [(k if type(k) is str else _key_text(k), v) for k, v in mapping.items()]
    items.sort(key=_first)
    return "{" + ",".join([_encode_str(k) + ":" + _encode(v) for k, v in items]) + "}"


def _encode_array(values: Sequence[Any]) -> str:
    return "[" + ",".join([_encode(v) for v in values]) + "]"


def _encode(value: Any) -> str:
    # Exact-type checks first: they are the hot path (bool is not `int` here).
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is dict:
        return _encode_object(value)
    if kind is Decimal:
        return _format_decimal(value)
    if kind is int:
        return int.__repr__(value)
    if kind is list or kind is tuple:
        return _encode_array(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _encode_other(value)


def _encode_other(value: Any) -> str:
    if isinstance(value, Enum):
        return _encode(value.value)
    if isinstance(value, str):
        return _encode_str(str.__str__(value))
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, Decimal):
        return _format_decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and Infinity cannot be written as JSON numbers")
        raise TypeError("float is not accepted (money must be exact): use decimal.Decimal")
    if isinstance(value, datetime):
        return _encode_str(format_datetime(value))
    if isinstance(value, date):
        return _encode_str(value.isoformat())
    if isinstance(value, Mapping):
        return _encode_object(value)
    if attrs.has(type(value)):
        return _encode(unstructure(value))
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return _encode_array(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    """Canonical compact JSON as UTF-8 bytes (request bodies and ``x-context-hash``).

    Keys sorted, separators ``,`` and ``:``, non-ASCII written as is; Decimal as a JSON
    number with at least two decimals (never via float); enums as values; dates as
    ``YYYY-MM-DD``; attrs models via `unstructure`. Equal inputs give identical bytes.
    Raises ValueError for NaN/Infinity and TypeError for floats and unknown types.
    """
    return _encode(obj).encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", "", 0)


# One decoder, reused: json.loads() with keyword arguments builds a new one per call.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
# What json.decoder skips after the value (JSON's four blanks only).
_JSON_BLANKS = re.compile(r"[ \t\n\r]*")
# First bytes of the UTF-16/32 byte order marks and zero bytes: json.detect_encoding reads
# UTF-8 whenever the first byte is none of these and the second is not zero.
_NOT_PLAIN_UTF8 = frozenset({0x00, 0xEF, 0xFE, 0xFF})


def loads(data: bytes | str) -> Any:
    """Decode JSON with every non-integer number as Decimal, so money never is a float.

    Raises `json.JSONDecodeError` (a ValueError) for malformed input, including the
    non-standard ``NaN``/``Infinity`` literals that `json` would otherwise accept.
    """
    if type(data) is bytes and len(data) > 1 and data[1] and data[0] not in _NOT_PLAIN_UTF8:
        data = data.decode("utf-8", "surrogatepass")  # json.detect_encoding's answer
    elif isinstance(data, (bytes, bytearray)):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    if type(data) is str:
        # raw_decode for the usual body (one value, nothing before it); `decode` for the
        # rest, which also gives its error messages: cheaper than `decode` alone.
        try:
            obj, end = _DECODER.raw_decode(data)
        except json.JSONDecodeError:
            pass
        else:
            if end == len(data) or _JSON_BLANKS.fullmatch(data, end):
                return obj
    return _DECODER.decode(data)  # also raises "Extra data" where the value ends early
