"""Hooks for ``X | None`` (X not a scalar: a model, an enum), ``tuple[X, ...]`` and
``Mapping[K, V]``.

cattrs has its own, but they are private methods; these are registered on the converter
so the fast path can recognise them by identity. Each looks up its item hook on first
use, not when built, so a model may refer to one that is still being built.
"""

from __future__ import annotations

import collections.abc
import weakref
from collections.abc import Callable
from typing import Any, get_args, get_origin

import cattrs

from ._enums import is_union

__all__ = [
    "CONTAINERS",
    "is_homogeneous_tuple",
    "is_mapping",
    "is_optional",
    "mapping_hook",
    "optional_hook",
    "tuple_hook",
]

_NONE_TYPE = type(None)

#: Each hook built here -> ("optional", "tuple" or "mapping", the types of its values).
CONTAINERS: weakref.WeakKeyDictionary[Callable[[Any, Any], Any], tuple[str, tuple[Any, ...]]] = (
    weakref.WeakKeyDictionary()
)


def is_optional(tp: Any) -> bool:
    """``X | None`` with exactly one other member."""
    return is_union(tp) and len(get_args(tp)) == 2 and _NONE_TYPE in get_args(tp)


def is_homogeneous_tuple(tp: Any) -> bool:
    """``tuple[X, ...]`` with a concrete X."""
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] is not Any


def is_mapping(tp: Any) -> bool:
    """``Mapping[K, V]`` or ``dict[K, V]`` with both types given."""
    return get_origin(tp) in (dict, collections.abc.Mapping) and len(get_args(tp)) == 2


def optional_hook(tp: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """None stays None; anything else is structured as the other member."""
    first, second = get_args(tp)
    inner = first if second is _NONE_TYPE else second
    hook: Callable[[Any, Any], Any] | None = None

    def structure_optional(value: Any, _: Any) -> Any:
        nonlocal hook
        if value is None:
            return None
        if hook is None:
            hook = conv.get_structure_hook(inner)
        return hook(value, inner)

    CONTAINERS[structure_optional] = ("optional", (inner,))
    return structure_optional


def tuple_hook(tp: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Any iterable -> a tuple of structured items (one item hook, bound once)."""
    item = get_args(tp)[0]
    hook: Callable[[Any, Any], Any] | None = None

    def structure_tuple(value: Any, _: Any) -> Any:
        nonlocal hook
        if hook is None:
            hook = conv.get_structure_hook(item)
        return tuple([hook(element, item) for element in value])

    CONTAINERS[structure_tuple] = ("tuple", (item,))
    return structure_tuple


def mapping_hook(tp: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """A mapping -> a dict of structured keys and values."""
    key_type, value_type = get_args(tp)
    hooks: tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]] | None = None

    def structure_mapping(value: Any, _: Any) -> Any:
        nonlocal hooks
        if hooks is None:
            hooks = conv.get_structure_hook(key_type), conv.get_structure_hook(value_type)
        key_hook, value_hook = hooks
        return {key_hook(k, key_type): value_hook(v, value_type) for k, v in value.items()}

    CONTAINERS[structure_mapping] = ("mapping", (key_type, value_type))
    return structure_mapping
