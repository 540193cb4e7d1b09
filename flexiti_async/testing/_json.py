"""JSON in and out of the sandbox: money as ``Decimal``, never through a float."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

__all__ = ["Raw", "canonical", "dumps", "format_datetime", "loads", "quantize"]

_CENT = Decimal("0.01")


class Raw(str):
    """A pre-formatted JSON number emitted verbatim (rates such as ``0.2999``)."""

    __slots__ = ()


def quantize(amount: Decimal) -> Decimal:
    """Round an amount to cents (banker's rounding is never needed: inputs have 2 places)."""
    return amount.quantize(_CENT)


def format_datetime(value: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix and whole seconds: ``2022-01-01T00:00:00Z``."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def loads(body: bytes) -> Any:
    """Parse a request body; JSON floats become ``Decimal``."""
    return json.loads(body, parse_float=Decimal)


def dumps(value: object, *, amounts_as_strings: bool = False) -> bytes:
    """Serialize a response body.

    ``Decimal`` values are money and are written with exactly two decimals, as a JSON
    number (``100.00``) or, with ``amounts_as_strings``, as a string (``"100.00"``).

    >>> dumps({"amount": Decimal("5")})
    b'{"amount":5.00}'
    """
    parts: list[str] = []
    _emit(value, parts, amounts_as_strings)
    return "".join(parts).encode()


def canonical(value: object) -> bytes:
    """Canonical JSON of a decoded request body: keys sorted, compact, UTF-8.

    Numbers read as ``Decimal`` keep at least two decimals (``100.00``), as the client
    writes them; it is what ``x-context-hash`` is computed over.
    """
    out: list[str] = []
    _canonical(value, out)
    return "".join(out).encode()


def _canonical(value: object, out: list[str]) -> None:
    if value is None or isinstance(value, (bool, int, str)):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        out.append(str(value if isinstance(exponent, int) and exponent <= -2 else quantize(value)))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, key in enumerate(sorted(value, key=str)):
            out.append("," if index else "")
            out.append(json.dumps(str(key), ensure_ascii=False) + ":")
            _canonical(value[key], out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            out.append("," if index else "")
            _canonical(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot serialize {type(value).__name__}")


def _emit(value: object, out: list[str], as_strings: bool) -> None:
    # Order matters: bool is an int, Raw is a str.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Raw):
        out.append(str.__str__(value))
    elif isinstance(value, str):
        out.append(json.dumps(value))
    elif isinstance(value, Decimal):
        text = f"{quantize(value):.2f}"
        out.append(f'"{text}"' if as_strings else text)
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, datetime):
        out.append(f'"{format_datetime(value)}"')
    elif isinstance(value, date):
        out.append(f'"{value.isoformat()}"')
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(json.dumps(str(key)))
            out.append(":")
            _emit(item, out, as_strings)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _emit(item, out, as_strings)
        out.append("]")
    else:
        raise TypeError(f"cannot serialize {type(value).__name__}")
