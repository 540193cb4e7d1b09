"""Deterministic world building: merchants, plans, stores and accounts."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from ._context import Env
from ._state import Account, Merchant, Plan, Store

__all__ = [
    "DEFAULT_PLANS",
    "MoneyLike",
    "add_merchant",
    "add_stores",
    "new_account",
    "new_credentials",
    "new_store",
    "seed_world",
    "to_money",
]

MoneyLike = Decimal | int | str

DEFAULT_PLANS = (
    Plan(1, "6/12 months equal payments", "equal_billing", (6, 12), "0.0999", Decimal("0.00")),
    Plan(2, "18/24 months equal payments", "equal_billing", (18, 24), "0.0999",
         Decimal("29.00"), prime_only=True),
    Plan(3, "Deferred payment 3/6 months", "deferred_payment", (3, 6), "0.0000",
         Decimal("19.00"), excluded_provinces=frozenset({"QC"})),
    Plan(4, "No interest 12 months", "deferred_payment", (12,), "0.0000",
         Decimal("49.00"), prime_only=True),
)  # fmt: skip

_FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn")
_LAST = ("Tremblay", "Gagnon", "Roy", "Smith", "Brown", "Wilson", "Martin", "Lee", "Singh", "Chen")
_QUESTIONS = {
    4: "What was the name of your first pet?",
    5: "In what city were you born?",
    6: "What is your favourite colour?",
    7: "What was the make of your first car?",
    8: "What is your mother's maiden name?",
    9: "What was the name of your elementary school?",
}
_ANSWERS = ("blue", "rex", "montreal", "civic", "martin", "lakeview")
_REASONS = {"N": "NNOR", "A": "AAUT", "F": "FFRD", "Z": "ZCCO", "C": "FCLC"}
_PROVINCE_CITY = {"ON": ("Toronto", "M5V2T6"), "QC": ("Montreal", "H2X1Y4"),
                  "BC": ("Vancouver", "V6B1A1"), "AB": ("Calgary", "T2P1J9")}  # fmt: skip
_PRIME = frozenset({"L", "M", "H", "X"})


def to_money(value: MoneyLike) -> Decimal:
    """A ``Decimal`` amount with two places from a Decimal, int or string."""
    return Decimal(value).quantize(Decimal("0.01"))


def _luhn(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


def _unique(rng: random.Random, taken: object, low: int, high: int) -> int:
    for _ in range(1000):
        value = rng.randrange(low, high)
        if value not in taken:  # type: ignore[operator]
            return value
    raise RuntimeError("could not find a free number")


def new_account(
    env: Env,
    *,
    account_number: int | None = None,
    customer_id: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    dob: date | None = None,
    postal_code: str | None = None,
    status: str = "N",
    reason_code: str | None = None,
    credit_limit: MoneyLike = "5000.00",
    available_credit: MoneyLike | None = None,
    risk_rating: str = "M",
    province: str = "ON",
    account_type: str = "consumer",
    cards: int | Sequence[str] = 1,
    security_qid: int = 6,
    security_answer: str | None = None,
    phone_number: str | None = "4165550100",
    email: str | None = "customer@example.com",
    preferred_language: str | None = None,
    active: bool = True,
) -> Account:
    """Build (not register) an account; numbers and names come from the sandbox RNG."""
    rng, world = env.rng, env.world
    if status not in _REASONS:
        raise ValueError(f"status must be one of {sorted(_REASONS)}")
    if security_qid not in _QUESTIONS:
        raise ValueError(f"security_qid must be one of {sorted(_QUESTIONS)}")
    number = account_number or _unique(rng, world.accounts, 10**13, 10**14)
    if isinstance(cards, int):
        vccs = [_luhn(f"60{rng.randrange(10**12, 10**13)}") for _ in range(cards)]
    else:
        vccs = list(cards)
    for vcc in vccs:
        if len(vcc) != 16 or not vcc.isdigit():
            raise ValueError("card numbers have 16 digits")
    city, postal = _PROVINCE_CITY.get(province, ("Ottawa", "K1A0B1"))
    limit = to_money(credit_limit)
    return Account(
        account_number=number,
        customer_id=customer_id or str(_unique(rng, world.accounts_by_customer, 10**11, 10**12)),
        first_name=first_name or rng.choice(_FIRST),
        last_name=last_name or rng.choice(_LAST),
        dob=dob or date(rng.randrange(1950, 2000), rng.randrange(1, 13), rng.randrange(1, 29)),
        postal_code=postal_code or postal,
        status=status,
        reason_code=reason_code or _REASONS[status],
        credit_limit=limit,
        available_credit=limit if available_credit is None else to_money(available_credit),
        risk_rating=risk_rating,
        province=province,
        account_type=account_type,
        vccs=vccs,
        security_qid=security_qid,
        security_question=_QUESTIONS[security_qid],
        security_answer=security_answer or rng.choice(_ANSWERS),
        phone_number=phone_number,
        email=email,
        preferred_language=preferred_language or ("fr-CA" if province == "QC" else "en-CA"),
        city=city,
        active=active,
        air="0.1999" if risk_rating in _PRIME else "0.2999",
    )


def new_store(env: Env, external_location_id: str | None = None, name: str | None = None) -> Store:
    """Build (not register) a store; ids run ``00-00001``, ``00-00002``, ..."""
    location = external_location_id or f"00-{len(env.world.stores) + 1:05d}"
    return Store(location, name or f"Sandbox store {location}")


def add_stores(env: Env, count: int) -> None:
    """Register ``count`` generated stores (none if ``count`` is not positive)."""
    for _ in range(count):
        store = new_store(env)
        env.world.stores[store.external_location_id] = store


def new_credentials(
    rng: random.Random, client_id: str | None = None, client_secret: str | None = None
) -> tuple[str, str]:
    """A developer client's id and secret: the given ones, else drawn from ``rng``."""
    return (
        client_id or f"sandbox-{rng.getrandbits(32):08x}",
        client_secret or f"{rng.getrandbits(128):032x}",
    )


def add_merchant(
    env: Env,
    client_id: str | None = None,
    client_secret: str | None = None,
    *,
    merchant_name: str,
    merchant_override: bool,
) -> Merchant:
    """Register another developer client, numbered after the merchants already there."""
    client_id, client_secret = new_credentials(env.rng, client_id, client_secret)
    merchant = Merchant(
        client_id,
        client_secret,
        merchant_id=str(100 + len(env.world.merchants)),
        merchant_name=merchant_name,
        merchant_override=merchant_override,
    )
    env.world.merchants[merchant.client_id] = merchant
    return merchant


def seed_world(
    env: Env, client_id: str, client_secret: str, *, merchant_override: bool = False
) -> None:
    """The default world: one merchant, four plans, three stores, accounts in every status."""
    world = env.world
    world.merchants[client_id] = Merchant(
        client_id, client_secret, merchant_override=merchant_override
    )
    for plan in DEFAULT_PLANS:
        world.plans[plan.plan_id] = plan
    add_stores(env, 3)
    specs: list[dict[str, object]] = [
        {"risk_rating": "M", "province": "ON", "credit_limit": "5000.00"},
        {"risk_rating": "L", "province": "ON", "credit_limit": "15000.00"},
        {"risk_rating": "R", "province": "BC", "credit_limit": "2000.00"},
        {"risk_rating": "H", "province": "QC", "credit_limit": "3000.00"},
        {"risk_rating": "M", "province": "AB", "account_type": "business", "cards": 2},
        {"risk_rating": "Y", "province": "ON", "credit_limit": "1000.00", "phone_number": None},
        {"status": "A", "risk_rating": "M"},
        {"status": "F", "risk_rating": "M"},
        {"status": "Z", "risk_rating": "S"},
        {"status": "C", "risk_rating": "M"},
    ]
    for spec in specs:
        world.add_account(new_account(env, **spec))  # type: ignore[arg-type]
