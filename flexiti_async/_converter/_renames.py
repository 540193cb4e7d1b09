"""Wire rules of the models: spelling variants of field names and fix-ups of documented
shape variants, keyed by model class, plus the step that applies them before structuring.

Keyed by class, not by name, so a renamed or moved model fails loudly here instead of
silently losing its rules.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, get_args

import attrs

from ._enums import is_union

__all__ = [
    "FIXUP_KEYS",
    "FACTORY",
    "Fixup",
    "FieldFixup",
    "WireRules",
    "normalizer",
    "null_means_absent",
    "wire_rules",
]

_NONE_TYPE = type(None)

#: A reshaping step: returns its input, or a changed copy (never changes it in place).
Fixup = Callable[[Mapping[str, Any]], Mapping[str, Any]]

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


class FieldFixup:
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


_term_list = FieldFixup("term_options", _term_list_value, unchanged=(list, tuple))


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


_unwrap_form_options = FieldFixup("form_values", _unwrap_form_options_value)

#: The only keys each whole-mapping fix-up reads or writes: the fast path runs one on the
#: wire mapping only when aliases and null handling leave these keys alone.
FIXUP_KEYS: dict[Fixup, frozenset[str]] = {
    _split_verification: frozenset({"verification_code", "sent_to"}),
    _sort_rates: frozenset({"apr", "annual_rates"}),
}


@attrs.frozen
class WireRules:
    """One model's wire rules: other spellings per field, and fix-ups run after them."""

    #: field name -> other wire spellings, tried in order when the field's key is absent.
    aliases: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    fixups: tuple[Fixup, ...] = ()


_NO_RULES = WireRules()


@functools.cache
def _rules() -> dict[type, WireRules]:
    # Imported on first use, not with the converter: importing the package must not pay
    # for building every model class.
    from ..models import accounts, authorizations, customers, merchants

    other_account_type = {"account_type": ("customer_account_type",)}
    status_and_remaining = {
        "authorization_status": ("status",),
        "remaining_authorization_amount": ("remaining_amount",),
    }
    return {
        customers.CustomerAccount: WireRules(
            aliases={"tos_agreement": ("tos",), **other_account_type}
        ),
        customers.CustomerProfile: WireRules(aliases={"security_question": ("security_qid",)}),
        customers.OfferType: WireRules(
            aliases={"term_options": ("terms_options",)}, fixups=(_term_list,)
        ),
        accounts.FinancingOptions: WireRules(aliases=other_account_type),
        accounts.Verification: WireRules(fixups=(_split_verification,)),
        accounts.PlanTerm: WireRules(fixups=(_sort_rates,)),
        authorizations.Authorization: WireRules(
            aliases={**status_and_remaining, "creation_date": ("created_at", "date")},
            fixups=(_sort_rates,),
        ),
        authorizations.Capture: WireRules(aliases={"date": ("creation_date", "created_at")}),
        authorizations.Release: WireRules(aliases=status_and_remaining),
        merchants.MerchantLogin: WireRules(fixups=(_unwrap_form_options,)),
    }


def wire_rules(cls: type) -> WireRules:
    """``cls``'s wire rules (none for classes that are not Flexiti models)."""
    return _rules().get(cls, _NO_RULES)


def all_wire_rules() -> Mapping[type, WireRules]:
    """Every model with wire rules (for tests that check them against the fields)."""
    return _rules()


# attrs.Factory's class (its stubs type attrs.Factory as a function).
FACTORY: type = type(attrs.Factory(dict))


def _admits_none(tp: Any) -> bool:
    return (
        tp is None or tp is _NONE_TYPE or tp is Any or (is_union(tp) and _NONE_TYPE in get_args(tp))
    )


def null_means_absent(cls: type) -> tuple[str, ...]:
    """Fields where a null means "not sent": use the default, don't fail.

    Those that cannot be None but have a default (tuples, mappings), and those whose
    default is computed.
    """
    return tuple(
        a.name
        for a in attrs.fields(cls)
        if a.name != "raw"
        and a.default is not attrs.NOTHING
        and (isinstance(a.default, FACTORY) or not _admits_none(a.type))
    )


def normalizer(cls: type) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
    """Build the pre-structure step for ``cls``: aliases, null defaults, fix-ups.

    The input mapping is never modified; a copy is made only when something changes.
    """
    rules = wire_rules(cls)
    aliases = tuple(rules.aliases.items())
    fixups = rules.fixups
    absent = null_means_absent(cls)

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
        for name in absent:
            # Looked up after the aliases: a null beside a variant that holds a value is
            # not "not sent", the variant's value is.
            current = data if out is None else out
            if name in current and current[name] is None:
                if out is None:
                    out = dict(data)
                del out[name]
        result: Mapping[str, Any] = data if out is None else out
        for fixup in fixups:
            result = fixup(result)
        return result

    return normalize
