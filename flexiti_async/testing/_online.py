"""Online-channel and content rules: widget/init, apply, terms, i18n, merchants/login."""

from __future__ import annotations

import uuid
from typing import Any

from ._context import Call, Env
from ._errors import conflict
from ._state import Account
from ._validate import account_number, bad, boolean, optional_string, string

__all__ = ["apply", "i18n", "merchant_login", "terms", "widget_init"]


def widget_init(env: Env, call: Call) -> dict[str, Any]:
    """``POST widget/init``: a widget URL for the ``purchase`` or ``apply`` flow."""
    flow = string(call.body, "flow", 10)
    if flow not in ("purchase", "apply"):
        raise bad("flow", "invalid", flow)
    lang = optional_string(call.body, "lang", 5) or "en"
    if flow == "apply" and not boolean(call.body, "tos_agreement", default=False):
        raise bad("tos_agreement", "required")
    ident = call.body.get("customer_identification")
    if flow == "purchase" and not isinstance(ident, dict):
        raise bad("customer_identification", "required")
    assert call.token is not None
    session = uuid.UUID(int=env.rng.getrandbits(128), version=4)
    if flow == "purchase" and isinstance(ident, dict):
        # The sandbox has no browser: the customer is taken to pass the widget's
        # verification, so the account may now be authorized online.
        found = _identified(env, ident)
        if found is not None:
            key = (call.client_id, found.account_number)
            env.world.widget_sessions.setdefault(key, []).append(str(session))
    url = (
        f"{env.base_url}/#/widget/{call.client_id}/{call.token.access_token}"
        f"?lang={lang}&x-reference-id={call.reference_id}&widget_session_id={session}"
    )
    return {"redirection_url": url}


def _identified(env: Env, ident: dict[str, Any]) -> Account | None:
    """The account a widget ``customer_identification`` names (number, card or person)."""
    world = env.world
    number = account_number(ident)
    if number is not None:
        return world.accounts.get(number)
    vcc = optional_string(ident, "vcc_number", 16)
    if vcc is not None:
        return world.accounts_by_vcc.get(vcc)
    person = ident.get("personal_information")
    if not isinstance(person, dict):
        return None
    first = str(person.get("first_name") or "").lower()
    last = str(person.get("last_name") or "").lower()
    dob = str(person.get("dob") or "")
    for account in world.accounts.values():
        if (account.first_name.lower(), account.last_name.lower(), account.dob.isoformat()) == (
            first,
            last,
            dob,
        ):
            return account
    return None


def apply(env: Env, call: Call) -> dict[str, Any]:
    """``POST apply`` (schema withdrawn by Flexiti): adjudicated by the middle-name key."""
    if not boolean(call.body, "tos_agreement", default=False):
        raise conflict("tos_agreement_required")
    key = str(call.body.get("middle_name") or "").upper()
    if key.startswith("D-"):
        raise conflict("application_declined")
    if key.startswith("P-"):
        raise conflict("application_marked_pending_1")
    first = string(call.body, "first_name", 80)
    last = string(call.body, "last_name", 130)
    from ._seed import new_account  # late import: seeding builds on these rules' records

    account = new_account(env, first_name=first, last_name=last)
    env.world.add_account(account)
    return {
        "application_status": "approved",
        "account_number": account.account_number,
        "customer_id": account.customer_id,
        "credit_limit": account.credit_limit,
    }


def terms(env: Env, call: Call) -> dict[str, Any]:
    """``GET terms-and-conditions``."""
    text = {
        "en": "Sandbox cardholder agreement. Not a real credit agreement.",
        "fr": "Convention de titulaire de carte du bac à sable.",
    }
    return {"lang": call.lang, "terms_and_conditions": text.get(call.lang, text["en"])}


def i18n(env: Env, call: Call) -> dict[str, Any]:
    """``GET`` / ``POST i18n``: a few localized UI strings."""
    strings = {
        "en": {"apply": "Apply now", "purchase": "Pay with Flexiti"},
        "fr": {"apply": "Faites une demande", "purchase": "Payez avec Flexiti"},
    }
    return {"lang": call.lang, "messages": strings.get(call.lang, strings["en"])}


def merchant_login(env: Env, call: Call) -> dict[str, Any]:
    """``POST merchants/login`` (deprecated): merchant name and form option lists."""
    merchant = env.world.merchants[call.client_id]
    username = optional_string(call.body, "merchant_username", 100)
    if username is not None and call.body.get("merchant_password") != "sandbox":
        raise conflict("authentication_failure")
    return {
        "merchant_name": merchant.merchant_name,
        "merchant_id": merchant.merchant_id,
        "form_values": {
            "salutation": {"options": {"mr": "Mr.", "ms": "Ms.", "mrs": "Mrs.", "mss": "Miss"}},
            "province": {"options": {p: p for p in ("AB", "BC", "MB", "ON", "QC")}},
            "security_qid": {"options": {"6": "What is your favourite colour?"}},
            "govid_type": {"options": {"CADL": "Driver's licence", "CAP": "Passport"}},
        },
    }
