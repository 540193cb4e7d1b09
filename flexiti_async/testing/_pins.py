"""Reading the PIN a sandbox "sent" to a customer, through the client under test."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._admin import PIN_PATH

if TYPE_CHECKING:
    from flexiti_async import FlexitiClient

__all__ = ["read_pin"]


async def read_pin(flexiti: FlexitiClient, account_number: int) -> int:
    """The PIN a sandbox last sent to ``account_number`` by SMS or email.

    Calls the sandbox-only route ``GET sandbox/accounts/{n}/pin`` with ``flexiti``'s own
    token, so it works against a sandbox in another process (``flexiti sandbox serve``)
    as well as in process. Raises `flexiti_async.errors.NotFoundError` when no PIN is
    pending for the account (never sent, already used, or sent to another client), and
    against the real Flexiti (which has no such route).

    >>> await flexiti.accounts.verify(account_number, format="sms", request_id=request_id)
    >>> pin = await read_pin(flexiti, account_number)
    """
    path = PIN_PATH.format(account_number=int(account_number))
    body = await flexiti.request("GET", path)
    return int(body["verification_code"])
