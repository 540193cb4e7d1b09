"""Money rules: authorizations, captures, releases, returns, refunds, transactions, listings."""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from ._context import Call, Env, Reply
from ._customers import (
    account_from_path,
    check_can_purchase,
    check_card,
    check_verification,
)
from ._errors import ApiError, conflict, not_found
from ._json import canonical, dumps
from ._state import (
    Account,
    Authorization,
    Capture,
    LedgerEntry,
    Release,
    Return,
    Transaction,
)
from ._validate import (
    account_number,
    bad,
    boolean,
    day,
    integer,
    money,
    optional_integer,
    optional_money,
    optional_string,
    string,
)
from ._views import (
    authorization_view,
    capture_view,
    plans_for,
    release_view,
    return_view,
    transaction_view,
)

__all__ = [
    "authorize",
    "capture",
    "list_authorizations",
    "list_captures",
    "refund",
    "release",
    "retrieve_authorization",
    "return_capture",
    "transactions",
]

_PURCHASE_TYPES = ("promotional_purchase", "regular_purchase")
_PAYMENT_TYPES = ("deposit", "instore_payment", "tradein")
# Body fields that mark an in-store call (the till sends them; the widget flow does not).
_IN_STORE_FIELDS = (
    "verification_code",
    "request_id",
    "external_location_id",
    "external_employee_id",
)


def _ledger(env: Env, call: Call, kind: str, amount: Decimal, account: int, **ids: Any) -> None:
    env.ledger.append(
        LedgerEntry(
            kind=kind,
            amount=amount,
            account_number=account,
            timestamp=env.clock.now(),
            client_id=call.client_id,
            idempotency_key=call.headers.get("x-idempotency-key"),
            reference_id=call.reference_id or None,
            **ids,
        )
    )


def _store(env: Env, call: Call) -> tuple[str | None, str | None]:
    location = optional_string(call.body, "external_location_id", 50)
    employee = optional_string(call.body, "external_employee_id", 50)
    if location is not None and location not in env.world.stores:
        raise conflict("external_location_id_not_found")
    return location, employee


def _authorization(env: Env, call: Call) -> Authorization:
    raw = call.params["authorization_id"]
    if not raw.isdigit():
        raise bad("authorization_id", "invalid", raw)
    auth = env.world.authorizations.get(int(raw))
    if auth is None or auth.client_id != call.client_id:
        raise not_found("authorization not found")
    return auth


def authorize(env: Env, call: Call) -> dict[str, Any]:
    """``POST authorization``: hold credit for a promotional or regular purchase."""
    body, world = call.body, env.world
    number = account_number(body)
    if number is None:
        raise bad("account_number", "required")
    amount = money(body, "amount")
    option = body.get("financing_option")
    if not isinstance(option, dict):
        raise bad("financing_option", "required")
    kind = string(option, "transaction_type", 30)
    if kind not in _PURCHASE_TYPES:
        raise bad("financing_option.transaction_type", "invalid", kind)
    plan_id = term = None
    if kind == "promotional_purchase":
        plan_id = integer(option, "plan_id")
        term = integer(option, "term")
    auto_capture = boolean(body, "auto_capture")
    reference = optional_string(body, "reference", 40)
    vcc = optional_string(body, "vcc_number", 16)
    account = world.accounts.get(number)
    if account is None:
        raise not_found("account not found")
    check_card(env, account, vcc)
    check_can_purchase(account)
    if plan_id is not None:
        plan = world.plans.get(plan_id)
        if plan is None:
            raise conflict("plan_term_not_set")
        if plan not in plans_for(world, account) or term not in plan.term_options:
            raise conflict("plan_term_not_available")
    location, employee = _store(env, call)
    pending = None
    session = None
    if any(body.get(name) not in (None, "") for name in _IN_STORE_FIELDS):
        if env.options.require_pin or body.get("verification_code") not in (None, ""):
            pending = check_verification(
                env, call, account, regular=kind == "regular_purchase", amount=amount
            )
    elif env.options.require_widget:
        session = _widget_session(env, call, number)
    if amount > account.available_credit:
        raise conflict("credit_exceeded")
    now = env.clock.now()
    if pending is not None:
        account.pending = None  # one use
    if session is not None:  # one purchase per widget session
        env.world.widget_sessions[(call.client_id, number)].remove(session)
    account.available_credit -= amount
    if kind == "regular_purchase":
        account.regular_purchases.append(now)
    auth = Authorization(
        authorization_id=world.next_id("authorization"),
        client_id=call.client_id,
        account_number=number,
        amount=amount,
        created=now,
        transaction_type=kind,
        plan_id=plan_id,
        term=term,
        reference=reference,
        external_location_id=location,
        external_employee_id=employee,
        auto_capture=auto_capture,
    )
    world.add_authorization(auth)
    _ledger(env, call, "authorization", amount, number, authorization_id=auth.authorization_id)
    if auto_capture:
        _apply_capture(env, call, auth, amount, reference, location, employee)
    return authorization_view(
        world, auth, version=call.version, lang=call.lang, with_captures=False
    )


def _widget_session(env: Env, call: Call, number: int) -> str:
    """An online authorization needs the customer identified by ``widget/init`` first."""
    sessions = env.world.widget_sessions.get((call.client_id, number))
    if not sessions:
        raise ApiError(
            404,
            "customer_identity_not_found",
            "the customer did not pass through the widget (call widget/init first)",
        )
    given = optional_string(call.body, "widget_session_id", 64)
    if given is None:
        return sessions[0]
    if given not in sessions:
        raise conflict("not_verified", "widget_session_id differs from widget/init")
    return given


def retrieve_authorization(env: Env, call: Call) -> dict[str, Any]:
    """``GET authorization/{id}``: one authorization with its captures."""
    auth = _authorization(env, call)
    return authorization_view(
        env.world, auth, version=call.version, lang=call.lang, with_captures=True
    )


def _apply_capture(
    env: Env,
    call: Call,
    auth: Authorization,
    amount: Decimal,
    reference: str | None,
    location: str | None,
    employee: str | None,
) -> Capture:
    world = env.world
    capture = Capture(
        capture_id=world.next_id("capture"),
        authorization_id=auth.authorization_id,
        client_id=auth.client_id,
        account_number=auth.account_number,
        amount=amount,
        created=env.clock.now(),
        reference=reference if reference is not None else auth.reference,
        external_location_id=location if location is not None else auth.external_location_id,
        external_employee_id=employee if employee is not None else auth.external_employee_id,
    )
    auth.captured_amount += amount
    world.add_capture(capture)
    _ledger(
        env,
        call,
        "capture",
        amount,
        auth.account_number,
        authorization_id=auth.authorization_id,
        capture_id=capture.capture_id,
        reference=capture.reference,
    )
    return capture


def capture(env: Env, call: Call) -> dict[str, Any]:
    """``POST authorization/{id}/capture``: capture part or all of the remaining amount."""
    auth = _authorization(env, call)
    amount = money(call.body, "amount")
    reference = optional_string(call.body, "reference", 40)
    location, employee = _store(env, call)
    if auth.status == "closed":
        raise conflict("authorization_ended")
    if amount > auth.remaining:
        raise conflict("auth_amount_exceeded")
    done = _apply_capture(env, call, auth, amount, reference, location, employee)
    return capture_view(done, auth, lang=call.lang)


def release(env: Env, call: Call) -> dict[str, Any]:
    """``POST authorization/{id}/release``: release the remaining amount (all if omitted)."""
    auth = _authorization(env, call)
    requested = optional_money(call.body, "amount")
    _store(env, call)
    if auth.status == "closed":
        raise conflict("authorization_ended")
    amount = auth.remaining if requested is None else requested
    if amount > auth.remaining:
        raise conflict("auth_amount_exceeded")
    world = env.world
    done = Release(
        release_id=world.next_id("release"),
        authorization_id=auth.authorization_id,
        amount=amount,
        created=env.clock.now(),
    )
    auth.released_amount += amount
    world.releases.append(done)
    account = world.accounts.get(auth.account_number)
    if account is not None:
        account.available_credit += amount
    _ledger(
        env,
        call,
        "release",
        amount,
        auth.account_number,
        authorization_id=auth.authorization_id,
        release_id=done.release_id,
        reference=auth.reference,
    )
    return release_view(done, auth)


def return_capture(env: Env, call: Call) -> dict[str, Any]:
    """``POST authorization/{id}/capture/{cid}/return``: full or partial return."""
    auth = _authorization(env, call)
    raw = call.params["capture_id"]
    if not raw.isdigit():
        raise bad("capture_id", "invalid", raw)
    world = env.world
    captured = world.captures.get(int(raw))
    if captured is None or captured.authorization_id != auth.authorization_id:
        raise not_found("capture not found")
    full = boolean(call.body, "full_return", default=False)
    requested = optional_money(call.body, "amount")
    if not full and requested is None:
        raise bad("amount", "required")
    reference = optional_string(call.body, "reference", 40)
    account = world.accounts.get(auth.account_number)
    if account is not None:
        check_card(env, account, optional_string(call.body, "vcc_number", 16))
    _store(env, call)
    now = env.clock.now()
    if now - captured.created > timedelta(days=env.options.return_window_days):
        raise conflict("return_date_exceeded")
    if env.options.returns_promotional_only and auth.transaction_type != "promotional_purchase":
        raise conflict("wrong_transaction_type")
    amount = captured.remaining if full else requested
    assert amount is not None
    if amount <= 0 or amount > captured.remaining:
        raise conflict("capture_amount_exceeded")
    done = Return(
        return_id=world.next_id("return"),
        capture_id=captured.capture_id,
        authorization_id=auth.authorization_id,
        amount=amount,
        created=now,
        reference=reference,
    )
    captured.returned_amount += amount
    auth.returned_amount += amount
    world.returns.append(done)
    if account is not None:
        account.available_credit += amount
    _ledger(
        env,
        call,
        "return",
        amount,
        auth.account_number,
        authorization_id=auth.authorization_id,
        capture_id=captured.capture_id,
        return_id=done.return_id,
        reference=reference if reference is not None else captured.reference,
    )
    return return_view(done, captured, auth)


def refund(env: Env, call: Call) -> dict[str, Any]:
    """``POST accounts/{n}/refund``: account-level credit up to the balance owed."""
    account = account_from_path(env, call)
    amount = money(call.body, "amount")
    reference = optional_string(call.body, "reference", 40)
    capture_id = optional_integer(call.body, "capture_id")
    check_card(env, account, optional_string(call.body, "vcc_number", 16))
    if capture_id is not None:
        captured = env.world.captures.get(capture_id)
        if captured is None or captured.account_number != account.account_number:
            raise not_found("capture not found")
    _store(env, call)
    if amount > account.credit_limit - account.available_credit:
        raise conflict("refunds_limit_exceeded_amount")
    account.available_credit += amount
    _ledger(
        env,
        call,
        "refund",
        amount,
        account.account_number,
        capture_id=capture_id,
        reference=reference,
    )
    return {}


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
    location, _employee = _store(env, call)
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
    _ledger(
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


def _paging(env: Env, call: Call) -> tuple[int, int]:
    number = optional_integer(call.query, "page_number")
    size = optional_integer(call.query, "page_size")
    number = 1 if number is None else number
    size = env.options.default_page_size if size is None else size
    if number < 1:
        raise bad("page_number", "invalid", number)
    if not 1 <= size <= env.options.max_page_size:
        raise bad("page_size", f"must be between 1 and {env.options.max_page_size}", size)
    return number, size


def _window(call: Call) -> tuple[datetime | None, datetime | None]:
    start, end = day(call.query, "creation_date_from"), day(call.query, "creation_date_to")
    if start and end and end < start:
        raise bad("creation_date_to", "before creation_date_from", end)
    lo = datetime.combine(start, time(), timezone.utc) if start else None
    hi = datetime.combine(end + timedelta(days=1), time(), timezone.utc) if end else None
    return lo, hi


def _page(items: list[Any], number: int, size: int) -> tuple[list[Any], dict[str, Any]]:
    total = len(items)
    chunk = items[(number - 1) * size : number * size]
    meta = {
        "page_number": number,
        "page_size": size,
        "total_count": total,
        "total_pages": -(-total // size),
    }
    return chunk, meta


def _envelope(env: Env, name: str, views: list[Any], meta: dict[str, Any]) -> object:
    if env.options.listing_envelope == "list":
        return views
    return {name: views, **meta}


def list_authorizations(env: Env, call: Call) -> object:
    """``GET authorizations``: paged, filtered, sorted by creation time then id."""
    number, size = _paging(env, call)
    lo, hi = _window(call)
    q = call.query
    account = account_number(q)
    kind = optional_string(q, "transaction_type", 30)
    status = optional_string(q, "authorization_status", 10)
    if status is not None and status not in ("opened", "closed"):
        raise bad("authorization_status", "invalid", status)
    store = optional_string(q, "external_location_id", 50) if env.options.store_filter else None
    client = call.client_id
    items = [
        a
        for a in env.world.auth_index.between(lo, hi)
        if a.client_id == client
        and (account is None or a.account_number == account)
        and (kind is None or a.transaction_type == kind)
        and (status is None or a.status == status)
        and (store is None or a.external_location_id == store)
    ]
    chunk, meta = _page(items, number, size)
    views = [
        authorization_view(env.world, a, version=call.version, lang=call.lang, with_captures=False)
        for a in chunk
    ]
    return _envelope(env, "authorizations", views, meta)


def list_captures(env: Env, call: Call) -> object:
    """``GET captures``: paged, filtered, sorted by creation time then id."""
    number, size = _paging(env, call)
    lo, hi = _window(call)
    q = call.query
    account = account_number(q)
    auth_id = optional_integer(q, "authorization_id")
    store = optional_string(q, "external_location_id", 50) if env.options.store_filter else None
    client = call.client_id
    items = [
        c
        for c in env.world.capture_index.between(lo, hi)
        if c.client_id == client
        and (account is None or c.account_number == account)
        and (auth_id is None or c.authorization_id == auth_id)
        and (store is None or c.external_location_id == store)
    ]
    chunk, meta = _page(items, number, size)
    auths = env.world.authorizations
    views = [capture_view(c, auths[c.authorization_id], lang=call.lang) for c in chunk]
    return _envelope(env, "captures", views, meta)
