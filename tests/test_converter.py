"""The converter: scalar hooks, tolerant enums, round trips, canonical JSON, loads."""

from __future__ import annotations

import ast
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

from flexiti_async import _converter, models
from flexiti_async._converter import converter, dumps, loads, structure, unstructure
from flexiti_async._converter._renames import all_wire_rules
from flexiti_async.models import (
    AccountStatus,
    AccountType,
    CustomerAccount,
    OfferType,
    Province,
    TransactionType,
    Verification,
    WidgetSession,
)

UTC = timezone.utc


def test_own_converter_not_the_global_one() -> None:
    assert converter is not cattrs.global_converter
    assert isinstance(converter, cattrs.Converter)
    # Our hooks did not leak into the global converter.
    with pytest.raises(Exception):  # noqa: B017 - cattrs' own error type varies
        cattrs.global_converter.structure("x1", int)


# ----------------------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1000, Decimal("1000")),
        ("1000.00", Decimal("1000.00")),
        (" 12.5 ", Decimal("12.5")),
        (Decimal("0.2999"), Decimal("0.2999")),
        ("-10.00", Decimal("-10.00")),
        (10**20, Decimal(10**20)),
    ],
)
def test_decimal_exact(value: Any, expected: Decimal) -> None:
    result = structure(value, Decimal)
    assert result == expected
    assert str(result) == str(expected)


@pytest.mark.parametrize("value", [True, 1.5, 0.1, "abc", "", "NaN", "Infinity", None, [1]])
def test_decimal_rejects(value: Any) -> None:
    with pytest.raises(cattrs.BaseValidationError):
        structure(value, Decimal)


def test_decimal_error_messages_hold_no_values() -> None:
    secret = "4111111111111111x"
    with pytest.raises(cattrs.ClassValidationError) as info:
        structure({"account_number": secret, "credit_limit": secret}, CustomerAccount)
    text = " ".join(cattrs.transform_error(info.value)) + repr(info.value)
    text += " ".join(repr(e) for e in info.value.exceptions)
    assert secret not in text
    assert "4111" not in text


def test_float_money_is_refused_with_a_hint() -> None:
    with pytest.raises(cattrs.BaseValidationError) as info:
        structure(0.1, Decimal)
    assert "float" in str(info.value.exceptions[0])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100000, 100000), ("100000", 100000), (" 42 ", 42), (Decimal("7"), 7), ("7.0", 7)],
)
def test_int_tolerates_numeric_strings(value: Any, expected: int) -> None:
    assert structure(value, int) == expected


@pytest.mark.parametrize("value", [True, "1.5", "abc", Decimal("1.5"), 2.0, None])
def test_int_rejects(value: Any) -> None:
    with pytest.raises(cattrs.BaseValidationError):
        structure(value, int)


@pytest.mark.parametrize(
    ("value", "expected"), [("abc", "abc"), (100000, "100000"), (Province.ON, "ON")]
)
def test_str_tolerates_numbers(value: Any, expected: str) -> None:
    result = structure(value, str)
    assert result == expected
    assert type(result) is str


@pytest.mark.parametrize("value", [True, None, {"a": 1}, 1.5])
def test_str_rejects(value: Any) -> None:
    with pytest.raises(cattrs.BaseValidationError):
        structure(value, str)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("FALSE", False), (1, True), (0, False)],
)
def test_bool(value: Any, expected: bool) -> None:
    assert structure(value, bool) is expected


@pytest.mark.parametrize("value", ["yes", 2, None])
def test_bool_rejects(value: Any) -> None:
    with pytest.raises(cattrs.BaseValidationError):
        structure(value, bool)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-01-31", date(2022, 1, 31)),
        ("2022-01-31T23:30:00-05:00", date(2022, 1, 31)),
        ("2022-01-31T10:00:00Z", date(2022, 1, 31)),
        (date(2020, 2, 29), date(2020, 2, 29)),
    ],
)
def test_date(value: Any, expected: date) -> None:
    assert structure(value, date) == expected


@pytest.mark.parametrize("value", ["2022-13-01", "31/01/2022", "", 20220131])
def test_date_rejects(value: Any) -> None:
    with pytest.raises(cattrs.BaseValidationError):
        structure(value, date)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-01-01T00:00:00Z", datetime(2022, 1, 1, tzinfo=UTC)),
        ("2022-01-01T00:00:00.123Z", datetime(2022, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)),
        ("2022-01-01T00:00:00.1234567Z", datetime(2022, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2022-01-01T05:00:00+05:00", datetime(2022, 1, 1, tzinfo=UTC)),
        ("2022-01-01T05:00:00+0500", datetime(2022, 1, 1, tzinfo=UTC)),
        ("2021-12-31T19:00:00-05:00", datetime(2022, 1, 1, tzinfo=UTC)),
        ("2022-01-01T00:00:00", datetime(2022, 1, 1, tzinfo=UTC)),  # naive -> UTC
        ("2022-01-01 12:30", datetime(2022, 1, 1, 12, 30, tzinfo=UTC)),
        ("2022-01-01", datetime(2022, 1, 1, tzinfo=UTC)),  # date only -> midnight UTC
        (datetime(2022, 1, 1), datetime(2022, 1, 1, tzinfo=UTC)),
        (date(2022, 1, 1), datetime(2022, 1, 1, tzinfo=UTC)),
    ],
)
def test_datetime_always_aware_utc(value: Any, expected: datetime) -> None:
    result = structure(value, datetime)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize("value", ["yesterday", "2022-01-01T25:00:00Z", "2022-01-01T00:00+99:00"])
def test_datetime_rejects(value: str) -> None:
    with pytest.raises(cattrs.BaseValidationError):
        structure(value, datetime)


@pytest.mark.parametrize("tp", [Decimal, int, bool, date, datetime])
def test_empty_string_is_none_for_optional_scalars(tp: Any) -> None:
    assert structure("", tp | None) is None
    assert structure(None, tp | None) is None


# ------------------------------------------------------------------------------- enums


def test_tolerant_enum_unions() -> None:
    assert structure("N", AccountStatus | str) is AccountStatus.NORMAL
    unknown = structure("Q", AccountStatus | str)
    assert unknown == "Q"
    assert type(unknown) is str
    assert structure(None, AccountStatus | str | None) is None
    assert structure(["consumer", "alien"], list[AccountType | str]) == [
        AccountType.CONSUMER,
        "alien",
    ]
    assert structure(["N", None], tuple[AccountStatus | str | None, ...]) == (
        AccountStatus.NORMAL,
        None,
    )
    with pytest.raises(cattrs.BaseValidationError):
        structure(None, AccountStatus | str)
    with pytest.raises(cattrs.BaseValidationError):
        structure({"x": 1}, AccountStatus | str)


def test_strict_enum_error_has_no_value() -> None:
    with pytest.raises(cattrs.BaseValidationError) as info:
        structure("secret-code", TransactionType)
    assert "secret-code" not in repr(info.value.exceptions)


def test_unstructure_enums_to_values() -> None:
    account = CustomerAccount(
        account_number=1, account_status=AccountStatus.FROZEN, account_type="alien"
    )
    wire = unstructure(account)
    assert wire == {"account_number": 1, "account_status": "F", "account_type": "alien"}
    assert type(wire["account_status"]) is str


def test_unstructure_omits_none_and_raw() -> None:
    account = structure({"account_number": 5, "zzz": 1}, CustomerAccount)
    assert unstructure(account) == {"account_number": 5}
    offer = OfferType(plan_id=1)
    assert unstructure(offer) == {"plan_id": 1, "term_options": []}


def test_structure_wraps_top_level_errors_in_cattrs_errors() -> None:
    with pytest.raises(cattrs.ClassValidationError):
        structure([1, 2], CustomerAccount)
    with pytest.raises(cattrs.BaseValidationError):
        structure({"a": 1}, list[CustomerAccount])


def test_wire_aliases_name_real_fields() -> None:
    rules = all_wire_rules()
    assert {cls.__name__ for cls in rules} >= {"Authorization", "OfferType", "MerchantLogin"}
    for cls, rule in rules.items():
        assert getattr(models, cls.__name__) is cls  # a public model, by identity
        fields = attrs.fields_dict(cls)
        for canonical, spellings in rule.aliases.items():
            assert canonical in fields, (cls, canonical)
            assert not set(spellings) & set(fields), (cls, spellings)
        assert rule.aliases or rule.fixups


# ---------------------------------------------------------------- round trips (models)

TEXT = st.text(max_size=12)
MONEY = st.decimals(
    allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**12
)
RATE = st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=0, max_value=1)


def _strategy(tp: Any) -> st.SearchStrategy[Any]:
    """A strategy for a model field type (only the shapes our models use)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return st.one_of([_strategy(a) for a in args])
    if tp is type(None):
        return st.none()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if tp is str:
        return TEXT
    if tp is int:
        return st.integers(min_value=0, max_value=10**16)
    if tp is bool:
        return st.booleans()
    if tp is Decimal:
        return st.one_of(MONEY, RATE)
    if tp is datetime:
        return st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
        )
    if tp is date:
        return st.dates()
    if origin is tuple:
        return st.lists(_strategy(args[0]), max_size=3).map(tuple)
    if origin is Mapping:
        return st.dictionaries(TEXT, _strategy(args[1]), max_size=3)
    if attrs.has(tp):
        return _model_strategy(tp)
    raise AssertionError(f"no strategy for {tp!r}")


def _model_strategy(cls: type, **fixed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    hints = attrs.resolve_types(cls)
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for a in attrs.fields(hints):
        if a.name == "raw" or a.name in fixed:
            continue
        kwargs[a.name] = _strategy(a.type)
    kwargs.update({k: v for k, v in fixed.items() if v is not None})
    return st.builds(cls, **kwargs)


# Only digits make a PIN (a text starting with verification_sent_to is a sentinel), and
# widget_session_id is left to its default: derived from the URL.
SPECIAL: dict[type, dict[str, Any]] = {
    Verification: {"verification_code": st.none() | st.from_regex(r"\d{4,8}", fullmatch=True)},
    WidgetSession: {"widget_session_id": None},
}

RESPONSE_MODELS = sorted(
    (
        getattr(models, n)
        for n in models.__all__
        if attrs.has(getattr(models, n)) and "raw" in attrs.fields_dict(getattr(models, n))
    ),
    key=lambda c: c.__name__,
)
EXTRA = st.dictionaries(
    st.text(min_size=1, max_size=8).map(lambda s: "x_extra_" + s), st.integers() | TEXT, max_size=3
)


@pytest.mark.parametrize("cls", RESPONSE_MODELS, ids=lambda c: c.__name__)
def test_response_models_round_trip(cls: type) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(model=_model_strategy(cls, **SPECIAL.get(cls, {})), extra=EXTRA)
    def check(model: Any, extra: dict[str, Any]) -> None:
        wire = unstructure(model)
        assert structure(wire, cls) == model
        # Through canonical JSON and back, with unknown keys mixed in.
        data = loads(dumps({**wire, **extra}))
        parsed = structure(data, cls)
        assert parsed == model
        assert parsed.raw == data

    check()


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2))
def test_two_decimal_strings_round_trip_exactly(value: Decimal) -> None:
    text = format(value, "f")
    parsed = structure({"account_number": 1, "credit_limit": text}, CustomerAccount)
    assert parsed.credit_limit is not None
    assert str(parsed.credit_limit) == str(Decimal(text))
    assert loads(dumps(parsed.credit_limit)) == parsed.credit_limit
    if value:  # zero (also -0.00) is always written 0.00
        assert dumps(parsed.credit_limit) == text.encode()


# ---------------------------------------------------------------------------- dumps


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("100"), "100.00"),
        (Decimal("10.5"), "10.50"),
        (Decimal("0.2999"), "0.2999"),
        (Decimal("1.000"), "1.00"),
        (Decimal("1E+2"), "100.00"),
        (Decimal("-0"), "0.00"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("-12.30"), "-12.30"),
        (Decimal("123456789012345678901234567890.12"), "123456789012345678901234567890.12"),
    ],
)
def test_dumps_decimal(value: Decimal, text: str) -> None:
    assert dumps(value) == text.encode()
    assert dumps({"amount": value}) == b'{"amount":' + text.encode() + b"}"


def test_dumps_canonical_body() -> None:
    body = {
        "transaction_type": TransactionType.DEPOSIT,
        "amount": Decimal("10"),
        "account_number": 100000001,
        "verification_code": "1234",
        "dob": date(1970, 1, 2),
        "when": datetime(2022, 1, 1, 5, tzinfo=timezone(timedelta(hours=5))),
        "name": 'Zoë "q"\n',
        "ok": True,
        "none": None,
        "list": [1, "a", (2, 3)],
    }
    assert (
        dumps(body)
        == (
            '{"account_number":100000001,"amount":10.00,"dob":"1970-01-02",'
            '"list":[1,"a",[2,3]],"name":"Zoë \\"q\\"\\n","none":null,"ok":true,'
            '"transaction_type":"deposit","verification_code":"1234",'
            '"when":"2022-01-01T00:00:00Z"}'
        ).encode()
    )


def test_dumps_models_and_nested_models() -> None:
    from flexiti_async.models import FinancingOption

    option = FinancingOption(transaction_type=TransactionType.PROMOTIONAL_PURCHASE, plan_id=1)
    assert dumps(option) == b'{"plan_id":1,"transaction_type":"promotional_purchase"}'
    assert dumps({"financing_option": option, "amount": Decimal("5")}) == (
        b'{"amount":5.00,"financing_option":{"plan_id":1,"transaction_type":"promotional_purchase"}}'
    )


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("Infinity"), float("nan"), float("-inf")]
)
def test_dumps_rejects_nan_and_infinity(value: Any) -> None:
    with pytest.raises(ValueError):
        dumps({"amount": value})


@pytest.mark.parametrize("value", [1.5, {1: "a"}, {"a": {1, 2}}, b"bytes", object()])
def test_dumps_rejects_floats_and_non_json(value: Any) -> None:
    with pytest.raises(TypeError):
        dumps(value)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False)
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON)
def test_dumps_is_valid_json_and_numbers_come_back_equal(value: Any) -> None:
    out = dumps(value)
    assert loads(out) == value
    assert json.loads(out, parse_float=Decimal) == value


@given(st.dictionaries(st.text(max_size=6), JSON, max_size=6), st.randoms())
def test_dumps_ignores_key_order(value: dict[str, Any], random: Any) -> None:
    keys = list(value)
    random.shuffle(keys)
    assert dumps({k: value[k] for k in keys}) == dumps(value)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_dumps_matches_json_dumps_without_decimals(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert dumps(value) == expected.encode("utf-8")


# ---------------------------------------------------------------------------- loads


def test_loads_money_is_decimal() -> None:
    data = loads(b'{"amount": 100.10, "rate": 0.2999, "n": 5, "big": 1e2}')
    assert data == {
        "amount": Decimal("100.10"),
        "rate": Decimal("0.2999"),
        "n": 5,
        "big": Decimal("100"),
    }
    assert str(data["amount"]) == "100.10"
    assert loads('"é"') == "é"


@pytest.mark.parametrize("text", [b"{", b"", b"<html>", b'{"a": NaN}', b"[Infinity]"])
def test_loads_raises_json_errors(text: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(text)


# ------------------------------------------------------------------- loads: the plain decoder


def _reject(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", "", 0)


_PLAIN_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject)


def _loads_before(data: Any) -> Any:
    """The plain way `loads` must agree with: json.detect_encoding, then decode()."""
    if isinstance(data, (bytes, bytearray)):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    return _PLAIN_DECODER.decode(data)


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
        st.text(max_size=5),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(
    value=JSON_VALUES,
    before=st.sampled_from(["", " ", "\n", "\t \r\n", "\ufeff", "\x0c"]),
    after=st.sampled_from(["", " ", "\n", "\r\n", " x", ",", "\u00a0", "\x1c", "]", "{}"]),
    encoding=st.sampled_from(
        ["str", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "bytearray"]
    ),
    mangle=st.sampled_from(["", "drop last", "NaN", "garbage"]),
)
def test_loads_matches_the_decoder(
    value: Any, before: str, after: str, encoding: str, mangle: str
) -> None:
    text = before + json.dumps(value) + after
    if mangle == "drop last":
        text = text[:-1]
    elif mangle == "NaN":
        text = text.replace("0", "NaN", 1)
    elif mangle == "garbage":
        text = "\x00" + text
    data: Any
    if encoding == "str":
        data = text
    elif encoding == "bytearray":
        data = bytearray(text.encode("utf-8", "surrogatepass"))
    else:
        data = text.encode(encoding, "surrogatepass")

    def outcome(fn: Any) -> Any:
        try:
            return ("ok", repr(fn(data)))
        except Exception as exc:
            return ("error", type(exc), str(exc))

    assert outcome(loads) == outcome(_loads_before)


def test_loads_rejects_what_it_always_rejected() -> None:
    for bad in [b"{} x", b"", b"x", b"[NaN]", b'{"a":}', b"\x00{}", "[1] \u00a0", memoryview(b"1")]:
        with pytest.raises((ValueError, TypeError)) as fast:
            loads(bad)  # type: ignore[arg-type]
        with pytest.raises((ValueError, TypeError)) as before:
            _loads_before(bad)
        assert type(fast.value) is type(before.value)
        assert str(fast.value) == str(before.value)


# ------------------------------------------------------------------------- import time


def test_converter_does_not_import_the_models() -> None:
    """Model classes are built on first use, not when the converter is imported: no
    module of the converter imports the models at its top level."""
    package = Path(_converter.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        imported = {alias.name for node in top for alias in node.names} | {
            node.module or "" for node in top if isinstance(node, ast.ImportFrom)
        }
        assert not any("models" in name for name in imported), path.name
