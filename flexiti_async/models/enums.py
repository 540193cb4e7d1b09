"""String enums for the codes the Flexiti POS API sends and accepts.

Every enum is ``str``-valued, so a member compares equal to its wire code
(``AccountStatus.NORMAL == "N"``) and ``str(member)`` is the code. Response fields that
hold one of these codes are typed ``SomeEnum | str``: a code Flexiti adds later (it does
so without a new API version) arrives as a plain ``str`` instead of failing the parse.
"""

from __future__ import annotations

import enum

__all__ = [
    "AccountStatus",
    "AccountStatusReason",
    "AccountType",
    "AuthorizationStatus",
    "CategoryType",
    "GovIdType",
    "Language",
    "OfferCategory",
    "Province",
    "RiskRating",
    "TransactionType",
    "VerifyFormat",
    "WidgetFlow",
]


class _WireEnum(str, enum.Enum):
    """Base: ``str(member)`` and f-strings give the wire code, not ``Class.MEMBER``.

    Lookup by value ignores case when that names exactly one member
    (``VerifyFormat("SMS") is VerifyFormat.SMS``): the codes differ by more than case.
    """

    @classmethod
    def _missing_(cls, value: object) -> _WireEnum | None:
        if not isinstance(value, str):
            return None
        folded = value.strip().casefold()
        found = [member for member in cls if str(member.value).casefold() == folded]
        return found[0] if len(found) == 1 else None

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)


class AccountStatus(_WireEnum):
    """``account_status`` (customers/search). Only ``NORMAL`` allows purchases."""

    NORMAL = "N"
    #: Late payment; can revert to normal automatically.
    AUTH_PROHIBITED = "A"
    #: Reverted only manually by Flexiti.
    FROZEN = "F"
    CHARGED_OFF = "Z"
    CLOSED = "C"


class AccountStatusReason(_WireEnum):
    """``account_status_reason_code`` (customers/search). ``NNOR`` means normal.

    The first letter repeats the `AccountStatus` it explains; Flexiti publishes the codes
    without descriptions, so the member names are the codes themselves.
    """

    AAUT = "AAUT"
    FAGN = "FAGN"
    FBNK = "FBNK"
    FCCS = "FCCS"
    FCLC = "FCLC"
    FCLG = "FCLG"
    FCQC = "FCQC"
    FCND = "FCND"
    FCOP = "FCOP"
    FDEC = "FDEC"
    FDVO = "FDVO"
    FFRD = "FFRD"
    FHRD = "FHRD"
    FIND = "FIND"
    FINP = "FINP"
    FLCK = "FLCK"
    FOPD = "FOPD"
    FPAC = "FPAC"
    FRMA = "FRMA"
    FRME = "FRME"
    FRVK = "FRVK"
    FSKP = "FSKP"
    FSLM = "FSLM"
    NNOR = "NNOR"
    ZBNK = "ZBNK"
    ZCCO = "ZCCO"
    ZCCS = "ZCCS"
    ZCOP = "ZCOP"
    ZDEC = "ZDEC"
    ZDVO = "ZDVO"
    ZFRD = "ZFRD"
    ZMCO = "ZMCO"
    ZOPD = "ZOPD"
    ZSLM = "ZSLM"
    ZSRO = "ZSRO"


class RiskRating(_WireEnum):
    """``risk_rating`` (customers/search, customers/lookup).

    Newest codes: ``L``/``M`` prime preferred, ``H``/``X`` prime premium, ``Y``/``Z``
    non-prime standard, ``P``/``Q``/``R``/``S`` non-prime high / very low / low / medium,
    ``N`` none. ``XH``, ``XXH``, ``XXXH`` come from older pages.
    """

    L = "L"
    M = "M"
    H = "H"
    X = "X"
    Y = "Y"
    Z = "Z"
    P = "P"
    Q = "Q"
    R = "R"
    S = "S"
    N = "N"
    XH = "XH"
    XXH = "XXH"
    XXXH = "XXXH"


class AccountType(_WireEnum):
    """``account_type`` (also sent as ``customer_account_type`` by one API version)."""

    CONSUMER = "consumer"
    BUSINESS = "business"


class VerifyFormat(_WireEnum):
    """``format`` of ``POST account/{n}/verify``: how the customer is verified."""

    SMS = "sms"
    EMAIL = "email"
    SECURITY_QUESTION = "security_question"
    REGULAR_PURCHASE_BYPASS = "regular_purchase_bypass"
    MERCHANT_OVERRIDE = "merchant_override"


class TransactionType(_WireEnum):
    """``transaction_type``.

    ``POST transactions`` takes ``DEPOSIT``, ``INSTORE_PAYMENT`` and ``TRADEIN``; an
    authorization's ``financing_option`` takes ``PROMOTIONAL_PURCHASE`` or
    ``REGULAR_PURCHASE`` (which legacy ``POST transactions`` also accepted).
    """

    DEPOSIT = "deposit"
    INSTORE_PAYMENT = "instore_payment"
    TRADEIN = "tradein"
    PROMOTIONAL_PURCHASE = "promotional_purchase"
    REGULAR_PURCHASE = "regular_purchase"


class OfferCategory(_WireEnum):
    """``offer_types[].offer_category`` (customers/lookup)."""

    EQUAL_BILLING = "equal_billing"
    DEFERRED_PAYMENT = "deferred_payment"


class Province(_WireEnum):
    """Canadian province and territory codes."""

    AB = "AB"
    BC = "BC"
    MB = "MB"
    NB = "NB"
    NL = "NL"
    NS = "NS"
    NT = "NT"
    NU = "NU"
    ON = "ON"
    PE = "PE"
    QC = "QC"
    SK = "SK"
    YT = "YT"


class AuthorizationStatus(_WireEnum):
    """``authorization_status`` of an authorization (only ``opened`` is documented)."""

    OPENED = "opened"
    CLOSED = "closed"


class CategoryType(_WireEnum):
    """``customer.category_type`` (calculate-interest)."""

    PREFERRED = "preferred"
    PREMIUM = "premium"
    STANDARD = "standard"


class Language(_WireEnum):
    """``lang`` query/body parameter. Customer records use locales (``en-CA``) instead."""

    EN = "en"
    FR = "fr"


class WidgetFlow(_WireEnum):
    """``flow`` of ``POST widget/init``."""

    PURCHASE = "purchase"
    APPLY = "apply"


class GovIdType(_WireEnum):
    """``govid_type``: the identity document type (provincial registry codes also exist)."""

    #: Driver's licence.
    CADL = "CADL"
    #: Health card.
    CAHC = "CAHC"
    #: Provincial ID card.
    CAPID = "CAPID"
    #: Passport.
    CAP = "CAP"
    #: Permanent resident card.
    CAPRC = "CAPRC"
