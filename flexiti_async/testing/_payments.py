"""``POST transactions``: deposits, in-store payments and trade-ins, idempotent by key."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

from ._context import Call, Env, Reply
from ._customers import check_can_purchase, check_card, check_verification
from ._errors import conflict, not_found
from ._json import canonical, dumps
from ._money import record, store_codes
from ._state import Account, Transaction
from ._validate import account_number, bad, money, optional_string
from ._views import transaction_view

__all__ = ["transactions"]

_PAYMENT_TYPES = ("deposit", "instore_payment", "tradein")


def _payment_account(env: Env, call: Call) -> Account:
    body, world = call.body, env.world
    number = account_number(body)
    vcc = optional_string(body, "vcc_number", 16)
    customer = optional_string(body, "customer_id", 41)
    if number is None and vcc is None and customer is None:
        raise bad("account_number", "one of account_number, vcc_number, customer_id")
    if number is not None:
        account = world.accounts.get(number)
    elif vcc is not None:
        account = world.accounts_by_vcc.get(vcc)
    else:
        account = world.accounts_by_customer.get(customer or "")
    if account is None:
        raise not_found("account not found")
    if number is not None:
        check_card(env, account, vcc)
    return account


def transactions(env: Env, call: Call) -> Reply:
    """``POST transactions``: deposits, in-store payments, trade-ins; idempotent by key."""
    key = call.headers.get("x-idempotency-key")
    world = env.world
    body_hash = _body_hash(env, call)
    if key:
        stored = world.idempotency.get((call.client_id, key))
        if stored is not None:
            stored_hash, status, raw = stored
            if env.options.check_context_hash and stored_hash != body_hash:
                raise bad("x-idempotency-key", "already used with a different request body", key)
            return Reply(body=None, status=status, raw=raw, headers={"x-idempotent-replay": "true"})
    kind = call.body.get("transaction_type")
    if kind not in _PAYMENT_TYPES:
        raise conflict("invalid_transaction_type")
    amount = money(call.body, "amount")
    account = _payment_account(env, call)
    check_can_purchase(account)
    location, _employee = store_codes(env, call)
    check_verification(env, call, account, regular=False, amount=amount)
    now = env.clock.now()
    since = now - timedelta(hours=24)
    account.payments = [(t, a) for t, a in account.payments if t > since]
    paid = sum((a for _, a in account.payments), Decimal("0"))
    if paid + amount > Decimal(env.options.daily_payment_limit):
        raise conflict("limit_payment_amount_24")
    account.pending = None  # one use
    account.payments.append((now, amount))
    account.available_credit += amount
    txn = Transaction(
        transaction_id=world.next_id("transaction"),
        client_id=call.client_id,
        transaction_type=str(kind),
        account_number=account.account_number,
        amount=amount,
        created=now,
        external_location_id=location,
    )
    world.transactions.append(txn)
    record(
        env,
        call,
        "transaction",
        amount,
        account.account_number,
        transaction_id=txn.transaction_id,
    )
    raw = dumps(transaction_view(txn, account), amounts_as_strings=env.options.amounts_as_strings)
    if key:
        world.idempotency[(call.client_id, key)] = (body_hash, 200, raw)
    return Reply(body=None, raw=raw)


def _body_hash(env: Env, call: Call) -> str:
    """sha256 of the canonical body; a sent ``x-context-hash`` must equal it.

    Flexiti does not publish its hash: the sandbox takes the one the client sends (hex
    sha256 of the JSON body, keys sorted, compact) and accepts either the canonical form
    or the exact bytes sent.
    """
    digest = hashlib.sha256(canonical(call.body)).hexdigest()
    sent = call.headers.get("x-context-hash")
    if sent is not None and env.options.check_context_hash:
        exact = hashlib.sha256(call.raw).hexdigest()
        if sent.strip().lower() not in (digest, exact):
            raise bad("x-context-hash", "does not match the request body", sent)
    return digest
