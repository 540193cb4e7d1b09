"""The configured converter: model hooks (``raw`` kept, wire rules applied) and the
library's `converter`, `structure` and `unstructure`."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import BaseValidationError, ClassValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .._checks import drop_none
from ._containers import (
    is_homogeneous_tuple,
    is_mapping,
    is_optional,
    mapping_hook,
    optional_hook,
    tuple_hook,
)
from ._enums import (
    is_enum,
    structure_enum_value,
    tolerant_enum_hook,
    tolerant_enum_parts,
    unstructure_code,
)
from ._fastpath import GENERATING, fast_model_fn, has_raw
from ._renames import normalizer
from ._scalars import (
    SCALARS,
    format_date,
    format_datetime,
    optional_scalar,
    optional_scalar_hook,
    structure_str,
)

__all__ = ["configure_converter", "converter", "structure", "unstructure"]

T = TypeVar("T")


def _raw_omitted(keeps_raw: bool) -> dict[str, Any]:
    """cattrs overrides: ``raw`` is never read from or written to the wire."""
    return {"raw": override(omit=True)} if keeps_raw else {}


def _reference_model_fn(cls: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """The generic path: normalise the mapping, then cattrs' own structure function.

    It defines the behaviour (and gives detailed errors); the generated fast path must
    produce the same results, and hands every input it fails on to this one.
    """
    keeps_raw = has_raw(cls)
    base = make_dict_structure_fn(cls, conv, **_raw_omitted(keeps_raw))
    normalize = normalizer(cls)
    name = cls.__name__

    def structure_model(data: Any, _: Any) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a JSON object for {name}")
        obj = base(normalize(data), cls)
        if keeps_raw:
            # Set after __init__ so the original object is kept without a copy; ``raw``
            # takes no part in eq/hash, so this cannot change the instance's identity.
            proxy = (
                data if isinstance(data, types.MappingProxyType) else types.MappingProxyType(data)
            )
            object.__setattr__(obj, "raw", proxy)
        return obj

    return structure_model


def _structure_model_hook(
    cls: Any, conv: cattrs.Converter, *, fast: bool = True
) -> Callable[[Any, Any], Any]:
    """Structure an attrs model from a JSON object, keeping the object in ``raw``."""
    attrs.resolve_types(cls)
    generating = GENERATING.classes
    generating.add(cls)
    try:
        reference = _reference_model_fn(cls, conv)
        fast_fn = None
        if fast:
            # The library's own converter is built with cattrs' defaults.
            fast_fn = fast_model_fn(cls, conv, reference, hooks_first=conv is converter)
    finally:
        generating.discard(cls)
    return reference if fast_fn is None else fast_fn


def _unstructure_model_hook(cls: Any, conv: cattrs.Converter) -> Callable[[Any], Any]:
    """Unstructure an attrs model to a wire dict: field names, no None values, no ``raw``."""
    attrs.resolve_types(cls)
    base = make_dict_unstructure_fn(cls, conv, **_raw_omitted(has_raw(cls)))

    def unstructure_model(obj: Any) -> dict[str, Any]:
        return drop_none(base(obj))

    return unstructure_model


def configure_converter(conv: cattrs.Converter, *, fast_paths: bool = True) -> None:
    """Register every hook flexiti-async needs on ``conv`` (a `cattrs.Converter`).

    ``fast_paths=False`` keeps models on cattrs' generic structure functions (the
    reference the generated fast path is tested against).
    """
    for scalar, hook in SCALARS.items():
        conv.register_structure_hook(scalar, hook)
    conv.register_structure_hook(str, structure_str)
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_unstructure_hook(date, format_date)
    # Later registrations win in cattrs, so these take precedence over its own handling
    # of enums, unions (incl. Optional), tuples, mappings and attrs classes.
    conv.register_structure_hook_func(is_enum, structure_enum_value)
    conv.register_structure_hook_factory(is_optional, optional_hook)
    conv.register_structure_hook_factory(is_homogeneous_tuple, tuple_hook)
    conv.register_structure_hook_factory(is_mapping, mapping_hook)
    conv.register_structure_hook_factory(
        lambda tp: optional_scalar(tp) is not None, optional_scalar_hook
    )
    conv.register_structure_hook_factory(
        lambda tp: tolerant_enum_parts(tp) is not None, tolerant_enum_hook
    )
    # cattrs' Optional unstructure hook only looks at the first two union members, so
    # ``Enum | str | None`` would keep enum members: unstructure these unions ourselves.
    conv.register_unstructure_hook_factory(
        lambda tp: tolerant_enum_parts(tp) is not None, lambda _: unstructure_code
    )
    conv.register_structure_hook_factory(
        attrs.has, lambda cls, conv: _structure_model_hook(cls, conv, fast=fast_paths)
    )
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_model_hook)


#: The library's converter. Never `cattrs.global_converter`: hooks must not leak into
#: users' applications. Extra keys are ignored (Flexiti adds response fields freely).
converter = cattrs.Converter(forbid_extra_keys=False)
configure_converter(converter)


def structure(data: Any, cls: type[T]) -> T:
    """Structure decoded JSON (see `loads`) into ``cls`` (a model, or e.g. ``list[Model]``).

    Raises a `cattrs.BaseValidationError` (usually its subclass ``ClassValidationError``)
    when the data does not fit; the messages name fields and types, never values.
    """
    try:
        return converter.structure(data, cls)
    except BaseValidationError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        name = getattr(cls, "__name__", repr(cls))
        group = ClassValidationError if attrs.has(cls) else BaseValidationError
        raise group(f"While structuring {name}", [exc], cls) from None


def unstructure(obj: Any) -> Any:
    """A model (or list of models) -> plain wire data: field names, no None, enums as values.

    Decimals stay Decimal and dates become ``YYYY-MM-DD`` (datetimes ISO 8601 UTC with
    ``Z``); `dumps` writes the result.
    """
    return converter.unstructure(obj)
