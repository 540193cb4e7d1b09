"""Compact, picklable per-record state: what the classification needs from Flexiti's items.

A listed `Authorization` or `Capture` keeps its raw JSON (``raw``) and many fields the
reconciliation never reads; a shard reduces each one to a few slots as soon as it arrives, so
a `Partial` stays small enough to ship between processes.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import NamedTuple

from ..models.authorizations import Authorization, Capture
from ..models.enums import AuthorizationStatus

__all__ = ["AuthState", "CaptureState", "RefState", "as_utc"]
# Named tuples rather than attrs classes: hundreds of thousands are built per run, and a
# frozen attrs instance costs about twice as much to create.

ZERO = Decimal("0")


# Zeros are the most common figures (returned, remaining, released): one object per spelling.
_ZEROS: dict[str, Decimal] = {}


def _money(value: Decimal | None, same_as: Decimal | None = None) -> Decimal:
    """The figure, sharing one object with ``same_as`` (or other zeros) when it is equal and
    spelled alike: a shard keeps hundreds of thousands of them."""
    if value is None:
        return ZERO
    if same_as is not None and value == same_as and str(value) == str(same_as):
        return same_as
    if not value:
        return _ZEROS.setdefault(str(value), value)
    return value


def _store(value: str | None) -> str | None:
    # A few stores, each named on every record: one string per store.
    return None if value is None else sys.intern(value)


def as_utc(value: datetime | None) -> datetime | None:
    """An aware UTC timestamp (a naive one is taken as UTC: Flexiti's history is UTC)."""
    if value is None:
        return None
    tzinfo = value.tzinfo
    if tzinfo is timezone.utc:
        return value  # what the decoder gives for a "Z" timestamp: nothing to do
    if tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class AuthState(NamedTuple):
    """One authorization as the matcher sees it (money as `Decimal`, ``created`` in UTC).

    A named tuple: immutable, compact, picklable and quick to build (one per listed item).
    """

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
        amount = _money(auth.amount)
        captured = _money(auth.captured_amount, amount)
        remaining = auth.remaining_authorization_amount
        if remaining is None:
            remaining = amount - captured - (auth.released_amount or ZERO)
        remaining = _money(remaining)
        status = auth.authorization_status
        # No status sent: open while something remains (the documented meaning).
        is_open = remaining > 0 if status is None else status == AuthorizationStatus.OPENED
        return cls(
            authorization_id=auth.authorization_id,
            reference=auth.reference,
            store=_store(auth.external_location_id),
            amount=amount,
            captured=captured,
            returned=_money(auth.returned_amount),
            remaining=remaining,
            is_open=is_open,
            created=as_utc(auth.creation_date),
        )


class CaptureState(NamedTuple):
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
            store=_store(capture.external_location_id),
            amount=_money(capture.amount),
            returned=_money(capture.returned_amount),
            date=as_utc(capture.date),
        )


class RefState(NamedTuple):
    """Everything one shard saw under one reference (each record once, by id)."""

    authorizations: tuple[AuthState, ...] = ()
    captures: tuple[CaptureState, ...] = ()
