"""Sandbox history: past authorizations with their captures, returns and releases, one or in bulk.

History is written straight into the world (no API call): it is not in the ledger and does
not change available credit.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from ._context import Env
from ._seed import MoneyLike, add_stores, to_money
from ._state import Authorization, HistoryRecord

__all__ = ["add_history", "paused_gc", "seed_history"]

_ZERO = Decimal("0.00")
_CENT = Decimal("0.01")
_EMPLOYEES = tuple(f"{10000 + 37 * n}-EMP" for n in range(50))


@contextmanager
def paused_gc() -> Iterator[None]:
    """Cyclic GC off for a bulk creation of small objects (its passes would dominate)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
        capture = world.new_capture(
            auth, captured, capture_at, reference=reference, location=location, employee=employee
        )
        if returned > 0:
            ret = world.new_return(capture, auth, returned, capture_at, reference)
    if released > 0:
        release = world.new_release(auth, released, capture_at)
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
        capture_amount = _ZERO
    else:
        capture_amount = to_money(captured)
    returned_amount = to_money(returned) if returned is not None else _ZERO
    if released is True:
        release_amount = total - capture_amount
    elif released is None or released is False:
        release_amount = _ZERO
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
    add_stores(env, stores - len(world.stores))
    locations = sorted(world.stores)[:stores]
    accounts = [a.account_number for a in world.accounts.values() if a.status == "N"]
    first_day = start or (env.clock.now().date() - timedelta(days=days))
    cut_partial = open_rate + partial_rate
    cut_return = cut_partial + return_rate
    cuts = (open_rate, cut_partial, cut_return, cut_return + release_rate)
    records: list[HistoryRecord] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        records.extend(_seed_day(env, rng, client_id, day, locations, per_day, accounts, cuts))
    return records


def _seed_day(
    env: Env,
    rng: random.Random,
    client_id: str,
    day: date,
    locations: list[str],
    per_day: int,
    accounts: list[int],
    cuts: tuple[float, float, float, float],
) -> Iterator[HistoryRecord]:
    """One day's sales at every location, in time order (so ids grow with creation time)."""
    # Bound methods and precomputed strings: this loop may run 100,000 times.
    rand, pick = rng.random, rng.choice
    midnight = datetime.combine(day, time(), timezone.utc)
    stamp = f"{day:%Y%m%d}"
    slots = sorted(
        (21600 + int(rand() * 57600), f"ORD-{location}-{stamp}-{index:05d}", location)
        for location in locations
        for index in range(per_day)
    )
    for second, reference, location in slots:
        created = midnight + timedelta(seconds=second)
        capture_at = created + timedelta(seconds=min(int(rand() * 1800), 86399 - second))
        amount = Decimal(2000 + int(rand() * 198000)).scaleb(-2)
        captured, returned, released = _outcome(rand, amount, cuts)
        yield _history(
            env,
            client_id=client_id,
            created=created,
            amount=amount,
            account_number=pick(accounts),
            reference=reference,
            location=location,
            employee=pick(_EMPLOYEES),
            transaction_type="regular_purchase",
            plan_id=None,
            term=None,
            captured=captured,
            capture_at=capture_at,
            returned=returned,
            released=released,
        )


def _outcome(
    rand: Callable[[], float], amount: Decimal, cuts: tuple[float, float, float, float]
) -> tuple[Decimal, Decimal, Decimal]:
    """One roll of the dice: how much of a sale was captured, returned and released."""
    cut_open, cut_partial, cut_return, cut_release = cuts
    roll = rand()
    if roll < cut_open:
        return _ZERO, _ZERO, _ZERO
    if roll < cut_partial:
        captured = (amount / 2).quantize(_CENT)
        return captured, _ZERO, amount - captured if rand() < 0.5 else _ZERO
    if roll < cut_return:
        return amount, (amount / 4).quantize(_CENT), _ZERO
    if roll < cut_release:
        return _ZERO, _ZERO, amount
    return amount, _ZERO, _ZERO
