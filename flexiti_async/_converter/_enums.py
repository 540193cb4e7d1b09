"""Enum hooks. Response fields are typed ``SomeEnum | str`` (optionally ``| None``): a
known code becomes the member, an unknown one stays a plain str, so a code Flexiti adds
later does not fail a whole response."""

from __future__ import annotations

import types
from collections.abc import Callable
from enum import Enum
from typing import Any, Union, get_args, get_origin

__all__ = [
    "is_enum",
    "TOLERANT_HOOKS",
    "is_union",
    "structure_enum_value",
    "tolerant_enum_hook",
    "tolerant_enum_parts",
    "unstructure_code",
]

_NONE_TYPE = type(None)


def is_union(tp: Any) -> bool:
    """``X | Y`` or ``Union[X, Y]`` (``Optional`` included)."""
    return get_origin(tp) in (Union, types.UnionType)


def tolerant_enum_parts(tp: Any) -> tuple[type[Enum], bool] | None:
    """``(EnumClass, accepts_none)`` for ``Enum | str [| None]`` unions, else None."""
    if not is_union(tp):
        return None
    enums = [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, Enum)]
    rest = {a for a in get_args(tp) if a not in enums}
    if len(enums) != 1 or str not in rest or not rest <= {str, _NONE_TYPE}:
        return None
    return enums[0], _NONE_TYPE in rest


#: ``Enum | str [| None]`` type -> (its hook, value -> member, accepts None).
TOLERANT_HOOKS: dict[Any, tuple[Callable[[Any, Any], Any], dict[Any, Any], bool]] = {}


def tolerant_enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    known = TOLERANT_HOOKS.get(tp)
    if known is not None:
        return known[0]
    parts = tolerant_enum_parts(tp)
    assert parts is not None
    enum_cls, accepts_none = parts
    members: dict[Any, Any] = {member.value: member for member in enum_cls}

    def structure_code(value: Any, _: Any) -> Any:
        if type(value) is str:
            return members.get(value, value)
        if isinstance(value, enum_cls):
            return value
        if isinstance(value, str):
            text = str.__str__(value)
            return members.get(text, text)
        if value is None and accepts_none:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
            return members.get(text, text)
        raise TypeError(f"expected a {enum_cls.__name__} code (a string)")

    TOLERANT_HOOKS[tp] = (structure_code, members, accepts_none)
    return structure_code


def unstructure_code(value: Any) -> Any:
    """``Enum | str`` fields: a member becomes its value, a kept unknown code stays as is."""
    return value.value if isinstance(value, Enum) else value


def is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Enum)


def structure_enum_value(value: Any, enum_cls: Any) -> Any:
    """Plain (non-tolerant) enum types: like cattrs' hook, minus the value in errors."""
    try:
        return enum_cls(value)
    except (ValueError, TypeError):
        raise ValueError(f"not a valid {enum_cls.__name__} code") from None
