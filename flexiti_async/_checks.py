"""Argument checks shared by the client, resources, paging and fan-out helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from .errors import InvalidRequestError

__all__ = ["check_int", "drop_none"]

K = TypeVar("K")


def check_int(name: str, value: object, *, low: int = 1, allow_none: bool = False) -> Any:
    """``value`` if it is an int (not a bool) of at least ``low``; else InvalidRequestError.

    >>> check_int("limit", 4)
    4
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "None or an integer" if allow_none else "an integer"
        raise InvalidRequestError(f"{name} must be {kind} >= {low}, got {value!r}", field=name)
    return value


def drop_none(data: Mapping[K, Any]) -> dict[K, Any]:
    """A copy of ``data`` without its None values (optional fields Flexiti must not see).

    >>> drop_none({"a": 1, "b": None})
    {'a': 1}
    """
    return {key: value for key, value in data.items() if value is not None}
