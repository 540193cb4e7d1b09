"""The generated fast structure functions behave exactly like the generic cattrs path.

`configure_converter(conv, fast_paths=False)` builds the reference: cattrs' own structure
function per model after the mapping is normalised (aliases, nulls, fix-ups). The library's
converter uses one generated function per model instead. Random wire payloads, valid and
not, must give the same models (same types, same Decimal exponents, same ``raw``) or the
same errors on both.
"""

from __future__ import annotations

import enum
import json
import types
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import attrs
import cattrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flexiti_async import models
from flexiti_async._converter import (
    _renames,
    _scalars,
    configure_converter,
    converter,
    loads,
    structure,
)
from flexiti_async.models import (
    AnnualRate,
    Authorization,
    CustomerProfile,
    OfferCategory,
    OfferType,
    Province,
    RiskRating,
)

FIXTURES = Path(__file__).parent / "fixtures"

MODELS = sorted(
    (getattr(models, n) for n in models.__all__ if attrs.has(getattr(models, n))),
    key=lambda c: c.__name__,
)


def _reference_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    configure_converter(conv, fast_paths=False)
    return conv


REFERENCE = _reference_converter()


# ------------------------------------------------------------------ strict comparison


def _canonical(value: Any) -> Any:
    """A structure that differs whenever two results differ in type or representation.

    ``==`` is not enough: ``Decimal("1.50") == Decimal("1.5") == 1`` and an enum member
    equals its value.
    """
    if attrs.has(type(value)):
        fields = tuple(
            (a.name, _canonical(getattr(value, a.name))) for a in attrs.fields(type(value))
        )
        return (type(value), fields)
    if isinstance(value, types.MappingProxyType):
        return ("proxy", _canonical(dict(value)))
    if isinstance(value, dict):
        return (type(value), tuple(sorted((k, _canonical(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_canonical(v) for v in value))
    if isinstance(value, datetime):
        return (type(value), value.isoformat(), value.tzinfo is timezone.utc)
    return (type(value), repr(value))


def _outcome(conv: cattrs.Converter, data: Any, cls: Any) -> tuple[str, Any]:
    try:
        result = conv.structure(data, cls)
    except Exception as exc:
        return "error", _error_shape(exc)
    return "ok", _canonical(result)


def _error_shape(exc: BaseException) -> Any:
    nested = getattr(exc, "exceptions", None)
    return (
        type(exc),
        str(exc),
        tuple(str(note) for note in getattr(exc, "__notes__", ())),
        tuple(_error_shape(e) for e in nested) if nested else (),
    )


def _assert_same(data: Any, cls: Any) -> tuple[str, Any]:
    fast = _outcome(converter, data, cls)
    reference = _outcome(REFERENCE, data, cls)
    assert fast == reference
    return fast


# ------------------------------------------------------------------ wire strategies

DIGITS = st.integers(min_value=-(10**12), max_value=10**12)
DECIMALS = st.decimals(
    allow_nan=False, allow_infinity=False, places=2, max_value=10**9, min_value=-(10**9)
)
BLANKS = st.sampled_from(["", " ", "  \t", "\n", "\u00a0", "\x1c"])

JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    BLANKS,
    st.booleans(),
    DIGITS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(),  # NaN, sNaN, Infinity, huge exponents
    st.text(max_size=6),
    st.sampled_from(["NaN", "Infinity", "-inf", "1e3", "1_000", "0x10", "1.0", "true", "0"]),
    st.just({}),
    st.just([]),
    st.just({"id": "x"}),
    st.just([1, "2"]),
)


def _padded(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["", " ", "\t"]), text, st.sampled_from(["", " ", "\n"])).map(
        "".join
    )


def _datetime_texts(clean: bool = False) -> st.SearchStrategy[str]:
    moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
    offsets = st.sampled_from(
        ["Z", "z", "+00:00", "-00:00", "+05:30", "-08:00", "+0530", "+05", "", " Z", "+23:59"]
        + ([] if clean else ["+24:00"])
    )
    fractions = st.sampled_from(["", ".1", ".12", ".123", ".1234", ".123456", ".1234567", ",5"])
    separators = st.sampled_from(["T", "t", " "])

    def render(parts: tuple[datetime, str, str, str, bool]) -> str:
        moment, sep, fraction, offset, seconds = parts
        time = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
        return f"{moment.year:04d}-{moment:%m-%d}{sep}{time}{fraction if seconds else ''}{offset}"

    rendered = st.tuples(moments, separators, fractions, offsets, st.booleans()).map(render)
    if clean:
        return st.one_of(rendered, _padded(rendered))
    # Out-of-range parts, non-ASCII digits and the like.
    odd = st.sampled_from(
        [
            "2024-02-30T10:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-17T24:00:00Z",
            "2024-05-17T23:60:00Z",
            "2024-05-17T23:59:60Z",
            "2024-05-17T12:34:56+24:00",
            "2024-05-17T12:34:56+00:60",
            "\u0662\u0660\u0662\u0664-05-17T12:34:56Z",
            "20240517T123456Z",
            "2024-W20-5",
            "2024-05-17",
            "0000-01-01T00:00:00Z",
        ]
    )
    return st.one_of(rendered, _padded(rendered), odd)


def _date_texts(clean: bool = False) -> st.SearchStrategy[str]:
    days = st.dates(min_value=date(1, 1, 1)).map(lambda d: f"{d.year:04d}-{d:%m-%d}")
    if clean:
        return st.one_of(days, _padded(days), _datetime_texts(clean=True))
    odd = st.sampled_from(
        [
            "2024-02-30",
            "2024-00-10",
            "0000-01-01",
            "20240517",
            "2024-W20-5",
            "\u0662\u0660\u0662\u0664-05-17",
        ]
    )
    return st.one_of(days, _padded(days), _datetime_texts(), odd)


def _valid(tp: Any, depth: int, clean: bool = False) -> st.SearchStrategy[Any]:
    """Values of the wire shapes Flexiti sends for ``tp``: valid ones (``clean``), or
    most valid and some just not (NaN, a 2 for a boolean, a 30th of February).
    """
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return st.one_of([_valid(a, depth, clean) for a in args])
    if tp is type(None):
        return st.none()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        return st.one_of(st.sampled_from(values), st.sampled_from(list(tp)), st.text(max_size=4))
    if tp is str:
        return st.one_of(st.text(max_size=8), DIGITS, DECIMALS)
    if tp is int:
        return st.one_of(
            DIGITS, _padded(DIGITS.map(str)), DIGITS.map(lambda i: f"{i}.0"), DIGITS.map(Decimal)
        )
    if tp is bool:
        return st.one_of(
            st.booleans(),
            st.sampled_from(["true", "False", " TRUE ", "0", "1", 0, 1] + ([] if clean else [2])),
        )
    if tp is Decimal:
        return st.one_of(
            DECIMALS,
            DECIMALS.map(str),
            _padded(DECIMALS.map(str)),
            DIGITS,
            st.sampled_from(
                ["1.50", "1e2", "-0.00", "1_000.5", ".5", "5."]
                + ([] if clean else ["NaN", "Infinity", "sNaN"])
            ),
        )
    if tp is datetime:
        return _datetime_texts(clean)
    if tp is date:
        return _date_texts(clean)
    if tp is Any:
        return JUNK
    if origin is tuple:
        if depth >= 3:
            return st.just([])
        items = _valid(args[0], depth + 1, clean)
        return st.one_of(st.lists(items, max_size=3), st.lists(items, max_size=2).map(tuple))
    if origin is Mapping:
        return st.dictionaries(st.text(max_size=4), _valid(args[1], depth + 1, clean), max_size=3)
    if attrs.has(tp):
        return _payload(tp, depth + 1, clean) if depth < 3 else st.just({})
    raise AssertionError(f"no strategy for {tp!r}")


def _payload(cls: Any, depth: int = 0, clean: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object for ``cls``: each field valid, null or absent, variants too; with
    junk values unless ``clean``.
    """
    attrs.resolve_types(cls)
    aliases = _renames.wire_rules(cls).aliases
    keys: dict[str, st.SearchStrategy[Any]] = {}
    for a in attrs.fields(cls):
        value = _valid(a.type, depth, clean)
        if not clean:
            value = st.one_of(value, value, JUNK)
        keys[a.name] = value
        for spelling in aliases.get(a.name, ()):
            keys[spelling] = value
    keys["x_extra"] = JUNK
    if cls.__name__ == "OfferType":
        keys["term_options"] = st.one_of(
            keys["term_options"],
            st.sampled_from(["6,12", " 6 ; 12 ", "", "6"] + ([] if clean else ["x"])),
            DIGITS,
        )
        keys["terms_options"] = keys["term_options"]
    if cls.__name__ == "Verification":
        keys["verification_code"] = st.one_of(
            keys["verification_code"],
            st.sampled_from(["verification_sent_to_sms", "VERIFICATION_SENT_TO"]),
        )
    if cls.__name__ in ("Authorization", "PlanTerm"):
        rates = _valid(AnnualRate, depth + 1, clean) if depth < 3 else st.just({})
        keys["apr"] = st.one_of(keys["apr"], rates)
        keys["annual_rates"] = st.one_of(keys["annual_rates"], DECIMALS.map(str))
    if cls.__name__ == "MerchantLogin":
        option = st.one_of(
            st.dictionaries(
                st.text(max_size=3), st.one_of(st.none(), st.text(max_size=3)), max_size=2
            ),
            JUNK,
        )
        keys["form_values"] = st.one_of(
            st.dictionaries(
                st.text(max_size=3),
                st.one_of(option, st.fixed_dictionaries({"options": option})),
                max_size=2,
            ),
            JUNK,
        )
    # Each key present or absent (clean: required fields present, by their own name).
    required = {}
    if clean:
        names = [a.name for a in attrs.fields(cls) if a.default is attrs.NOTHING]
        required = {name: keys.pop(name) for name in names}
    return st.fixed_dictionaries(required, optional=keys)


def _run(cls: Any, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.one_of(_payload(cls, clean=True), _payload(cls)))
    def check(data: dict[str, Any]) -> None:
        _assert_same(data, cls)
        # The JSON object also arrives as decoded text (Decimal for non-integers).
        try:
            text = json.dumps(data, default=str, allow_nan=False)
        except (TypeError, ValueError):
            return
        _assert_same(loads(text), cls)

    check()


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_every_model_gets_a_generated_function(cls: Any) -> None:
    hook = converter.get_structure_hook(cls)
    assert hook.__code__.co_filename.startswith("<flexiti_async fast structure")
    assert REFERENCE.get_structure_hook(cls).__name__ == "structure_model"


@pytest.mark.parametrize(
    "cls", [CustomerProfile, Authorization, OfferType], ids=lambda c: c.__name__
)
def test_fast_path_matches_reference_benchmark_models(cls: Any) -> None:
    _run(cls, 400)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_fast_path_matches_reference(cls: Any) -> None:
    _run(cls, 120)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("customers_lookup.json", CustomerProfile),
        ("authorization.json", Authorization),
        ("calculate_interest_v2_5.json", models.FinancingOptions),
        ("calculate_interest_v2_5_1.json", models.FinancingOptions),
        ("merchants_login.json", models.MerchantLogin),
        ("verify_sms.json", models.Verification),
        ("widget_init.json", models.WidgetSession),
        ("capture.json", models.Capture),
        ("release.json", models.Release),
        ("return.json", models.Return),
        ("transaction.json", models.Transaction),
        ("transaction_legacy.json", models.Transaction),
        ("customers_driverslicense.json", models.DriversLicense),
    ],
)
def test_fixtures_identical_on_both_paths(name: str, cls: Any) -> None:
    data = loads((FIXTURES / name).read_bytes())
    assert _assert_same(data, cls)[0] == "ok"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"account_number": None},
        {"account_number": "abc"},
        {"account_number": True},
        {"account_number": 1, "available_credit": "NaN"},
        {"account_number": 1, "available_credit": "-Infinity"},
        {"account_number": 1, "available_credit": 1.5},
        {"account_number": 1, "available_credit": "12,50"},
        {"account_number": 1, "payment_protection": "maybe"},
        {"account_number": 1, "security_qid": "x"},
        {"account_number": 1, "security_qid": {"text": "no id"}},
        {"account_number": 1, "offer_types": "x"},
        {"account_number": 1, "offer_types": [{"plan_id": 1, "term_options": [6, "x"]}]},
        {"account_number": 1, "offer_types": 5},
        {"account_number": 1, "province": {"code": "ON"}},
        {"account_number": 1, "email": ["a"]},
    ],
)
def test_invalid_profiles_still_rejected_with_the_same_error(payload: dict[str, Any]) -> None:
    with pytest.raises(cattrs.BaseValidationError) as fast:
        structure(payload, CustomerProfile)
    assert _assert_same(payload, CustomerProfile)[0] == "error"
    assert isinstance(fast.value, cattrs.ClassValidationError)


@pytest.mark.parametrize(
    "payload",
    [
        {"authorization_id": 1, "creation_date": "2024-02-30T10:00:00Z"},
        {"authorization_id": 1, "creation_date": "yesterday"},
        {"authorization_id": 1, "amount": "1.2.3"},
        {"authorization_id": 1, "amount": "sNaN"},
        {"authorization_id": 1, "captures": [{"amount": "1.00"}]},
        {"authorization_id": 1, "annual_rates": {"rate": "x"}},
        {"authorization_id": 1, "auto_capture": 2},
        {"status": "opened"},
    ],
)
def test_invalid_authorizations_still_rejected(payload: dict[str, Any]) -> None:
    with pytest.raises(cattrs.BaseValidationError):
        structure(payload, Authorization)
    assert _assert_same(payload, Authorization)[0] == "error"


def test_errors_still_name_the_field() -> None:
    with pytest.raises(cattrs.ClassValidationError) as info:
        structure({"account_number": 1, "available_credit": "secret-ish"}, CustomerProfile)
    [inner] = info.value.exceptions
    assert any("available_credit" in str(note) for note in inner.__notes__)
    assert "secret-ish" not in repr(info.value.exceptions)


def test_fast_path_keeps_wire_semantics() -> None:
    data = {
        "account_number": "100000001",
        "customer_id": 12345,
        "available_credit": "1000.50",
        "security_qid": {"id": "6", "text": "Pet?"},
        "address_2": "",
        "province": "XX",
        "risk_rating": "M",
        "payment_protection": "TRUE",
        "offer_types": [
            {"plan_id": 1, "offer_category": "brand_new", "terms_options": "6, 12"},
            {"plan_id": 2, "offer_category": "equal_billing", "term_options": None},
        ],
        "email": None,
    }
    profile = structure(data, CustomerProfile)
    assert profile.account_number == 100000001
    assert profile.customer_id == "12345"
    assert type(profile.available_credit) is Decimal
    assert str(profile.available_credit) == "1000.50"
    assert profile.security_question is not None
    assert profile.security_question.id == 6
    assert profile.address_2 == ""
    assert profile.province == "XX"
    assert type(profile.province) is str
    assert profile.risk_rating is RiskRating.M
    assert profile.payment_protection is True
    first, second = profile.offer_types
    assert first.offer_category == "brand_new"
    assert first.term_options == (6, 12)
    assert second.offer_category is OfferCategory.EQUAL_BILLING
    assert second.term_options == ()
    assert profile.raw == data
    assert isinstance(profile.raw, types.MappingProxyType)
    assert first.raw == data["offer_types"][0]
    with pytest.raises(TypeError):
        profile.raw["x"] = 1  # type: ignore[index]
    assert profile.email is None


def test_empty_strings_mean_none_for_optional_scalars() -> None:
    data = {
        "authorization_id": 1,
        "amount": "",
        "captured_amount": " ",
        "creation_date": "",
        "plan_id": "",
        "auto_capture": "",
        "released_amount": "\t",
    }
    auth = structure(data, Authorization)
    assert auth.amount is None
    assert auth.captured_amount is None
    assert auth.released_amount is None
    assert auth.creation_date is None
    assert auth.plan_id is None
    assert auth.auto_capture is None
    _assert_same(data, Authorization)


def test_money_from_decoded_json_stays_exact() -> None:
    data = loads(b'{"authorization_id": 7, "amount": 10.10, "apr": 29.990, "captured_amount": 5}')
    auth = structure(data, Authorization)
    assert type(auth.amount) is Decimal
    assert str(auth.amount) == "10.10"
    assert str(auth.apr) == "29.990"
    assert type(auth.captured_amount) is Decimal
    assert auth.captured_amount == 5
    _assert_same(data, Authorization)


def test_a_null_beside_a_spelling_variant_keeps_the_variant() -> None:
    """A null ``term_options`` next to a ``terms_options`` list: the list is the value
    (it used to be discarded); a null under either name alone means "not sent"."""
    data: dict[str, Any] = {"plan_id": 1, "term_options": None, "terms_options": [6]}
    assert structure(data, OfferType).term_options == (6,)
    assert REFERENCE.structure(data, OfferType).term_options == (6,)
    _assert_same(data, OfferType)
    for data in (
        {"plan_id": 1, "terms_options": None},
        {"plan_id": 1, "term_options": None, "terms_options": None},
    ):
        assert structure(data, OfferType).term_options == ()
        _assert_same(data, OfferType)


def test_rates_sorted_on_the_fast_path() -> None:
    data = {"authorization_id": 1, "apr": {"rate": "29.99"}, "annual_rates": "19.99"}
    auth = structure(data, Authorization)
    assert auth.annual_rates == AnnualRate(rate=Decimal("29.99"))
    assert auth.apr == Decimal("19.99")
    _assert_same(data, Authorization)


def test_other_mappings_and_proxies_are_accepted() -> None:
    data = types.MappingProxyType({"account_number": 5, "province": "ON"})
    profile = structure(data, CustomerProfile)
    assert profile.raw is data
    assert profile.province is Province.ON
    _assert_same(data, CustomerProfile)
    for bad in (None, [("account_number", 5)], "x", 5):
        assert _assert_same(bad, CustomerProfile)[0] == "error"


def test_a_hook_registered_for_a_type_is_called_on_both_paths() -> None:
    def shout(value: Any, _: Any) -> int:
        return int(value) * 10

    convs = []
    for fast in (True, False):
        conv = cattrs.Converter(forbid_extra_keys=False)
        configure_converter(conv, fast_paths=fast)
        conv.register_structure_hook(int, shout)  # before first use: hooks build lazily
        convs.append(conv)
    data = {"plan_id": "4", "term_options": [1, "2"]}
    fast_result, reference_result = (conv.structure(data, OfferType) for conv in convs)
    assert fast_result == reference_result == OfferType(plan_id=40, term_options=(10, 20))


@pytest.mark.parametrize("fast", [True, False])
def test_a_registered_hook_runs_once_on_invalid_input(fast: bool) -> None:
    """A model whose fields use a hook registered by the user keeps the reference path,
    so a failure elsewhere in the payload does not run the hook a second time."""
    calls: list[Any] = []

    def counted(value: Any, _: Any) -> int:
        calls.append(value)
        return int(value)

    conv = cattrs.Converter(forbid_extra_keys=False)
    configure_converter(conv, fast_paths=fast)
    conv.register_structure_hook(int, counted)  # before first use: hooks build lazily
    with pytest.raises(cattrs.ClassValidationError):
        conv.structure({"plan_id": "4", "offer_category": 5.5}, OfferType)
    assert calls == ["4"]
    assert conv.structure({"plan_id": "4"}, OfferType).plan_id == 4
    assert calls == ["4", "4"]


def test_strict_converter_stays_on_the_reference_path() -> None:
    strict = cattrs.Converter(forbid_extra_keys=True)
    configure_converter(strict)
    assert strict.get_structure_hook(CustomerProfile).__name__ == "structure_model"
    with pytest.raises(cattrs.ClassValidationError):
        strict.structure({"account_number": 1, "unknown": 2}, CustomerProfile)
    # Spelling variants are moved, not copied: not "extra" keys.
    assert strict.structure({"account_number": 1, "security_qid": {"id": 1}}, CustomerProfile)


# ------------------------------------------------------------------ scalar fast paths


@settings(max_examples=400, deadline=None)
@given(text=_datetime_texts())
def test_datetime_fast_parse_matches_general(text: str) -> None:
    def outcome(parse: Any) -> Any:
        try:
            result = parse(text)
        except ValueError as exc:
            return ("error", str(exc))
        return ("ok", result, result.tzinfo is timezone.utc)

    assert outcome(_scalars.parse_datetime) == outcome(_scalars._parse_datetime_general)


@pytest.mark.parametrize("has_z", [True, False])
def test_datetime_fast_parse_without_z_support(
    has_z: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.10's fromisoformat reads no "Z": the text is rewritten for it."""
    monkeypatch.setattr(_scalars, "_FROMISOFORMAT_Z", has_z)
    parsed = _scalars.parse_datetime("2024-05-17T12:34:56.123Z")
    assert parsed == datetime(2024, 5, 17, 12, 34, 56, 123000, tzinfo=timezone.utc)
    assert parsed.tzinfo is timezone.utc
    shifted = _scalars.parse_datetime("2024-05-17T12:34:56+05:30")
    assert shifted == datetime(2024, 5, 17, 7, 4, 56, tzinfo=timezone.utc)
    assert shifted.tzinfo is timezone.utc


@settings(max_examples=300, deadline=None)
@given(text=_date_texts())
def test_date_fast_parse_matches_general(text: str) -> None:
    def outcome(parse: Any) -> Any:
        try:
            return ("ok", parse(text))
        except ValueError as exc:
            return ("error", str(exc))

    assert outcome(_scalars._parse_date) == outcome(_scalars._parse_date_general)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(_valid(Decimal, 0), JUNK, _padded(st.text(max_size=4))))
def test_optional_decimal_hook_matches_the_plain_one(value: Any) -> None:
    def outcome(fn: Any) -> Any:
        try:
            result = fn(value)
        except (TypeError, ValueError) as exc:
            return ("error", type(exc), str(exc))
        return ("ok", type(result), repr(result))

    def generic(v: Any) -> Any:
        if v is None or (type(v) is str and not v.strip()):
            return None
        return _scalars._structure_decimal(v, Decimal)

    assert outcome(lambda v: _scalars._structure_optional_decimal(v, None)) == outcome(generic)


def _sort_rates_before(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """`_sort_rates` as it was before its guard was reordered for speed."""
    apr, rates = data.get("apr"), data.get("annual_rates")
    if not isinstance(apr, Mapping) and (rates is None or isinstance(rates, Mapping)):
        return data
    return _renames._sort_rates(data)


@given(
    apr=st.one_of(st.none(), DECIMALS, st.just({"rate": 1}), st.just(types.MappingProxyType({}))),
    rates=st.one_of(st.none(), DECIMALS, st.just({"rate": 1}), st.just(types.MappingProxyType({}))),
    absent=st.sets(st.sampled_from(["apr", "annual_rates"])),
)
def test_sort_rates_guard_unchanged(apr: Any, rates: Any, absent: set[str]) -> None:
    data = {k: v for k, v in {"apr": apr, "annual_rates": rates}.items() if k not in absent}
    assert (_renames._sort_rates(data) is data) == (_sort_rates_before(data) is data)


def test_field_fixups_as_mapping_steps() -> None:
    assert _renames._term_list({"term_options": "6,12"}) == {"term_options": ["6", "12"]}
    assert _renames._term_list({"term_options": 6}) == {"term_options": [6]}
    same = {"term_options": [6]}
    assert _renames._term_list(same) is same
    assert _renames._term_list({}) == {}
    forms = {"form_values": {"province": {"options": {"ON": "Ontario", "QC": None}}, "x": 1}}
    assert _renames._unwrap_form_options(forms) == {"form_values": {"province": {"ON": "Ontario"}}}
    for unchanged in _renames._term_list.unchanged:
        value = unchanged([6])
        assert _renames._term_list_value(value) is value


def test_generated_source_is_inspectable() -> None:
    import linecache

    hook = converter.get_structure_hook(CustomerProfile)
    lines = linecache.getlines(hook.__code__.co_filename)
    assert lines
    assert lines[0].startswith("def structure_CustomerProfile")


def test_offsets_are_converted_to_utc() -> None:
    auth = structure(
        {"authorization_id": 1, "created_at": "2024-05-17T12:34:56-04:00"}, Authorization
    )
    assert auth.creation_date == datetime(2024, 5, 17, 16, 34, 56, tzinfo=timezone.utc)
    assert auth.creation_date is not None
    assert auth.creation_date.utcoffset() == timedelta(0)


def _no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every generated function fail loudly if it hands its input to the reference."""

    def refuse(data: Any, _: Any) -> Any:
        raise AssertionError("fell back to the reference path")

    def generated(fn: Any) -> bool:
        code = getattr(fn, "__code__", None)
        return code is not None and code.co_filename.startswith("<flexiti_async fast structure")

    # cattrs empties its hook cache whenever it builds a mapping hook, and then builds
    # the models' hooks again: patch the current ones and every one they call.
    for _ in range(2):
        hooks = [converter.get_structure_hook(cls) for cls in MODELS]
    seen: set[int] = set()
    while hooks:
        hook = hooks.pop()
        if id(hook) in seen:
            continue
        seen.add(id(hook))
        namespace = hook.__globals__
        hooks += [value for value in namespace.values() if generated(value)]
        for name in [n for n in namespace if n.startswith("_reference")]:
            monkeypatch.setitem(namespace, name, refuse)


def test_usual_payloads_never_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A performance guard: fixtures and benchmark payloads stay on the fast path."""
    from benchmarks._payloads import authorization_payload, lookup_payload

    _no_fallback(monkeypatch)
    for i in range(3):
        structure(lookup_payload(i), CustomerProfile)
        structure(loads(json.dumps(authorization_payload(i))), Authorization)
    for name, cls in [
        ("customers_lookup.json", CustomerProfile),
        ("authorization.json", Authorization),
        ("calculate_interest_v2_5_1.json", models.FinancingOptions),
        ("capture.json", models.Capture),
        ("transaction.json", models.Transaction),
        ("widget_init.json", models.WidgetSession),
        ("merchants_login.json", models.MerchantLogin),
    ]:
        structure(loads((FIXTURES / name).read_bytes()), cls)
    with pytest.raises(AssertionError, match="fell back"):
        structure({"account_number": "x"}, CustomerProfile)
