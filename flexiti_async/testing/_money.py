"""Money rules: authorizations, captures, releases, returns and refunds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from ._context import Call, Env
from ._customers import (
    account_from_path,
    check_can_purchase,
    check_card,
    check_verification,
)
from ._errors import ApiError, conflict, not_found
from ._ledger import LedgerEntry
from ._state import Account, Authorization, Capture, PendingVerification
from ._validate import (
    account_number,
    bad,
    boolean,
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
)
from ._world import World

__all__ = [
    "authorize",
    "capture",
    "record",
    "refund",
    "release",
    "retrieve_authorization",
    "return_capture",
    "store_codes",
]

_PURCHASE_TYPES = ("promotional_purchase", "regular_purchase")
# Body fields that mark an in-store call (the till sends them; the widget flow does not).
_IN_STORE_FIELDS = (
    "verification_code",
    "request_id",
    "external_location_id",
    "external_employee_id",
)


def record(env: Env, call: Call, kind: str, amount: Decimal, account: int, **ids: Any) -> None:
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


def store_codes(env: Env, call: Call) -> tuple[str | None, str | None]:
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
    kind, plan_id, term = _financing(body)
    auto_capture = boolean(body, "auto_capture")
    reference = optional_string(body, "reference", 40)
    vcc = optional_string(body, "vcc_number", 16)
    account = world.accounts.get(number)
    if account is None:
        raise not_found("account not found")
    check_card(env, account, vcc)
    check_can_purchase(account)
    if plan_id is not None:
        _check_plan(world, account, plan_id, term)
    location, employee = store_codes(env, call)
    pending, session = _identify(env, call, account, kind=kind, amount=amount)
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
    record(env, call, "authorization", amount, number, authorization_id=auth.authorization_id)
    if auto_capture:
        _apply_capture(env, call, auth, amount, reference, location, employee)
    return authorization_view(
        world, auth, version=call.version, lang=call.lang, with_captures=False
    )


def _financing(body: dict[str, Any]) -> tuple[str, int | None, int | None]:
    """``financing_option``: the transaction type, and the plan and term of a promotion."""
    option = body.get("financing_option")
    if not isinstance(option, dict):
        raise bad("financing_option", "required")
    kind = string(option, "transaction_type", 30)
    if kind not in _PURCHASE_TYPES:
        raise bad("financing_option.transaction_type", "invalid", kind)
    if kind != "promotional_purchase":
        return kind, None, None
    return kind, integer(option, "plan_id"), integer(option, "term")


def _check_plan(world: World, account: Account, plan_id: int, term: int | None) -> None:
    """The plan exists, this customer may use it, and it offers ``term``."""
    plan = world.plans.get(plan_id)
    if plan is None:
        raise conflict("plan_term_not_set")
    if plan not in plans_for(world, account) or term not in plan.term_options:
        raise conflict("plan_term_not_available")


def _identify(
    env: Env, call: Call, account: Account, *, kind: str, amount: Decimal
) -> tuple[PendingVerification | None, str | None]:
    """How the customer was identified: an in-store PIN, or an online widget session."""
    body = call.body
    if any(body.get(name) not in (None, "") for name in _IN_STORE_FIELDS):
        if env.options.require_pin or body.get("verification_code") not in (None, ""):
            pending = check_verification(
                env, call, account, regular=kind == "regular_purchase", amount=amount
            )
            return pending, None
        return None, None
    if env.options.require_widget:
        return None, _widget_session(env, call, account.account_number)
    return None, None


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
    capture = env.world.new_capture(
        auth,
        amount,
        env.clock.now(),
        reference=reference if reference is not None else auth.reference,
        location=location if location is not None else auth.external_location_id,
        employee=employee if employee is not None else auth.external_employee_id,
    )
    record(
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
    location, employee = store_codes(env, call)
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
    store_codes(env, call)
    if auth.status == "closed":
        raise conflict("authorization_ended")
    amount = auth.remaining if requested is None else requested
    if amount > auth.remaining:
        raise conflict("auth_amount_exceeded")
    world = env.world
    done = world.new_release(auth, amount, env.clock.now())
    account = world.accounts.get(auth.account_number)
    if account is not None:
        account.available_credit += amount
    record(
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
    store_codes(env, call)
    now = env.clock.now()
    if now - captured.created > timedelta(days=env.options.return_window_days):
        raise conflict("return_date_exceeded")
    if env.options.returns_promotional_only and auth.transaction_type != "promotional_purchase":
        raise conflict("wrong_transaction_type")
    amount = captured.remaining if full else requested
    assert amount is not None
    if amount <= 0 or amount > captured.remaining:
        raise conflict("capture_amount_exceeded")
    done = world.new_return(captured, auth, amount, now, reference)
    if account is not None:
        account.available_credit += amount
    record(
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
    store_codes(env, call)
    if amount > account.credit_limit - account.available_credit:
        raise conflict("refunds_limit_exceeded_amount")
    account.available_credit += amount
    record(
        env,
        call,
        "refund",
        amount,
        account.account_number,
        capture_id=capture_id,
        reference=reference,
    )
    return {}
