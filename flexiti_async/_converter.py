"""The one cattrs converter (JSON <-> models) and canonical JSON for request bodies.

Everything that knows the wire lives here, not in ``models/``: scalar coercions (Flexiti
renders ids and amounts both as numbers and as strings), tolerant enums, spelling
variants of field names, and the ``raw`` mapping kept on every response model.

Public to the library: `converter`, `configure_converter`, `structure`, `unstructure`,
`dumps`, `loads`. Structure functions are generated lazily, on the first use of each
model, which keeps ``import flexiti_async`` cheap: cattrs' generic one (the reference,
which also gives the detailed errors) and a specialised straight-line one that is used
for every input it can take (see "Fast path" below).
"""

from __future__ import annotations

import json
import linecache
import re
import sys
import threading
import types
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import BaseValidationError, ClassValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = [
    "configure_converter",
    "converter",
    "dumps",
    "loads",
    "structure",
    "unstructure",
]

T = TypeVar("T")

_UTC = timezone.utc
_NONE_TYPE = type(None)

# --------------------------------------------------------------------------------------
# Scalars. Error messages never include the offending value: it may be a secret.
# --------------------------------------------------------------------------------------


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


def _structure_int(value: Any, tp: Any) -> Any:
    """Ids and counts: Flexiti renders ids both as numbers and as digit strings."""
    if tp is not int and _is_enum(tp):  # an IntEnum, dispatched here as an int subclass
        return _structure_enum_value(value, tp)
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


def _structure_str(value: Any, tp: Any) -> Any:
    """Text and string ids: numbers (e.g. a numeric ``customer_id``) become their digits."""
    if tp is not str:
        # cattrs dispatches str subclasses here too, str-valued enums included.
        return _structure_enum_value(value, tp)
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


def _parse_datetime(text: str) -> datetime:
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
    """`_parse_datetime` for every accepted form, with its error messages."""
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
        return _parse_datetime(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=_UTC)
    if isinstance(value, str):
        return _parse_datetime(value)
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


def _format_datetime(value: datetime) -> str:
    """Aware UTC ISO 8601 with a ``Z`` suffix (naive values are taken as UTC)."""
    value = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    return value.isoformat().replace("+00:00", "Z")


def _format_date(value: date) -> str:
    """``YYYY-MM-DD``."""
    return value.isoformat()


# Structured the same way, and an empty string on the wire means "no value" for them
# (Flexiti sends "" for absent optional values, e.g. "address_2": "").
_SCALARS: dict[Any, Callable[[Any, Any], Any]] = {
    Decimal: _structure_decimal,
    int: _structure_int,
    bool: _structure_bool,
    datetime: _structure_datetime,
    date: _structure_date,
}


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _optional_scalar(tp: Any) -> Any:
    """The scalar type of ``Scalar | None`` unions handled by `_optional_scalar_hook`."""
    if not _is_union(tp):
        return None
    args = get_args(tp)
    if len(args) != 2 or _NONE_TYPE not in args:
        return None
    inner = args[0] if args[1] is _NONE_TYPE else args[1]
    return inner if inner in _SCALARS or inner is str else None


def _structure_optional_str(value: Any, _: Any) -> str | None:
    """``str | None``: an empty string stays an empty string (``"address_2": ""``)."""
    return None if value is None else _structure_str(value, str)


def _structure_optional_int(value: Any, _: Any) -> int | None:
    """``int | None``; ``""`` means None."""
    if type(value) is int:
        return value
    if value is None or (type(value) is str and not value.strip()):
        return None
    result: int = _structure_int(value, int)
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
_OPTIONAL_HOOKS: dict[Any, Callable[[Any, Any], Any]] = {
    **{inner: _optional_of(hook, inner) for inner, hook in _SCALARS.items()},
    int: _structure_optional_int,
    Decimal: _structure_optional_decimal,
    str: _structure_optional_str,
}


def _optional_scalar_hook(tp: Any) -> Callable[[Any, Any], Any]:
    """``Scalar | None`` in one step (cattrs' generic Optional hook dispatches per call)."""
    return _OPTIONAL_HOOKS[_optional_scalar(tp)]


# --------------------------------------------------------------------------------------
# Enums. Response fields are typed ``SomeEnum | str`` (optionally ``| None``): a known
# code becomes the member, an unknown one stays a plain str.
# --------------------------------------------------------------------------------------


def _tolerant_enum_parts(tp: Any) -> tuple[type[Enum], bool] | None:
    """``(EnumClass, accepts_none)`` for ``Enum | str [| None]`` unions, else None."""
    if not _is_union(tp):
        return None
    enums = [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, Enum)]
    rest = {a for a in get_args(tp) if a not in enums}
    if len(enums) != 1 or str not in rest or not rest <= {str, _NONE_TYPE}:
        return None
    return enums[0], _NONE_TYPE in rest


#: ``Enum | str [| None]`` type -> (its hook, value -> member, accepts None).
_TOLERANT_HOOKS: dict[Any, tuple[Callable[[Any, Any], Any], dict[Any, Any], bool]] = {}


def _tolerant_enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    known = _TOLERANT_HOOKS.get(tp)
    if known is not None:
        return known[0]
    parts = _tolerant_enum_parts(tp)
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

    _TOLERANT_HOOKS[tp] = (structure_code, members, accepts_none)
    return structure_code


def _unstructure_code(value: Any) -> Any:
    """``Enum | str`` fields: a member becomes its value, a kept unknown code stays as is."""
    return value.value if isinstance(value, Enum) else value


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Enum)


def _structure_enum_value(value: Any, enum_cls: Any) -> Any:
    """Plain (non-tolerant) enum types: like cattrs' hook, minus the value in errors."""
    try:
        return enum_cls(value)
    except (ValueError, TypeError):
        raise ValueError(f"not a valid {enum_cls.__name__} code") from None


# --------------------------------------------------------------------------------------
# Models: spelling variants, fix-ups of documented shape variants, and ``raw``.
# --------------------------------------------------------------------------------------

_Fixup = Callable[[Mapping[str, Any]], Mapping[str, Any]]

_SENT_TO_PREFIX = "verification_sent_to"


def _split_verification(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``verification_code`` holds a PIN or a ``verification_sent_to_<channel>`` sentinel."""
    code = data.get("verification_code")
    if not isinstance(code, str) or not code.lower().startswith(_SENT_TO_PREFIX):
        return data
    out = dict(data)
    out["verification_code"] = None
    if out.get("sent_to") is None:
        out["sent_to"] = code[len(_SENT_TO_PREFIX) :].lstrip("_").lower() or None
    return out


def _sort_rates(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Put an object in ``annual_rates`` and a number in ``apr``, whichever key it came in.

    v2.5.1 replaced the ``apr`` number with the ``annual_rates`` object; an implementation
    that kept the old key for the new object (or the reverse) still parses.
    """
    apr, rates = data.get("apr"), data.get("annual_rates")
    if (apr is None or (type(apr) is not dict and not isinstance(apr, Mapping))) and (
        rates is None or type(rates) is dict or isinstance(rates, Mapping)
    ):
        return data  # the common case: already where the model expects them
    objects = [v for v in (rates, apr) if isinstance(v, Mapping)]
    numbers = [v for v in (apr, rates) if v is not None and not isinstance(v, Mapping)]
    out = dict(data)
    out.pop("apr", None)
    out.pop("annual_rates", None)
    if objects:
        out["annual_rates"] = objects[0]
    if numbers:
        out["apr"] = numbers[0]
    return out


class _FieldFixup:
    """A fix-up that only rewrites the value of one field (when present and not null).

    Called on a mapping it is an ordinary fix-up; the generated fast path applies `fix`
    to the field's value directly, after resolving spelling variants.
    """

    __slots__ = ("field", "fix", "unchanged")

    def __init__(
        self, field: str, fix: Callable[[Any], Any], unchanged: tuple[type, ...] = ()
    ) -> None:
        self.field = field
        #: value -> fixed value, or the value itself when there is nothing to fix.
        self.fix = fix
        #: Exact types `fix` always returns as they are (the fast path skips the call).
        self.unchanged = frozenset(unchanged)

    def __call__(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        value = data.get(self.field)
        if value is None:
            return data
        fixed = self.fix(value)
        if fixed is value:
            return data
        out = dict(data)
        out[self.field] = fixed
        return out


_TERM_SEPARATORS = re.compile(r"[\s,;]+")


def _term_list_value(terms: Any) -> Any:
    """``term_options`` is documented as "number(s)": accept one number or "6,12" too."""
    if isinstance(terms, str):
        return [p for p in _TERM_SEPARATORS.split(terms.strip()) if p]
    if isinstance(terms, (int, Decimal)) and not isinstance(terms, bool):
        return [terms]
    return terms


_term_list = _FieldFixup("term_options", _term_list_value, unchanged=(list, tuple))


def _unwrap_form_options_value(forms: Any) -> Any:
    """``form_values.<field>.options.<code>`` -> ``form_values.<field>.<code>``.

    Entries that are not objects, and labels that are null, are left out of the model
    (they stay in ``raw``) rather than failing the whole login.
    """
    if not isinstance(forms, Mapping):
        return forms
    flat: dict[str, Any] = {}
    for name, entry in forms.items():
        if not isinstance(entry, Mapping):
            continue
        options = entry.get("options")
        if isinstance(options, Mapping):
            entry = options
        flat[name] = {code: label for code, label in entry.items() if label is not None}
    return flat


_unwrap_form_options = _FieldFixup("form_values", _unwrap_form_options_value)

#: The only keys each whole-mapping fix-up reads or writes (see `_fast_model_fn`).
_FIXUP_KEYS: dict[_Fixup, frozenset[str]] = {
    _split_verification: frozenset({"verification_code", "sent_to"}),
    _sort_rates: frozenset({"apr", "annual_rates"}),
}

# Keyed by model class name (models in ``flexiti_async.models`` only), so that importing
# the converter does not import the models: they load when first used.

#: field name -> other wire spellings, tried in order when the field's key is absent.
_ALIASES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "CustomerAccount": (("tos_agreement", ("tos",)), ("account_type", ("customer_account_type",))),
    "CustomerProfile": (("security_question", ("security_qid",)),),
    "OfferType": (("term_options", ("terms_options",)),),
    "FinancingOptions": (("account_type", ("customer_account_type",)),),
    "Authorization": (
        ("authorization_status", ("status",)),
        ("remaining_authorization_amount", ("remaining_amount",)),
        ("creation_date", ("created_at", "date")),
    ),
    "Capture": (("date", ("creation_date", "created_at")),),
    "Release": (
        ("authorization_status", ("status",)),
        ("remaining_authorization_amount", ("remaining_amount",)),
    ),
}

#: Reshaping steps run after the aliases (each returns its input or a changed copy).
_FIXUPS: dict[str, tuple[_Fixup, ...]] = {
    "OfferType": (_term_list,),
    "Verification": (_split_verification,),
    "PlanTerm": (_sort_rates,),
    "Authorization": (_sort_rates,),
    "MerchantLogin": (_unwrap_form_options,),
}

_MODELS_PACKAGE = __name__.rpartition(".")[0] + ".models"

# attrs.Factory's class (its stubs type attrs.Factory as a function).
_FACTORY: type = type(attrs.Factory(dict))


def _admits_none(tp: Any) -> bool:
    return (
        tp is None
        or tp is _NONE_TYPE
        or tp is Any
        or (_is_union(tp) and _NONE_TYPE in get_args(tp))
    )


def _null_means_absent(cls: type) -> tuple[str, ...]:
    """Fields where a null means "not sent": use the default, don't fail.

    Those that cannot be None but have a default (tuples, mappings), and those whose
    default is computed.
    """
    return tuple(
        a.name
        for a in attrs.fields(cls)
        if a.name != "raw"
        and a.default is not attrs.NOTHING
        and (isinstance(a.default, _FACTORY) or not _admits_none(a.type))
    )


def _wire_rules(cls: type) -> tuple[dict[str, tuple[str, ...]], tuple[_Fixup, ...]]:
    """``(field -> spelling variants, fix-ups)`` of ``cls`` (empty unless one of ours)."""
    if not cls.__module__.startswith(_MODELS_PACKAGE):
        return {}, ()
    return dict(_ALIASES.get(cls.__name__, ())), _FIXUPS.get(cls.__name__, ())


def _normalizer(cls: type) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
    """Build the pre-structure step for ``cls``: aliases, null defaults, fix-ups.

    The input mapping is never modified; a copy is made only when something changes.
    """
    alias_map, fixups = _wire_rules(cls)
    aliases = tuple(alias_map.items())
    null_means_absent = _null_means_absent(cls)

    def normalize(data: Mapping[str, Any]) -> Mapping[str, Any]:
        out: dict[str, Any] | None = None
        for name, spellings in aliases:
            if data.get(name) is not None:
                continue
            for spelling in spellings:
                if spelling in data:
                    if out is None:
                        out = dict(data)
                    # Moved, not copied: a strict converter (forbid_extra_keys) in the
                    # tests then proves every documented key is modelled.
                    out[name] = out.pop(spelling)
                    break
        for name in null_means_absent:
            if name in data and data[name] is None:
                if out is None:
                    out = dict(data)
                del out[name]
        result: Mapping[str, Any] = data if out is None else out
        for fixup in fixups:
            result = fixup(result)
        return result

    return normalize


def _has_raw(cls: type) -> bool:
    return any(a.name == "raw" for a in attrs.fields(cls))


def _raw_omitted(keeps_raw: bool) -> dict[str, Any]:
    """cattrs overrides: ``raw`` is never read from or written to the wire."""
    return {"raw": override(omit=True)} if keeps_raw else {}


def _reference_model_fn(cls: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """The generic path: normalise the mapping, then cattrs' own structure function.

    It defines the behaviour (and gives detailed errors); the generated fast path below
    must produce the same results, and hands every input it fails on to this one.
    """
    keeps_raw = _has_raw(cls)
    base = make_dict_structure_fn(cls, conv, **_raw_omitted(keeps_raw))
    normalize = _normalizer(cls)
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


# --------------------------------------------------------------------------------------
# Fast path: one structure function generated per model, straight-line code without
# cattrs' per-field bookkeeping. It is an optimisation only: it covers the hooks
# configured here (recognised by identity, so another hook registered for a type on a
# converter is called as such) and passes any input it cannot structure to the
# reference path, which then raises exactly the error it always raised.
# --------------------------------------------------------------------------------------

_MISSING: Any = object()


class _Generating(threading.local):
    """Models whose hooks this thread is building (one that contains itself, even
    indirectly, keeps the reference path: its hook cannot be looked up yet)."""

    def __init__(self) -> None:
        self.classes: set[Any] = set()


_GENERATING = _Generating()

_CATTRS_OPTIONAL = getattr(cattrs.BaseConverter, "_structure_optional", None)
_CATTRS_TUPLE = getattr(cattrs.BaseConverter, "_structure_tuple", None)


class _Namespace:
    """Globals of one generated function: every object it uses, under a short name."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {
            "_Decimal": Decimal,
            "_Mapping": Mapping,
            "_MISSING": _MISSING,
            "_Proxy": types.MappingProxyType,
            "_new": object.__new__,
            "_parse_datetime": _parse_datetime,
        }

    def add(self, value: Any, prefix: str) -> str:
        name = f"_{prefix}{len(self.values)}"
        self.values[name] = value
        return name


def _mentions(tp: Any, classes: set[Any]) -> bool:
    try:
        if tp in classes:
            return True
    except TypeError:  # unhashable (e.g. odd Annotated metadata): don't risk it
        return True
    return any(_mentions(arg, classes) for arg in get_args(tp))


def _value_code(tp: Any, conv: cattrs.Converter, ns: _Namespace) -> tuple[list[str], bool]:
    """Statements structuring ``v`` (in place) as ``tp``, and whether they map None to None.

    Each shortcut is the hook cattrs would call, minus the call for exact wire types.
    """
    hook = conv.get_structure_hook(tp)
    h, t = ns.add(hook, "h"), ns.add(tp, "t")
    if tp is int and hook is _structure_int:
        return [f"if type(v) is not int: v = {h}(v, {t})"], False
    if tp is str and hook is _structure_str:
        return [f"if type(v) is not str: v = {h}(v, {t})"], False
    if hook is _structure_optional_str:
        return [f"if type(v) is not str and v is not None: v = {h}(v, {t})"], True
    if hook is _OPTIONAL_HOOKS.get(_optional_scalar(tp)):
        inner = _optional_scalar(tp)
        if inner is Decimal:
            # Decimal(text) strips the same blanks as _decimal_from_text; blank text
            # other than "" raises, and so goes to the reference path.
            return [
                "if type(v) is str: v = _Decimal(v) if v else None",
                f"elif v is not None and type(v) is not _Decimal: v = {h}(v, {t})",
                "if v is not None and not v.is_finite(): raise ValueError",
            ], True
        if inner is datetime:
            return [
                "if type(v) is str: v = _parse_datetime(v) if v else None",
                f"elif v is not None: v = {h}(v, {t})",
            ], True
        if inner is int:
            return [f"if type(v) is not int and v is not None: v = {h}(v, {t})"], True
        if inner is bool:
            return [f"if v is not None and v is not True and v is not False: v = {h}(v, {t})"], True
        return [f"if v is not None: v = {h}(v, {t})"], True
    tolerant = _TOLERANT_HOOKS.get(tp)
    if tolerant is not None and hook is tolerant[0]:
        members = ns.add(tolerant[1], "m")
        last = "elif v is not None:" if tolerant[2] else "else:"
        return [f"if type(v) is str: v = {members}.get(v, v)", f"{last} v = {h}(v, {t})"], (
            tolerant[2]
        )
    func = getattr(hook, "__func__", None)
    args = get_args(tp)
    if func is not None and func is _CATTRS_OPTIONAL and len(args) == 2:
        # cattrs' Optional hook: None, or the other member's hook.
        inner_lines, _ = _value_code(args[0] if args[1] is _NONE_TYPE else args[1], conv, ns)
        return ["if v is not None:", *("    " + line for line in inner_lines)], True
    if (
        func is not None
        and func is _CATTRS_TUPLE
        and get_origin(tp) is tuple
        and len(args) == 2
        and args[1] is Ellipsis
        and args[0] is not Any
    ):
        # cattrs' homogeneous tuple hook: the item hook over any iterable.
        item = args[0]
        item_hook = conv.get_structure_hook(item)
        ih, it = ns.add(item_hook, "h"), ns.add(item, "t")
        if item is int and item_hook is _structure_int:
            return [f"v = tuple([e if type(e) is int else {ih}(e, {it}) for e in v])"], False
        return [f"v = tuple([{ih}(e, {it}) for e in v])"], False
    return [f"v = {h}(v, {t})"], False


def _indent(lines: list[str], depth: int) -> list[str]:
    return [" " * depth + line for line in lines]


def _slots_settable(cls: Any, keeps_raw: bool) -> bool:
    """Can instances be built by setting each slot, exactly as attrs' ``__init__`` would?

    That ``__init__`` only assigns the (already structured) values when no field has a
    validator, converter or computed default and the class has no init hooks; skipping
    it saves binding a dozen keyword arguments per model.
    """
    init = getattr(cls.__init__, "__code__", None)
    return (
        init is not None
        and init.co_filename.startswith("<attrs generated")
        and not hasattr(cls, "__attrs_pre_init__")
        and not hasattr(cls, "__attrs_post_init__")
        and not hasattr(cls, "_attrs_cached_hash")
        and all(
            a.init
            and a.validator is None
            and a.converter is None
            and (not isinstance(a.default, _FACTORY) or (keeps_raw and a.name == "raw"))
            and isinstance(getattr(cls, a.name, None), types.MemberDescriptorType)
            for a in attrs.fields(cls)
        )
    )


def _fast_model_fn(
    cls: Any, conv: cattrs.Converter, reference: Callable[[Any, Any], Any]
) -> Callable[[Any, Any], Any] | None:
    """Generate ``cls``'s fast structure function, or None where only the reference fits.

    Same steps as the reference, fused: spelling variants are looked up in place (no
    copy of the mapping), nulls meaning "not sent" select the default, field fix-ups
    apply to the value, and scalars of the expected exact type skip their hook.
    """
    if getattr(conv, "forbid_extra_keys", True) or not attrs.has(cls):
        return None
    fields = attrs.fields(cls)
    names = {a.name for a in fields}
    aliases, fixups = _wire_rules(cls)
    absent = set(_null_means_absent(cls))
    spellings_used = {s for spellings in aliases.values() for s in spellings}
    if spellings_used & names:
        return None  # a variant that is another field's name: the reference moves it
    touched = set(aliases) | spellings_used | absent
    field_fixes: dict[str, _FieldFixup] = {}
    mapping_fixups: list[_Fixup] = []
    for fixup in fixups:
        if isinstance(fixup, _FieldFixup) and fixup.field not in field_fixes:
            field_fixes[fixup.field] = fixup
            continue
        keys = _FIXUP_KEYS.get(fixup)
        # Run on the wire mapping, before the aliases: the same result only when the
        # keys it reads and writes are untouched by aliases and null handling.
        if keys is None or keys & (touched | set(field_fixes)):
            return None
        mapping_fixups.append(fixup)
    keeps_raw = _has_raw(cls)
    direct = _slots_settable(cls, keeps_raw)
    ns = _Namespace()
    cl, ref = ns.add(cls, "cls"), ns.add(reference, "reference")
    body: list[str] = ["o = data"]
    body += [f"o = {ns.add(fixup, 'fixup')}(o)" for fixup in mapping_fixups]
    if direct:
        body.append(f"obj = _new({cl})")
    kwargs: list[str] = []
    has_factories = False
    for i, a in enumerate(fields):
        if a.name == "raw" and keeps_raw:
            if not a.init or a.converter is not None or a.validator is not None:
                return None
            proxy = "(data if type(data) is _Proxy else _Proxy(data))"
            if direct:
                body.append(f"{ns.add(getattr(cls, a.name).__set__, 'set')}(obj, {proxy})")
            else:
                kwargs.append(f"{a.alias}={proxy}")
            continue
        if not a.init or a.type is None or _mentions(a.type, _GENERATING.classes):
            return None
        if a.converter is not None and conv._prefer_attrib_converters:
            return None
        convert, none_to_none = _value_code(a.type, conv, ns)
        key, spellings = a.name, aliases.get(a.name, ())
        required = a.default is attrs.NOTHING
        is_factory = isinstance(a.default, _FACTORY)
        # Is an absent key the same as a null here? Then None marks both.
        none_absent = not required and (a.name in absent or (a.default is None and none_to_none))
        empty = "v is None" if none_absent else "v is None or v is _MISSING"
        if required and not spellings:
            body.append(f"v = o[{key!r}]")
        elif none_absent and not (spellings and a.name in absent):
            body.append(f"v = o.get({key!r})")
        else:
            body.append(f"v = o.get({key!r}, _MISSING)")
        if spellings and a.name in absent:
            # As the reference does it: a null under the field's own name means "not
            # sent" (even beside a variant), a null under a variant is structured.
            body += ["if v is _MISSING:", "    v = None"]
            keyword = "if"
            for spelling in spellings:
                body += [f"    {keyword} {spelling!r} in o:", f"        v = o[{spelling!r}]"]
                body.append("        if v is None: raise LookupError")  # reference decides
                keyword = "elif"
        elif spellings:
            body.append(f"if {empty}:")
            keyword = "if"
            for spelling in spellings:
                body += [f"    {keyword} {spelling!r} in o:", f"        v = o[{spelling!r}]"]
                keyword = "elif"
        if required and spellings:
            body.append(f"if v is _MISSING: raise KeyError({key!r})")
        fix = field_fixes.get(a.name)
        if fix is not None:
            guard = f"not ({empty})"
            if fix.unchanged:
                guard += f" and type(v) not in {ns.add(fix.unchanged, 'unchanged')}"
            body.append(f"if {guard}: v = {ns.add(fix.fix, 'fix')}(v)")
        absent_test = "v is None" if none_absent else "v is _MISSING"
        if required:
            body += convert
        elif is_factory:
            has_factories = True
            body += [f"if not ({absent_test}):", *_indent(convert, 4)]
            body.append(f"    kw[{a.alias!r}] = v")
            continue
        elif none_absent and a.default is None and none_to_none:
            body += convert
        else:
            body += [f"if {absent_test}:", f"    v = {ns.add(a.default, 'default')}"]
            body += ["else:", *_indent(convert, 4)]
        if direct:
            body.append(f"{ns.add(getattr(cls, a.name).__set__, 'set')}(obj, v)")
        else:
            body.append(f"f{i} = v")
            kwargs.append(f"{a.alias}=f{i}")
    if direct:
        body.append("return obj")
    else:
        if has_factories:
            body.insert(0, "kw = {}")
            kwargs.append("**kw")
        body.append(f"return {cl}({', '.join(kwargs)})")
    fn_name = f"structure_{cls.__name__}"
    lines = [
        f"def {fn_name}(data, _=None):",
        "    try:",
        "        if type(data) is not dict and not isinstance(data, _Mapping):",
        "            raise TypeError",
        *_indent(body, 8),
        "    except Exception:",
        "        pass",
        "    # Not structurable here: the reference path raises its detailed error.",
        f"    return {ref}(data, _)",
    ]
    source = "\n".join(lines) + "\n"
    filename = f"<flexiti_async fast structure {cls.__module__}.{cls.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns.values)
    fn: Callable[[Any, Any], Any] = ns.values[fn_name]
    return fn


def _structure_model_hook(
    cls: Any, conv: cattrs.Converter, *, fast: bool = True
) -> Callable[[Any, Any], Any]:
    """Structure an attrs model from a JSON object, keeping the object in ``raw``."""
    attrs.resolve_types(cls)
    generating = _GENERATING.classes
    generating.add(cls)
    try:
        reference = _reference_model_fn(cls, conv)
        fast_fn = _fast_model_fn(cls, conv, reference) if fast else None
    finally:
        generating.discard(cls)
    return reference if fast_fn is None else fast_fn


def _unstructure_model_hook(cls: Any, conv: cattrs.Converter) -> Callable[[Any], Any]:
    """Unstructure an attrs model to a wire dict: field names, no None values, no ``raw``."""
    attrs.resolve_types(cls)
    base = make_dict_unstructure_fn(cls, conv, **_raw_omitted(_has_raw(cls)))

    def unstructure_model(obj: Any) -> dict[str, Any]:
        return {key: value for key, value in base(obj).items() if value is not None}

    return unstructure_model


def configure_converter(conv: cattrs.Converter, *, fast_paths: bool = True) -> None:
    """Register every hook flexiti-async needs on ``conv`` (a `cattrs.Converter`).

    ``fast_paths=False`` keeps models on cattrs' generic structure functions (the
    reference the generated fast path is tested against).
    """
    for scalar, hook in _SCALARS.items():
        conv.register_structure_hook(scalar, hook)
    conv.register_structure_hook(str, _structure_str)
    conv.register_unstructure_hook(datetime, _format_datetime)
    conv.register_unstructure_hook(date, _format_date)
    # Later registrations win in cattrs, so these take precedence over its own handling
    # of enums, unions (incl. Optional) and attrs classes.
    conv.register_structure_hook_func(_is_enum, _structure_enum_value)
    conv.register_structure_hook_factory(
        lambda tp: _optional_scalar(tp) is not None, _optional_scalar_hook
    )
    conv.register_structure_hook_factory(
        lambda tp: _tolerant_enum_parts(tp) is not None, _tolerant_enum_hook
    )
    # cattrs' Optional unstructure hook only looks at the first two union members, so
    # ``Enum | str | None`` would keep enum members: unstructure these unions ourselves.
    conv.register_unstructure_hook_factory(
        lambda tp: _tolerant_enum_parts(tp) is not None, lambda _: _unstructure_code
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


# --------------------------------------------------------------------------------------
# JSON text.
# --------------------------------------------------------------------------------------

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
        return _encode_str(_format_datetime(value))
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


_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
# What json.decoder skips around the value (JSON's four blanks only).
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
        # JSONDecoder.decode without its Python layers, for a body that is one value.
        try:
            obj, end = _SCAN(data, 0)
        except StopIteration:
            pass  # leading blanks or no JSON value: the full path below (and its error)
        else:
            if end == len(data) or _JSON_BLANKS.fullmatch(data, end):
                return obj
    return _DECODER.decode(data)  # also raises "Extra data" where the value ends early
