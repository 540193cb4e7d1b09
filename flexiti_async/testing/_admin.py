"""Sandbox-only routes: what a test needs from a sandbox served in another process.

Flexiti has no such endpoints. They live under ``.../client-id/{client_id}/sandbox/`` and
take the same bearer token as the API, so a test reads only its own client's data.
"""

from __future__ import annotations

from typing import Any

from ._context import Call, Env
from ._customers import account_from_path
from ._errors import not_found

__all__ = ["PIN_PATH", "pending_pin"]

#: Path of the PIN route under ``client-id/{client_id}/`` (API version v2.5).
PIN_PATH = "sandbox/accounts/{account_number}/pin"


def pending_pin(env: Env, call: Call) -> dict[str, Any]:
    """``GET sandbox/accounts/{n}/pin``: the PIN of the account's pending verification.

    What the customer would read from the SMS or email. 404 ``not_found`` when no PIN is
    pending for this client (none sent, already used, or sent for another client).
    """
    account = account_from_path(env, call)
    pending = account.pending
    if pending is None or pending.client_id != call.client_id:
        raise not_found("no verification pending for this account")
    return {
        "account_number": account.account_number,
        "verification_code": pending.pin,
        "format": pending.format,
        "request_id": pending.request_id,
    }
