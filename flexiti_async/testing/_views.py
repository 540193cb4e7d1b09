"""Response bodies, in exactly the shapes of docs/wire-assumptions.md."""

from __future__ import annotations

from typing import Any

from ._json import Raw
from ._state import Account, Authorization, Capture, Plan, Release, Return, Transaction
from ._world import World

__all__ = [
    "account_summary",
    "authorization_view",
    "capture_view",
    "message",
    "plans_for",
    "profile_view",
    "rates_view",
    "release_view",
    "return_view",
    "transaction_view",
]

_MESSAGES = {
    ("capture", "en"): "Capture successful",
    ("capture", "fr"): "Capture réussie",
    ("rate", "en"): "Annual interest rate",
    ("rate", "fr"): "Taux d'intérêt annuel",
}


def message(key: str, lang: str) -> str:
    """A localized text (``en`` / ``fr``)."""
    return _MESSAGES.get((key, lang)) or _MESSAGES[(key, "en")]


def plans_for(world: World, account: Account) -> list[Plan]:
    """Plans this customer may use: prime-only plans need a prime rating; some exclude provinces."""
    return [
        plan
        for plan in world.plans.values()
        if (account.is_prime or not plan.prime_only)
        and account.province not in plan.excluded_provinces
    ]


def account_summary(account: Account, merchant_id: str, merchant_name: str) -> dict[str, Any]:
    """One element of ``customers/search``."""
    return {
        "customer_id": account.customer_id,
        "account_status": account.status,
        "account_status_reason_code": account.reason_code,
        "tos_agreement": account.tos_agreement,
        "risk_rating": account.risk_rating,
        "account_number": account.account_number,
        "account_type": account.account_type,
        "credit_limit": account.credit_limit,
        "available_credit": account.available_credit,
        "originating_merchant_id": merchant_id,
        "originating_merchant_name": merchant_name,
        "creation_date": account.creation_date,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "card_ending_in": account.card_ending_in,
        "preferred_language": account.preferred_language,
    }


def profile_view(world: World, account: Account) -> dict[str, Any]:
    """The ``customers/lookup`` body."""
    return {
        "available_credit": account.available_credit,
        "account_number": account.account_number,
        "customer_id": account.customer_id,
        "account_status": account.status,
        "account_type": account.account_type,
        "security_qid": {"id": account.security_qid, "text": account.security_question},
        "email": account.email,
        "phone_number": account.phone_number,
        "address_1": account.address_1,
        "address_2": "",
        "city": account.city,
        "postal_code": account.postal_code,
        "province": account.province,
        "payment_protection": account.payment_protection,
        "risk_rating": account.risk_rating,
        "offer_types": [
            {
                "plan_name": plan.plan_name,
                "plan_id": plan.plan_id,
                "offer_category": plan.offer_category,
                "term_options": list(plan.term_options),
            }
            for plan in plans_for(world, account)
        ],
        "card_ending_in": account.card_ending_in,
        "preferred_language": account.preferred_language,
    }


def rates_view(rate: str, lang: str) -> dict[str, Any]:
    """An ``annual_rates`` object (v2.5.1)."""
    return {
        "description": message("rate", lang),
        "rate": Raw(rate),
        "type": "annual_interest_rate",
        "message": message("rate", lang),
    }


def authorization_view(
    world: World, auth: Authorization, *, version: str, lang: str, with_captures: bool
) -> dict[str, Any]:
    """An authorization (``POST authorization``, ``GET authorization/{id}``, list items)."""
    body: dict[str, Any] = {
        "authorization_id": auth.authorization_id,
        "account_number": auth.account_number,
        "reference": auth.reference,
        "authorization_status": auth.status,
        "transaction_type": auth.transaction_type,
        "plan_id": auth.plan_id,
        "term": auth.term,
        "amount": auth.amount,
        "captured_amount": auth.captured_amount,
        "released_amount": auth.released_amount,
        "returned_amount": auth.returned_amount,
        "remaining_authorization_amount": auth.remaining,
        "creation_date": auth.created,
        "external_location_id": auth.external_location_id,
        "external_employee_id": auth.external_employee_id,
        "auto_capture": auth.auto_capture,
    }
    if auth.auto_capture and auth.capture_ids:
        body["capture_id"] = auth.capture_ids[0]
    plan = world.plans.get(auth.plan_id) if auth.plan_id is not None else None
    account = world.accounts.get(auth.account_number)
    rate = plan.rate if plan is not None else (account.air if account else "0.0000")
    if version == "v2.5":
        body["apr"] = Raw(rate)
    else:
        body["annual_rates"] = rates_view(rate, lang)
    if with_captures:
        body["captures"] = [
            capture_view(world.captures[cid], auth, lang=lang) for cid in auth.capture_ids
        ]
    return body


def capture_view(capture: Capture, auth: Authorization, *, lang: str) -> dict[str, Any]:
    """A capture (``POST …/capture`` response and ``GET captures`` items)."""
    return {
        "capture_id": capture.capture_id,
        "authorization_id": capture.authorization_id,
        "account_number": capture.account_number,
        "reference": capture.reference,
        "date": capture.created,
        "amount": capture.amount,
        "remaining_authorization_amount": auth.remaining,
        "remaining_capture_amount": capture.remaining,
        "returned_amount": capture.returned_amount,
        "external_location_id": capture.external_location_id,
        "message": message("capture", lang),
    }


def release_view(release: Release, auth: Authorization) -> dict[str, Any]:
    """A ``POST …/release`` response."""
    return {
        "authorization_id": auth.authorization_id,
        "release_id": release.release_id,
        "amount": release.amount,
        "remaining_authorization_amount": auth.remaining,
        "date": release.created,
        "authorization_status": auth.status,
    }


def return_view(ret: Return, capture: Capture, auth: Authorization) -> dict[str, Any]:
    """A ``POST …/capture/{cid}/return`` response (documented shape)."""
    return {
        "return_id": ret.return_id,
        "reference": ret.reference if ret.reference is not None else capture.reference,
        "capture_id": capture.capture_id,
        "date": ret.created,
        "amount": ret.amount,
        "remaining_capture_amount": capture.remaining,
        "remaining_authorization_amount": auth.remaining,
    }


def transaction_view(txn: Transaction, account: Account) -> dict[str, Any]:
    """A ``POST transactions`` response, with the legacy name fields."""
    return {
        "transaction_id": txn.transaction_id,
        "transaction_type": txn.transaction_type,
        "amount": txn.amount,
        "account_number": txn.account_number,
        "date": txn.created,
        "verified": True,
        "customer_name": account.first_name,
        "customer_lname": account.last_name,
        "total_amount": txn.amount,
    }
