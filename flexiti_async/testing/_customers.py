"""Customer-side rules: search, lookup, verify (PINs), financing options, close, licences."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ._context import Call, Env
from ._errors import ApiError, FieldError, InputError, conflict, not_found
from ._json import Raw
from ._state import Account, PendingVerification, Plan
from ._validate import (
    account_number,
    bad,
    check_account_number,
    integer,
    money,
    optional_string,
    string,
)
from ._views import account_summary, plans_for, profile_view, rates_view

__all__ = [
    "REGULAR_BYPASS_MAX_AMOUNT",
    "account_from_path",
    "calculate_interest",
    "check_can_purchase",
    "check_card",
    "check_verification",
    "close",
    "drivers_license",
    "lookup",
    "regular_purchases_last_24h",
    "search",
    "verify",
]

REGULAR_BYPASS_MAX_AMOUNT = Decimal("200.00")
_FORMATS = ("sms", "email", "security_question", "regular_purchase_bypass", "merchant_override")
_CATEGORY = {"L": "preferred", "M": "preferred", "H": "premium", "X": "premium"}


def _account(env: Env, number: int) -> Account:
    account = env.world.accounts.get(number)
    if account is None:
        raise not_found("account not found")
    return account


def account_from_path(env: Env, call: Call) -> Account:
    """The account named by ``{account_number}`` in the path (404 if unknown)."""
    raw = call.params["account_number"]
    if not (raw.isascii() and raw.isdigit()):
        raise bad("account_number", "invalid", raw)
    return _account(env, check_account_number("account_number", int(raw)))


def check_card(env: Env, account: Account, vcc: str | None) -> None:
    """A card sent with an account must exist and belong to it."""
    if vcc is None:
        return
    owner = env.world.accounts_by_vcc.get(vcc)
    if owner is None:
        raise not_found("card not found")
    if owner is not account:
        raise conflict("vcc_account_mismatch")


def check_can_purchase(account: Account) -> None:
    """Only active accounts in status N may buy."""
    if not account.active:
        raise conflict("user_not_active")
    if account.status != "N":
        raise conflict("user_not_able_to_purchase")


def regular_purchases_last_24h(env: Env, account: Account) -> int:
    """How many regular purchases the account made in the last 24 hours."""
    since = env.clock.now() - timedelta(hours=24)
    return sum(1 for when in account.regular_purchases if when > since)


def search(env: Env, call: Call) -> list[dict[str, Any]]:
    """``GET customers/search``: accounts by name and date of birth."""
    first = string(call.query, "first_name", 80).lower()
    last = string(call.query, "last_name", 130).lower()
    dob_raw = string(call.query, "dob", 10)
    try:
        dob = date.fromisoformat(dob_raw)
    except ValueError:
        raise bad("dob", "invalid", dob_raw)
    postal = optional_string(call.query, "postal_code", 6)
    merchant = env.world.merchants[call.client_id]
    found = [
        account_summary(a, merchant.merchant_id, merchant.merchant_name)
        for a in env.world.accounts.values()
        if a.first_name.lower() == first
        and a.last_name.lower() == last
        and a.dob == dob
        and (postal is None or a.postal_code.replace(" ", "") == postal.upper())
    ]
    if not found:
        raise not_found("no account found")
    return found


def lookup(env: Env, call: Call) -> dict[str, Any]:
    """``GET customers/lookup`` by exactly one of account number, card number, customer id."""
    given = [k for k in ("account_number", "vcc_number", "customer_id") if call.query.get(k)]
    if len(given) != 1:
        raise InputError(
            *(
                FieldError(k, "exactly one of account_number, vcc_number, customer_id")
                for k in (given or ["account_number"])
            )
        )
    key = given[0]
    value = call.query[key]
    world = env.world
    if key == "account_number":
        number = account_number(call.query, key)
        account = world.accounts.get(number or 0)
    elif key == "vcc_number":
        account = world.accounts_by_vcc.get(value)
    else:
        account = world.accounts_by_customer.get(value)
    if account is None:
        raise not_found("account not found")
    check_can_purchase(account)
    return profile_view(world, account)


def _issue_pin(env: Env, call: Call, account: Account, fmt: str, request_id: str | None) -> int:
    pin = env.rng.randint(1000, 9999)
    account.pending = PendingVerification(
        pin=pin,
        request_id=request_id,
        format=fmt,
        issued_at=env.clock.now(),
        client_id=call.client_id,
    )
    return pin


def verify(env: Env, call: Call) -> dict[str, Any]:
    """``POST account/{n}/verify``: issue a one-time PIN tied to ``request_id``."""
    account = account_from_path(env, call)
    body = call.body
    fmt = optional_string(body, "format", 30) or "sms"
    if fmt not in _FORMATS:
        raise bad("format", "invalid", fmt)
    request_id = optional_string(body, "request_id", 150)
    check_card(env, account, optional_string(body, "vcc_number", 16))
    if fmt == "sms":
        phone = account.phone_number or ""
        if not (phone.isdigit() and len(phone) == 10):
            raise ApiError(400, "sms_not_valid_phone")
        _issue_pin(env, call, account, fmt, request_id)
        return {"verification_code": "verification_sent_to_sms"}
    if fmt == "email":
        if not account.email:
            raise bad("email", "not_on_file")
        _issue_pin(env, call, account, fmt, request_id)
        return {"verification_code": "verification_sent_to_email"}
    if fmt == "security_question":
        qid = integer(body, "security_qid")
        answer = string(body, "security_answer", 50)
        now = env.clock.now()
        window = now - timedelta(hours=48)
        account.wrong_answers = [t for t in account.wrong_answers if t > window]
        limit = env.options.max_security_tries
        if len(account.wrong_answers) > limit:
            raise conflict("tries_exceed")
        correct = answer.strip().lower() == account.security_answer.strip().lower()
        if qid != account.security_qid or not correct:
            account.wrong_answers.append(now)
            if len(account.wrong_answers) > limit:
                raise conflict("tries_exceed")
            raise conflict("secret_answer_mismatch")
        return {"verification_code": _issue_pin(env, call, account, fmt, request_id)}
    if fmt == "regular_purchase_bypass":
        assert call.token is not None
        if (
            call.token.scope != "merchant"
            or account.status != "N"
            or regular_purchases_last_24h(env, account) >= 3
        ):
            raise conflict("regular_purchase_bypass_is_not_allowed")
        return {"verification_code": _issue_pin(env, call, account, fmt, request_id)}
    if not env.world.merchants[call.client_id].merchant_override:
        raise conflict("merchant_override_is_not_allowed")
    return {"verification_code": _issue_pin(env, call, account, fmt, request_id)}


def check_verification(
    env: Env, call: Call, account: Account, *, regular: bool, amount: Decimal
) -> PendingVerification:
    """Check the PIN of an in-store call; the caller consumes it once the call succeeds."""
    code = call.body.get("verification_code")
    if code is None or code == "":
        raise conflict("verification_code_required")
    pending = account.pending
    if pending is None:
        raise conflict("wrong_verification_code")
    request_id = optional_string(call.body, "request_id", 150)
    if request_id != pending.request_id:
        raise conflict("not_verified")
    if isinstance(code, bool) or str(code).strip() != str(pending.pin):
        raise conflict("wrong_verification_code")
    if pending.format == "regular_purchase_bypass" and (
        not regular or amount > REGULAR_BYPASS_MAX_AMOUNT
    ):
        raise conflict("regular_purchase_bypass_is_not_allowed")
    return pending


def calculate_interest(env: Env, call: Call) -> dict[str, Any]:
    """``POST accounts/{n}/calculate-interest``: financing options for an amount."""
    account = account_from_path(env, call)
    amount = money(call.body, "amount")
    v251 = call.version == "v2.5.1"
    promotional = [
        _plan_option(plan, amount, v251=v251, lang=call.lang)
        for plan in plans_for(env.world, account)
    ]
    bypass = (
        account.status == "N"
        and amount <= REGULAR_BYPASS_MAX_AMOUNT
        and regular_purchases_last_24h(env, account) < 3
    )
    return {
        "account_number": account.account_number,
        "account_type": account.account_type,
        "amount": amount,
        "customer": {
            "air": Raw(account.air),
            "available_credit": account.available_credit,
            "first_name": account.first_name,
            "last_name": account.last_name,
            "category_type": _CATEGORY.get(account.risk_rating, "standard"),
        },
        "regular_purchase": {
            "term_amount": amount,
            "air": Raw(account.air),
            "fees": [],
            "verify": bypass,
        },
        "promotional_purchase": promotional,
    }


def _plan_option(plan: Plan, amount: Decimal, *, v251: bool, lang: str) -> dict[str, Any]:
    """One ``promotional_purchase`` item: the plan's terms for ``amount``."""
    terms: list[dict[str, Any]] = []
    for term in plan.term_options:
        if plan.offer_category == "equal_billing":
            payment = (amount / term).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        else:
            payment = amount
        fees = (
            [
                {
                    "description": "Admin fee",
                    "amount": plan.admin_fee,
                    "type": "admin_total",
                    "message": "One-time administration fee",
                }
            ]
            if plan.admin_fee
            else []
        )
        entry: dict[str, Any] = {"term": term, "term_amount": payment}
        if v251:
            entry["annual_rates"] = rates_view(plan.rate, lang)
        else:
            entry["apr"] = Raw(plan.rate)
        entry["fees"] = fees
        terms.append(entry)
    item: dict[str, Any] = {"plan_id": plan.plan_id}
    if v251:
        item["plan_name"] = plan.plan_name
    item["terms"] = terms
    return item


def close(env: Env, call: Call) -> dict[str, Any]:
    """``POST accounts/{n}/close``: closes a Quebec account.

    Flexiti documents this endpoint for QC accounts only and lists no error for others;
    strict: 409 ``wrong_inputs`` on ``account_number`` (a documented global code).
    """
    account = account_from_path(env, call)
    if env.options.close_quebec_only and account.province != "QC":
        raise bad("account_number", "only Quebec (QC) accounts can be closed", account.province)
    account.status, account.reason_code = "C", "FCLC"
    return {}


_AAMVA = {
    "DAC": "first_name",
    "DAD": "middle_name",
    "DCS": "last_name",
    "DBB": "dob",
    "DAG": "address_1",
    "DAI": "city",
    "DAJ": "province",
    "DAK": "postal_code",
    "DAQ": "govid_number",
    "DBA": "govid_expiry",
}


def _aamva_date(value: str) -> str:
    digits = value.strip()
    if len(digits) == 8 and digits.isdigit():
        if int(digits[:4]) > 1900:  # YYYYMMDD (Canada)
            return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
        return f"{digits[4:]}-{digits[:2]}-{digits[2:4]}"  # MMDDYYYY (US)
    return digits


def drivers_license(env: Env, call: Call) -> dict[str, Any]:
    """``POST customers/driverslicense``: decode the AAMVA text of a PDF417 barcode."""
    code = call.body.get("code")
    if not isinstance(code, str) or not code.strip():
        raise bad("code", "required")
    fields: dict[str, Any] = dict.fromkeys(_AAMVA.values(), "")
    for line in code.replace("\r", "\n").split("\n"):
        line = line.strip()
        name = _AAMVA.get(line[:3])
        if name:
            fields[name] = line[3:].strip()
    if not fields["last_name"] or not fields["first_name"]:
        raise bad("code", "invalid")
    for key in ("dob", "govid_expiry"):
        fields[key] = _aamva_date(fields[key])
    fields["govid_type"] = "CADL"
    fields["govid_issuedby"] = fields["province"]
    return fields
