"""Compact, picklable per-record state: what the classification needs from Flexiti's items.

A listed `Authorization` or `Capture` keeps its raw JSON (``raw``) and many fields the
reconciliation never reads; a shard reduces each one to a few slots as soon as it arrives, so
a `Partial` stays small enough to ship between processes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from attrs import frozen

from ..models.authorizations import Authorization, Capture
from ..models.enums import AuthorizationStatus

__all__ = ["AuthState", "CaptureState", "RefState", "as_utc"]

ZERO = Decimal("0")


def as_utc(value: datetime | None) -> datetime | None:
    """An aware UTC timestamp (a naive one is taken as UTC: Flexiti's history is UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


@frozen
class AuthState:
    """One authorization as the matcher sees it (money as `Decimal`, ``created`` in UTC)."""

    authorization_id: int
    reference: str | None
    store: str | None
    amount: Decimal
    captured: Decimal
    returned: Decimal
    remaining: Decimal
    is_open: bool
    created: datetime | None

    @classmethod
    def from_model(cls, auth: Authorization) -> AuthState:
        """Reduce a listed authorization (missing figures count as 0)."""
        amount = auth.amount if auth.amount is not None else ZERO
        captured = auth.captured_amount if auth.captured_amount is not None else ZERO
        remaining = auth.remaining_authorization_amount
        if remaining is None:
            remaining = amount - captured - (auth.released_amount or ZERO)
        status = auth.authorization_status
        # No status sent: open while something remains (the documented meaning).
        is_open = remaining > 0 if status is None else status == AuthorizationStatus.OPENED
        return cls(
            authorization_id=auth.authorization_id,
            reference=auth.reference,
            store=auth.external_location_id,
            amount=amount,
            captured=captured,
            returned=auth.returned_amount if auth.returned_amount is not None else ZERO,
            remaining=remaining,
            is_open=is_open,
            created=as_utc(auth.creation_date),
        )


@frozen
class CaptureState:
    """One capture: its figures, the authorization it belongs to, its date (UTC)."""

    capture_id: int
    authorization_id: int | None
    reference: str | None
    store: str | None
    amount: Decimal
    returned: Decimal
    date: datetime | None

    @classmethod
    def from_model(cls, capture: Capture) -> CaptureState:
        """Reduce a listed capture (missing figures count as 0)."""
        return cls(
            capture_id=capture.capture_id,
            authorization_id=capture.authorization_id,
            reference=capture.reference,
            store=capture.external_location_id,
            amount=capture.amount if capture.amount is not None else ZERO,
            returned=capture.returned_amount if capture.returned_amount is not None else ZERO,
            date=as_utc(capture.date),
        )


@frozen
class RefState:
    """Everything one shard saw under one reference (each record once, by id)."""

    authorizations: tuple[AuthState, ...] = ()
    captures: tuple[CaptureState, ...] = ()
