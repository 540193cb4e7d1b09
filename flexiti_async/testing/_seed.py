"""Deterministic world building: merchants, plans, stores, accounts, and bulk history."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from ._context import Env
from ._state import (
    Account,
    Authorization,
    Capture,
    HistoryRecord,
    Merchant,
    Plan,
    Release,
    Return,
    Store,
)

__all__ = [
    "DEFAULT_PLANS",
    "MoneyLike",
    "add_history",
    "new_account",
    "new_store",
    "seed_history",
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


def seed_world(env: Env, client_id: str, client_secret: str) -> None:
    """The default world: one merchant, four plans, three stores, accounts in every status."""
    world = env.world
    world.merchants[client_id] = Merchant(client_id, client_secret)
    for plan in DEFAULT_PLANS:
        world.plans[plan.plan_id] = plan
    for _ in range(3):
        store = new_store(env)
        world.stores[store.external_location_id] = store
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


def _history(
    env: Env,
    *,
    client_id: str,
    created: datetime,
    amount: Decimal,
    account_number: int,
    reference: str | None,
    location: str | None,
    employee: str | None,
    transaction_type: str,
    plan_id: int | None,
    term: int | None,
    captured: Decimal,
    capture_at: datetime,
    returned: Decimal,
    released: Decimal,
) -> HistoryRecord:
    world = env.world
    auth = Authorization(
        authorization_id=world.next_id("authorization"),
        client_id=client_id,
        account_number=account_number,
        amount=amount,
        created=created,
        transaction_type=transaction_type,
        plan_id=plan_id,
        term=term,
        reference=reference,
        external_location_id=location,
        external_employee_id=employee,
    )
    world.add_authorization(auth)
    capture = ret = release = None
    if captured > 0:
        capture = Capture(
            capture_id=world.next_id("capture"),
            authorization_id=auth.authorization_id,
            client_id=client_id,
            account_number=account_number,
            amount=captured,
            created=capture_at,
            reference=reference,
            external_location_id=location,
            external_employee_id=employee,
            returned_amount=returned,
        )
        auth.captured_amount = captured
        auth.returned_amount = returned
        world.add_capture(capture)
        if returned > 0:
            ret = Return(
                return_id=world.next_id("return"),
                capture_id=capture.capture_id,
                authorization_id=auth.authorization_id,
                amount=returned,
                created=capture_at,
                reference=reference,
            )
            world.returns.append(ret)
    if released > 0:
        release = Release(world.next_id("release"), auth.authorization_id, released, capture_at)
        auth.released_amount = released
        world.releases.append(release)
    return HistoryRecord(auth, capture, ret, release)


def add_history(
    env: Env,
    *,
    client_id: str,
    created: datetime,
    amount: MoneyLike,
    account_number: int | None = None,
    reference: str | None = None,
    external_location_id: str | None = None,
    external_employee_id: str | None = None,
    transaction_type: str = "regular_purchase",
    plan_id: int | None = None,
    term: int | None = None,
    captured: MoneyLike | bool = True,
    returned: MoneyLike | None = None,
    released: MoneyLike | bool | None = None,
    captured_at: datetime | None = None,
) -> HistoryRecord:
    """Register one historical authorization (with capture/return/release) at ``created``."""
    world = env.world
    total = to_money(amount)
    if captured is True:
        capture_amount = total
    elif captured is False:
        capture_amount = Decimal("0.00")
    else:
        capture_amount = to_money(captured)
    returned_amount = to_money(returned) if returned is not None else Decimal("0.00")
    if released is True:
        release_amount = total - capture_amount
    elif released is None or released is False:
        release_amount = Decimal("0.00")
    else:
        release_amount = to_money(released)
    if capture_amount + release_amount > total or returned_amount > capture_amount:
        raise ValueError("captured + released must not exceed amount; returned <= captured")
    if account_number is None:
        account_number = next(a.account_number for a in world.accounts.values() if a.status == "N")
    elif account_number not in world.accounts:
        raise ValueError(f"unknown account {account_number}")
    if external_location_id is not None and external_location_id not in world.stores:
        raise ValueError(f"unknown store {external_location_id!r}; add_store() it first")
    when = created if created.tzinfo else created.replace(tzinfo=timezone.utc)
    return _history(
        env,
        client_id=client_id,
        created=when,
        amount=total,
        account_number=account_number,
        reference=reference,
        location=external_location_id,
        employee=external_employee_id,
        transaction_type=transaction_type,
        plan_id=plan_id,
        term=term,
        captured=capture_amount,
        capture_at=captured_at or when,
        returned=returned_amount,
        released=release_amount,
    )


def seed_history(
    env: Env,
    *,
    client_id: str,
    days: int,
    stores: int,
    per_day: int,
    start: date | None = None,
    seed: int | None = None,
    open_rate: float = 0.05,
    partial_rate: float = 0.05,
    return_rate: float = 0.05,
    release_rate: float = 0.02,
) -> list[HistoryRecord]:
    """Create ``days x stores x per_day`` historical authorizations (see FlexitiSandbox)."""
    world = env.world
    rng = random.Random(seed if seed is not None else env.rng.getrandbits(32))
    if days < 0 or stores < 1 or per_day < 0:
        raise ValueError("days >= 0, stores >= 1, per_day >= 0")
    for _ in range(max(0, stores - len(world.stores))):
        store = new_store(env)
        world.stores[store.external_location_id] = store
    locations = sorted(world.stores)[:stores]
    accounts = [a.account_number for a in world.accounts.values() if a.status == "N"]
    first_day = start or (env.clock.now().date() - timedelta(days=days))
    zero, cent = Decimal("0.00"), Decimal("0.01")
    # Bound methods and precomputed strings: this loop may run 100,000 times.
    rand, pick = rng.random, rng.choice
    employees = [f"{10000 + 37 * n}-EMP" for n in range(50)]
    cut_open = open_rate
    cut_partial = cut_open + partial_rate
    cut_return = cut_partial + return_rate
    cut_release = cut_return + release_rate
    records: list[HistoryRecord] = []
    append = records.append
    for offset in range(days):
        current = first_day + timedelta(days=offset)
        midnight = datetime.combine(current, time(), timezone.utc)
        stamp = f"{current:%Y%m%d}"
        # One day's sales in time order, so ids grow with creation time.
        slots = sorted(
            (21600 + int(rand() * 57600), f"ORD-{location}-{stamp}-{index:05d}", location)
            for location in locations
            for index in range(per_day)
        )
        for second, reference, location in slots:
            created = midnight + timedelta(seconds=second)
            capture_at = created + timedelta(seconds=min(int(rand() * 1800), 86399 - second))
            amount = Decimal(2000 + int(rand() * 198000)).scaleb(-2)
            roll = rand()
            captured, returned, released = amount, zero, zero
            if roll < cut_open:
                captured = zero
            elif roll < cut_partial:
                captured = (amount / 2).quantize(cent)
                released = amount - captured if rand() < 0.5 else zero
            elif roll < cut_return:
                returned = (amount / 4).quantize(cent)
            elif roll < cut_release:
                captured, released = zero, amount
            append(
                _history(
                    env,
                    client_id=client_id,
                    created=created,
                    amount=amount,
                    account_number=pick(accounts),
                    reference=reference,
                    location=location,
                    employee=pick(employees),
                    transaction_type="regular_purchase",
                    plan_id=None,
                    term=None,
                    captured=captured,
                    capture_at=capture_at,
                    returned=returned,
                    released=released,
                )
            )
    return records
