"""The fast path: one structure function generated per model.

Straight-line code without cattrs' per-field bookkeeping: spelling variants are looked up
in place (no copy of the mapping), nulls meaning "not sent" select the default, field
fix-ups apply to the value, and scalars of the expected exact type skip their hook. It is
an optimisation only. It covers the hooks configured in this package (recognised by
identity) and hands any input it cannot structure to the reference path (cattrs' own
generated function), which raises the detailed error. Because that means running a
second time, a model gets a fast path only when every hook it calls is one of ours,
which have no side effects: a hook registered by a user runs once, on the reference path.
"""

from __future__ import annotations

import linecache
import threading
import types
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, get_args

import attrs
import cattrs

from ._containers import CONTAINERS
from ._enums import TOLERANT_HOOKS, structure_enum_value
from ._renames import FACTORY, FIXUP_KEYS, FieldFixup, Fixup, null_means_absent, wire_rules
from ._scalars import (
    OPTIONAL_HOOKS,
    SCALARS,
    optional_scalar,
    parse_datetime,
    structure_int,
    structure_optional_str,
    structure_str,
)

__all__ = ["GENERATING", "fast_model_fn", "has_raw", "mark_pure"]

_MISSING: Any = object()


class _Generating(threading.local):
    """Models whose hooks this thread is building (one that contains itself, even
    indirectly, keeps the reference path: its hook cannot be looked up yet)."""

    def __init__(self) -> None:
        self.classes: set[Any] = set()


GENERATING = _Generating()

#: Hooks without side effects beyond their result (see the module docstring).
_PURE: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet(
    [*SCALARS.values(), *OPTIONAL_HOOKS.values(), structure_str, structure_enum_value]
)


def mark_pure(hook: Callable[..., Any]) -> None:
    """Record a model hook built here from pure hooks only."""
    _PURE.add(hook)


class _Impure(Exception):
    """A field's hook is not known to be pure: this model keeps the reference path."""


class _Namespace:
    """Globals of one generated function: every object it uses, under a short name."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {
            "_Decimal": Decimal,
            "_Mapping": Mapping,
            "_MISSING": _MISSING,
            "_Proxy": types.MappingProxyType,
            "_new": object.__new__,
            "_parse_datetime": parse_datetime,
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
    if tp is int and hook is structure_int:
        return [f"if type(v) is not int: v = {h}(v, {t})"], False
    if tp is str and hook is structure_str:
        return [f"if type(v) is not str: v = {h}(v, {t})"], False
    if hook is structure_optional_str:
        return [f"if type(v) is not str and v is not None: v = {h}(v, {t})"], True
    if hook is OPTIONAL_HOOKS.get(optional_scalar(tp)):
        inner = optional_scalar(tp)
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
    tolerant = TOLERANT_HOOKS.get(tp)
    if tolerant is not None and hook is tolerant[0]:
        members = ns.add(tolerant[1], "m")
        last = "elif v is not None:" if tolerant[2] else "else:"
        return [f"if type(v) is str: v = {members}.get(v, v)", f"{last} v = {h}(v, {t})"], (
            tolerant[2]
        )
    container = CONTAINERS.get(hook)
    if container is not None and container[0] == "optional":
        inner_lines, _ = _value_code(container[1][0], conv, ns)
        return ["if v is not None:", *("    " + line for line in inner_lines)], True
    if container is not None and container[0] == "tuple":
        item = container[1][0]
        item_hook = conv.get_structure_hook(item)
        ih, it = ns.add(item_hook, "h"), ns.add(item, "t")
        if item is int and item_hook is structure_int:
            return [f"v = tuple([e if type(e) is int else {ih}(e, {it}) for e in v])"], False
        _check_pure(item, conv)
        return [f"v = tuple([{ih}(e, {it}) for e in v])"], False
    _check_pure(tp, conv)
    return [f"v = {h}(v, {t})"], False


def _check_pure(tp: Any, conv: cattrs.Converter) -> None:
    """Raise `_Impure` unless ``tp``'s hook (and every hook it calls) is pure."""
    hook = conv.get_structure_hook(tp)
    tolerant = TOLERANT_HOOKS.get(tp)
    if hook in _PURE or (tolerant is not None and hook is tolerant[0]):
        return
    container = CONTAINERS.get(hook)
    if container is None:
        raise _Impure
    for inner in container[1]:
        _check_pure(inner, conv)


def _indent(lines: list[str], depth: int) -> list[str]:
    return [" " * depth + line for line in lines]


def has_raw(cls: Any) -> bool:
    """Does ``cls`` keep its wire mapping in a ``raw`` field?"""
    return any(a.name == "raw" for a in attrs.fields(cls))


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
            and (not isinstance(a.default, FACTORY) or (keeps_raw and a.name == "raw"))
            and isinstance(getattr(cls, a.name, None), types.MemberDescriptorType)
            for a in attrs.fields(cls)
        )
    )


@attrs.frozen
class _Plan:
    """What one model's generated function must do besides structuring each field."""

    aliases: Mapping[str, tuple[str, ...]]
    absent: frozenset[str]
    field_fixes: Mapping[str, FieldFixup]
    mapping_fixups: tuple[Fixup, ...]
    keeps_raw: bool
    direct: bool


def _plan(cls: Any, conv: cattrs.Converter, hooks_first: bool) -> _Plan | None:
    """``cls``'s wire rules in the fast path's terms, or None where only the reference fits."""
    if getattr(conv, "forbid_extra_keys", True) or not attrs.has(cls):
        return None
    fields = attrs.fields(cls)
    rules = wire_rules(cls)
    absent = frozenset(null_means_absent(cls))
    spellings_used = {s for spellings in rules.aliases.values() for s in spellings}
    if spellings_used & {a.name for a in fields}:
        return None  # a variant that is another field's name: the reference moves it
    touched = set(rules.aliases) | spellings_used | absent
    field_fixes: dict[str, FieldFixup] = {}
    mapping_fixups: list[Fixup] = []
    for fixup in rules.fixups:
        if isinstance(fixup, FieldFixup) and fixup.field not in field_fixes:
            field_fixes[fixup.field] = fixup
            continue
        keys = FIXUP_KEYS.get(fixup)
        # Run on the wire mapping, before the aliases: the same result only when the
        # keys it reads and writes are untouched by aliases and null handling.
        if keys is None or keys & (touched | set(field_fixes)):
            return None
        mapping_fixups.append(fixup)
    keeps_raw = has_raw(cls)
    for a in fields:
        if not a.init or a.type is None or (a.converter is not None and not hooks_first):
            return None
        if a.name == "raw" and keeps_raw and a.validator is not None:
            return None
        if _mentions(a.type, GENERATING.classes):
            return None  # a model that contains itself: its hook cannot be looked up yet
    return _Plan(
        aliases=rules.aliases,
        absent=absent,
        field_fixes=field_fixes,
        mapping_fixups=tuple(mapping_fixups),
        keeps_raw=keeps_raw,
        direct=_slots_settable(cls, keeps_raw),
    )


def _read_lines(a: Any, plan: _Plan, none_absent: bool) -> list[str]:
    """Statements reading field ``a``'s wire value into ``v`` (spelling variants included)."""
    key, spellings = a.name, plan.aliases.get(a.name, ())
    required = a.default is attrs.NOTHING
    empty = "v is None" if none_absent else "v is None or v is _MISSING"
    if required and not spellings:
        lines = [f"v = o[{key!r}]"]
    elif none_absent:
        lines = [f"v = o.get({key!r})"]
    else:
        lines = [f"v = o.get({key!r}, _MISSING)"]
    if spellings:
        # As the reference does it: a variant is read when the field's own key is
        # absent or null.
        lines.append(f"if {empty}:")
        keyword = "if"
        for spelling in spellings:
            lines += [f"    {keyword} {spelling!r} in o:", f"        v = o[{spelling!r}]"]
            keyword = "elif"
    if required and spellings:
        lines.append(f"if v is _MISSING: raise KeyError({key!r})")
    return lines


def _field_lines(a: Any, plan: _Plan, conv: cattrs.Converter, ns: _Namespace) -> list[str]:
    """Statements leaving field ``a``'s structured value in ``v`` (or in ``kw`` for a
    field whose default is a factory)."""
    convert, none_to_none = _value_code(a.type, conv, ns)
    required = a.default is attrs.NOTHING
    # Is an absent key the same as a null here? Then None marks both.
    none_absent = not required and (a.name in plan.absent or (a.default is None and none_to_none))
    body = _read_lines(a, plan, none_absent)
    empty = "v is None" if none_absent else "v is None or v is _MISSING"
    fix = plan.field_fixes.get(a.name)
    if fix is not None:
        guard = f"not ({empty})"
        if fix.unchanged:
            guard += f" and type(v) not in {ns.add(fix.unchanged, 'unchanged')}"
        body.append(f"if {guard}: v = {ns.add(fix.fix, 'fix')}(v)")
    absent_test = "v is None" if none_absent else "v is _MISSING"
    if required or (none_absent and a.default is None and none_to_none):
        return body + convert
    if isinstance(a.default, FACTORY):
        return [*body, f"if not ({absent_test}):", *_indent(convert, 4), f"    kw[{a.alias!r}] = v"]
    return [
        *body,
        f"if {absent_test}:",
        f"    v = {ns.add(a.default, 'default')}",
        "else:",
        *_indent(convert, 4),
    ]


def _function_body(cls: Any, plan: _Plan, conv: cattrs.Converter, ns: _Namespace) -> list[str]:
    """The statements of ``cls``'s function: fix-ups, every field, then the instance."""
    cl = ns.add(cls, "cls")
    body: list[str] = ["o = data"]
    body += [f"o = {ns.add(fixup, 'fixup')}(o)" for fixup in plan.mapping_fixups]
    if plan.direct:
        body.append(f"obj = _new({cl})")
    kwargs: list[str] = []
    for i, a in enumerate(attrs.fields(cls)):
        setter = ns.add(getattr(cls, a.name).__set__, "set") if plan.direct else ""
        if a.name == "raw" and plan.keeps_raw:
            proxy = "(data if type(data) is _Proxy else _Proxy(data))"
            if plan.direct:
                body.append(f"{setter}(obj, {proxy})")
            else:
                kwargs.append(f"{a.alias}={proxy}")
            continue
        body += _field_lines(a, plan, conv, ns)
        if isinstance(a.default, FACTORY):
            continue  # in kw, when present
        if plan.direct:
            body.append(f"{setter}(obj, v)")
        else:
            body.append(f"f{i} = v")
            kwargs.append(f"{a.alias}=f{i}")
    if plan.direct:
        return [*body, "return obj"]
    if any(isinstance(a.default, FACTORY) for a in attrs.fields(cls)):
        body.insert(0, "kw = {}")
        kwargs.append("**kw")
    return [*body, f"return {cl}({', '.join(kwargs)})"]


def fast_model_fn(
    cls: Any,
    conv: cattrs.Converter,
    reference: Callable[[Any, Any], Any],
    *,
    hooks_first: bool,
) -> Callable[[Any, Any], Any] | None:
    """Generate ``cls``'s fast structure function, or None where only the reference fits.

    ``hooks_first``: ``conv`` is known to structure a field that has an attrs converter
    with its hook and then hand the result to that converter (cattrs' default, which
    it does not expose publicly); otherwise such models keep the reference path.
    """
    plan = _plan(cls, conv, hooks_first)
    if plan is None:
        return None
    ns = _Namespace()
    try:
        body = _function_body(cls, plan, conv, ns)
    except _Impure:
        return None
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
        f"    return {ns.add(reference, 'reference')}(data, _)",
    ]
    source = "\n".join(lines) + "\n"
    filename = f"<flexiti_async fast structure {cls.__module__}.{cls.__qualname__}>"
    # Registered with linecache so tracebacks and profilers show the generated source.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns.values)
    fn: Callable[[Any, Any], Any] = ns.values[fn_name]
    mark_pure(fn)
    return fn
