"""Models parse every documented example, the assumed shapes and their listed variants."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest

from flexiti_async import models
from flexiti_async._converter import configure_converter, loads, structure, unstructure
from flexiti_async.models import (
    AccountStatus,
    AccountStatusReason,
    AccountType,
    Authorization,
    AuthorizationStatus,
    Capture,
    CategoryType,
    CustomerAccount,
    CustomerIdentification,
    CustomerProfile,
    DriversLicense,
    FinancingOptions,
    GovIdType,
    MerchantLogin,
    OfferCategory,
    PersonalInformation,
    PlanTerm,
    Province,
    Release,
    Return,
    RiskRating,
    SkuData,
    SkuProduct,
    Transaction,
    TransactionType,
    Verification,
    WidgetSession,
)

FIXTURES = Path(__file__).parent / "fixtures"
UTC = timezone.utc


def fixture(name: str) -> Any:
    return loads((FIXTURES / name).read_bytes())


# Documented (and assumed) example -> the type it structures into.
EXAMPLES: list[tuple[str, Any]] = [
    ("customers_search.json", list[CustomerAccount]),
    ("customers_lookup.json", CustomerProfile),
    ("calculate_interest_v2_5_1.json", FinancingOptions),
    ("calculate_interest_v2_5.json", FinancingOptions),
    ("customers_driverslicense.json", DriversLicense),
    ("return.json", Return),
    ("verify_pin.json", Verification),
    ("verify_sms.json", Verification),
    ("widget_init.json", WidgetSession),
    ("merchants_login.json", MerchantLogin),
    ("authorization.json", Authorization),
    ("capture.json", Capture),
    ("release.json", Release),
    ("transaction.json", Transaction),
    ("transaction_legacy.json", Transaction),
]


@pytest.fixture(scope="module")
def strict() -> cattrs.Converter:
    """A converter that rejects unknown keys: proves every example key is modelled."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    configure_converter(conv)
    return conv


@pytest.mark.parametrize(("name", "cls"), EXAMPLES)
def test_every_example_parses_and_every_key_is_modelled(
    name: str, cls: Any, strict: cattrs.Converter
) -> None:
    data = fixture(name)
    assert structure(data, cls) == strict.structure(data, cls)


def _walk_values(obj: Any) -> Any:
    if attrs.has(type(obj)):
        for a in attrs.fields(type(obj)):
            if a.name != "raw":
                yield from _walk_values(getattr(obj, a.name))
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _walk_values(item)
    elif isinstance(obj, Mapping):
        for item in obj.values():
            yield from _walk_values(item)
    else:
        yield obj


@pytest.mark.parametrize(("name", "cls"), EXAMPLES)
def test_no_float_anywhere(name: str, cls: Any) -> None:
    values = list(_walk_values(structure(fixture(name), cls)))
    assert values
    assert not any(isinstance(v, float) for v in values)


@pytest.mark.parametrize(("name", "cls"), [e for e in EXAMPLES if e[1].__name__ != "list"])
def test_raw_is_the_original_object_read_only(name: str, cls: Any) -> None:
    data = fixture(name)
    parsed = structure(data, cls)
    assert parsed.raw == data
    with pytest.raises(TypeError):
        parsed.raw["x"] = 1
    assert "raw" not in repr(parsed)


# --------------------------------------------------------------------------- customers


def test_customers_search_example() -> None:
    [account] = structure(fixture("customers_search.json"), list[CustomerAccount])
    assert account == CustomerAccount(
        account_number=100000001,
        customer_id="100000",
        account_status=AccountStatus.NORMAL,
        account_status_reason_code=AccountStatusReason.NNOR,
        tos_agreement=True,
        risk_rating=RiskRating.H,
        account_type=AccountType.CONSUMER,
        credit_limit=Decimal("1000.00"),
        available_credit=Decimal("500.00"),
        originating_merchant_id="10000",
        originating_merchant_name="<MERCHANT NAME>",
        creation_date=date(2020, 1, 1),
        first_name="<FIRST>",
        last_name="<LAST>",
        card_ending_in="0000",
        preferred_language="en-CA",
    )
    assert account.can_purchase
    assert str(account.credit_limit) == "1000.00"


def test_customers_search_variants() -> None:
    rows = [
        {
            "account_number": "100000002",  # number rendered as a string
            "customer_id": 100001,  # numeric customer id
            "tos": True,  # one example row's spelling
            "customer_account_type": "business",  # one version's spelling
            "credit_limit": 1000,  # amounts as numbers ...
            "available_credit": Decimal("250.5"),
            "account_status": "A",
            "account_status_reason_code": "QQQQ",  # unknown codes are kept as str
            "risk_rating": "XXH",  # older rating
            "originating_merchant_id": 10000,
            "brand_new_field": {"nested": [1, 2]},  # ignored
        },
        {"account_number": 100000003, "customer_id": "100000-200", "risk_rating": "W"},
    ]
    first, second = structure(rows, list[CustomerAccount])
    assert first.account_number == 100000002
    assert first.customer_id == "100001"
    assert first.tos_agreement is True
    assert first.account_type is AccountType.BUSINESS
    assert first.credit_limit == Decimal("1000")
    assert first.available_credit == Decimal("250.5")
    assert first.account_status is AccountStatus.AUTH_PROHIBITED
    assert not first.can_purchase
    assert first.account_status_reason_code == "QQQQ"
    assert type(first.account_status_reason_code) is str
    assert first.risk_rating is RiskRating.XXH
    assert first.originating_merchant_id == "10000"
    assert first.raw["brand_new_field"] == {"nested": [1, 2]}
    assert second.customer_id == "100000-200"
    assert second.risk_rating == "W"


def test_canonical_spelling_wins_over_alias() -> None:
    account = structure({"account_number": 1, "tos_agreement": False, "tos": True}, CustomerAccount)
    assert account.tos_agreement is False


def test_customers_lookup_example() -> None:
    profile = structure(fixture("customers_lookup.json"), CustomerProfile)
    assert profile.account_number == 100000001
    assert profile.customer_id == "100000"
    assert profile.available_credit == Decimal("500.00")
    assert profile.security_question is not None
    assert profile.security_question.id == 6
    assert profile.security_question.text == "<security question text>"
    assert profile.address_2 == ""
    assert profile.province is Province.ON
    assert profile.payment_protection is False
    assert profile.risk_rating is RiskRating.M
    [offer] = profile.offer_types
    assert offer.plan_id == 1
    assert offer.offer_category is OfferCategory.EQUAL_BILLING
    assert offer.term_options == (6, 12)


def test_customers_lookup_variants() -> None:
    profile = structure(
        {
            "account_number": 100000001,
            "customer_id": "100000",
            "available_credit": "500.00",
            "security_qid": {"id": "6", "text": "q"},
            "email": "a@example.com",
            "phone_number": 4165550000,
            "province": "XX",
            "offer_types": [
                {"plan_id": "2", "offer_category": "new_category", "terms_options": [3, "6"]},
                {"plan_id": 3, "term_options": 12},
                {"plan_id": 4, "term_options": "6, 12,18"},
                {"plan_id": 5, "term_options": None},
            ],
        },
        CustomerProfile,
    )
    assert profile.phone_number == "4165550000"
    assert profile.province == "XX"
    assert [o.term_options for o in profile.offer_types] == [(3, 6), (12,), (6, 12, 18), ()]
    assert profile.offer_types[0].offer_category == "new_category"
    assert profile.security_question is not None
    assert profile.security_question.id == 6


def test_drivers_license_example_and_repr() -> None:
    licence = structure(fixture("customers_driverslicense.json"), DriversLicense)
    assert licence.dob == date(1970, 1, 1)
    assert licence.govid_expiry == date(2030, 1, 1)
    assert licence.govid_type is GovIdType.CADL
    assert licence.province is Province.ON
    text = repr(licence)
    assert "D1234-56789-01234" not in text
    assert "1234" in text  # last four shown
    assert "1970" not in text


# ---------------------------------------------------------------------------- accounts


def test_verify_pin_and_sentinels() -> None:
    pin = structure(fixture("verify_pin.json"), Verification)
    assert pin.verification_code == "1234"
    assert pin.sent_to is None
    sms = structure(fixture("verify_sms.json"), Verification)
    assert sms.verification_code is None
    assert sms.sent_to == "sms"
    email = structure({"verification_code": "verification_sent_to_email"}, Verification)
    assert (email.verification_code, email.sent_to) == (None, "email")
    other = structure({"verification_code": "verification_sent_to_pigeon"}, Verification)
    assert (other.verification_code, other.sent_to) == (None, "pigeon")
    string_pin = structure({"verification_code": "0042"}, Verification)
    assert string_pin.verification_code == "0042"


def test_verification_repr_hides_pin() -> None:
    pin = structure({"verification_code": 987654}, Verification)
    assert "987654" not in repr(pin)
    assert "<redacted>" in repr(pin)


def test_calculate_interest_v2_5_1() -> None:
    options = structure(fixture("calculate_interest_v2_5_1.json"), FinancingOptions)
    assert options.account_number == 100000001
    assert options.account_type is AccountType.CONSUMER
    assert options.amount == Decimal("100.00")
    assert options.customer is not None
    assert options.customer.air == Decimal("0.2999")
    assert options.customer.category_type is CategoryType.PREFERRED
    assert options.regular_purchase is not None
    assert options.regular_purchase.verify is True
    assert options.regular_purchase.fees == ()
    [plan] = options.promotional_purchase
    assert (plan.plan_id, plan.plan_name) == (1, "<PLAN NAME>")
    [term] = plan.terms
    assert term.term == 3
    assert term.term_amount == Decimal("34.00")
    assert term.annual_rates is not None
    assert term.annual_rates.rate == Decimal("0.0999")
    assert term.apr is None
    assert term.rate == Decimal("0.0999")
    [fee] = term.fees
    assert (fee.amount, fee.type) == (Decimal("10.00"), "admin_total")


def test_calculate_interest_v2_5_apr() -> None:
    options = structure(fixture("calculate_interest_v2_5.json"), FinancingOptions)
    [plan] = options.promotional_purchase
    assert plan.plan_name is None
    [term] = plan.terms
    assert term.annual_rates is None
    assert term.apr == Decimal("0.0999")
    assert term.rate == Decimal("0.0999")


def test_plan_term_rate_shapes_in_the_other_key() -> None:
    swapped = structure({"term": 6, "apr": {"rate": "0.05"}}, PlanTerm)
    assert swapped.annual_rates is not None
    assert swapped.rate == Decimal("0.05")
    number = structure({"term": 6, "annual_rates": "0.07", "fees": None}, PlanTerm)
    assert number.apr == Decimal("0.07")
    assert number.annual_rates is None
    assert number.fees == ()


def test_calculate_interest_amounts_as_strings() -> None:
    data = fixture("calculate_interest_v2_5_1.json")
    data["amount"] = "100.00"
    data["customer"]["available_credit"] = " 1000.00 "
    data["promotional_purchase"][0]["terms"][0]["term_amount"] = "34.00"
    data["customer_account_type"] = data.pop("account_type")
    options = structure(data, FinancingOptions)
    assert options == structure(fixture("calculate_interest_v2_5_1.json"), FinancingOptions)


# ---------------------------------------------------------------------- authorizations


def test_authorization_assumed_shape() -> None:
    auth = structure(fixture("authorization.json"), Authorization)
    assert auth.authorization_id == 123456
    assert auth.authorization_status is AuthorizationStatus.OPENED
    assert auth.is_open
    assert auth.transaction_type is TransactionType.PROMOTIONAL_PURCHASE
    assert auth.creation_date == datetime(2022, 1, 1, 12, 30, tzinfo=UTC)
    assert auth.remaining_authorization_amount == Decimal("100.00")
    assert auth.annual_rates is not None
    assert auth.annual_rates.rate == Decimal("0.0999")
    assert auth.captures == ()


@pytest.mark.parametrize("date_key", ["creation_date", "created_at", "date"])
def test_authorization_variants(date_key: str) -> None:
    auth = structure(
        {
            "authorization_id": "123456",
            "status": "voided",
            "remaining_amount": "12.50",
            date_key: "2022-01-01",
            "apr": Decimal("0.0999"),
            "auto_capture": "true",
            "capture_id": "5",
            "captures": [{"capture_id": 5, "created_at": "2022-01-01T10:00:00-05:00"}],
            "vcc_number": "4111111111111111",
        },
        Authorization,
    )
    assert auth.authorization_id == 123456
    assert auth.authorization_status == "voided"
    assert not auth.is_open
    assert auth.remaining_authorization_amount == Decimal("12.50")
    assert auth.creation_date == datetime(2022, 1, 1, tzinfo=UTC)
    assert auth.apr == Decimal("0.0999")
    assert auth.auto_capture is True
    assert auth.capture_id == 5
    [capture] = auth.captures
    assert capture.date == datetime(2022, 1, 1, 15, tzinfo=UTC)
    assert "4111111111111111" not in repr(auth)
    assert "1111" in repr(auth)


def test_authorization_status_closed_and_null_captures() -> None:
    auth = structure(
        {"authorization_id": 1, "authorization_status": "closed", "captures": None},
        Authorization,
    )
    assert auth.authorization_status is AuthorizationStatus.CLOSED
    assert auth.captures == ()


def test_capture_release_return_transaction() -> None:
    capture = structure(fixture("capture.json"), Capture)
    assert capture.capture_id == 100000000
    assert capture.date == datetime(2022, 1, 1, tzinfo=UTC)
    release = structure(fixture("release.json"), Release)
    assert release.amount == Decimal("25.00")
    assert release.authorization_status is AuthorizationStatus.OPENED
    variant = structure({"status": "closed", "remaining_amount": 0}, Release)
    assert variant.authorization_id is None
    assert variant.authorization_status is AuthorizationStatus.CLOSED
    assert variant.remaining_authorization_amount == Decimal("0")
    returned = structure(fixture("return.json"), Return)
    assert returned.return_id == 1000000000000000
    assert returned.remaining_authorization_amount == Decimal("0.00")
    assert returned.date == datetime(2022, 1, 1, tzinfo=UTC)
    transaction = structure(fixture("transaction.json"), Transaction)
    assert transaction.transaction_type is TransactionType.DEPOSIT
    legacy = structure(fixture("transaction_legacy.json"), Transaction)
    assert legacy.total_amount == Decimal("120.00000")
    assert legacy.transaction_id == "100000"
    numeric = structure({"transaction_id": 42, "vcc_number": 4111111111111111}, Transaction)
    assert numeric.transaction_id == "42"
    assert "4111111111111111" not in repr(numeric)


def test_required_ids_are_required() -> None:
    for cls in (Return, Capture, Authorization, CustomerAccount, CustomerProfile):
        with pytest.raises(cattrs.ClassValidationError) as info:
            structure({"amount": "1.00"}, cls)
        assert cattrs.transform_error(info.value)[0].startswith("required field missing")


# -------------------------------------------------------------------- widget, merchant


def test_widget_session_hides_token_and_reads_session_id() -> None:
    session = structure(fixture("widget_init.json"), WidgetSession)
    assert session.widget_session_id == "2b7e1516-28ae-4d2a-abf7-158809cf4f3c"
    token = "0123456789abcdef0123456789abcdef01234567"
    assert token in session.redirection_url
    assert token not in repr(session)
    assert "2b7e1516" in repr(session)
    explicit = structure(
        {"redirection_url": "https://x/#/widget/c/t?lang=en", "widget_session_id": "abc"},
        WidgetSession,
    )
    assert explicit.widget_session_id == "abc"
    null = structure(
        {"redirection_url": "https://x/#/w/t?widget_session_id=s1", "widget_session_id": None},
        WidgetSession,
    )
    assert null.widget_session_id == "s1"
    none = WidgetSession(redirection_url="https://x/#/widget/c/t")
    assert none.widget_session_id is None


def test_merchants_login_options_unwrapped() -> None:
    login = structure(fixture("merchants_login.json"), MerchantLogin)
    assert login.merchant_id == "100"
    assert login.form_values["province"] == {"ON": "<label>", "QC": "<label>"}
    assert login.options("security_qid")["4"] == "<question>"
    assert login.options("missing") == {}
    odd = structure(
        {"merchant_id": 100, "form_values": {"a": {"1": 2, "n": None}, "b": ["x"]}},
        MerchantLogin,
    )
    assert odd.merchant_id == "100"
    assert odd.form_values == {"a": {"1": "2"}}


# ---------------------------------------------------------------------- request models


def test_request_models_unstructure_to_wire_dicts() -> None:
    from flexiti_async.models import FinancingOption

    option = FinancingOption(
        transaction_type=TransactionType.PROMOTIONAL_PURCHASE, plan_id=1, term=12
    )
    assert unstructure(option) == {
        "transaction_type": "promotional_purchase",
        "plan_id": 1,
        "term": 12,
    }
    regular = FinancingOption(transaction_type="regular_purchase")
    assert unstructure(regular) == {"transaction_type": "regular_purchase"}
    sku = SkuData(
        register_id="R1",
        transaction_total=Decimal("100.00"),
        products=[SkuProduct(sku_id="S", quantity=1, unit_price=Decimal("90.00"))],
    )
    assert isinstance(sku.products, tuple)
    wire = unstructure(sku)
    assert wire == {
        "register_id": "R1",
        "transaction_total": Decimal("100.00"),
        "products": [{"sku_id": "S", "quantity": 1, "unit_price": Decimal("90.00")}],
    }
    assert type(wire["transaction_total"]) is Decimal
    ident = CustomerIdentification(
        vcc_number="4111111111111111",
        personal_information=PersonalInformation(
            first_name="A", last_name="B", dob=date(1970, 1, 2), postal_code="A1A1A1"
        ),
    )
    assert unstructure(ident) == {
        "vcc_number": "4111111111111111",
        "personal_information": {
            "first_name": "A",
            "last_name": "B",
            "dob": "1970-01-02",
            "postal_code": "A1A1A1",
        },
    }
    text = repr(ident)
    assert "4111111111111111" not in text
    assert "1970" not in text


# ------------------------------------------------------------------------------ enums


def test_enums_are_wire_strings() -> None:
    assert AccountStatus.NORMAL == "N"
    assert str(AccountStatus.FROZEN) == "F"
    assert f"{Province.QC}" == "QC"
    assert json.dumps(TransactionType.TRADEIN) == '"tradein"'
    assert [m.value for m in AccountStatus] == ["N", "A", "F", "Z", "C"]
    assert len(Province) == 13
    assert len(AccountStatusReason) == 35


def test_models_package_exports_everything() -> None:
    for name in models.__all__:
        assert getattr(models, name).__module__.startswith("flexiti_async.models.")
    assert set(models.__all__) <= set(dir(models))
    with pytest.raises(AttributeError):
        _ = models.DoesNotExist  # type: ignore[attr-defined]


def test_every_model_is_frozen_slotted_keyword_only_and_documented() -> None:
    for name in models.__all__:
        cls = getattr(models, name)
        assert cls.__doc__, name
        if not attrs.has(cls):
            continue
        assert "__slots__" in cls.__dict__, name
        assert all(a.kw_only for a in attrs.fields(cls)), name
        params = attrs.fields_dict(cls)
        if "raw" in params:
            assert params["raw"].repr is False
            assert params["raw"].eq is False
