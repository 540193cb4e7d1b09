"""Pure matching and classification: ledger rows in, Flexiti items streamed through, a Report out.

`Matcher` does no I/O. It is fed the ledger up front and then Flexiti's authorizations and
captures one at a time, in any order and any interleaving (windows are listed concurrently),
and keeps per-reference state only: memory grows with the ledger (plus whatever Flexiti has
that the ledger lacks, which is reported anyway), never with the pages listed. An item seen
twice (a page served again, overlapping windows) is counted once, by its id.

The rules (also in the `reconcile` docstring):

* **Key.** A reference, plus the store where both sides name one: ledger ``(R, S)``
  matches a Flexiti record with reference ``R`` whose ``external_location_id`` is ``S`` or
  empty; a ledger row without a store matches ``R`` at any store.
* **Range.** Ledger sales dated in ``[start, end]`` are reconciled. Returns follow their
  sale: a return row is used when its sale is in range, whatever the return's date. Other
  rows are counted in ``stats["ledger_rows_outside_range"]``. Flexiti items are those
  created in the range (authorizations by ``creation_date``, captures by ``date``).
* **Sale amount.** Flexiti's figure is what was captured: the sum of the authorization's
  captures listed in the range, or (when none was listed, e.g. captured after ``end``) the
  authorization's ``captured_amount``. With nothing captured, an authorization still open
  counts for its authorized ``amount`` (capture pending); a closed one (fully released, a
  voided sale) counts for 0 and needs no ledger row.
* **Return amount.** The sum of the reference's ledger return rows against the sum of
  ``returned_amount`` of its captures (or the authorization's ``returned_amount``).
* **Duplicates.** Two sale rows with one key, or two authorizations with one key, give one
  ``duplicate_reference`` finding and no amount comparison for that key.
* **Missing.** A key with ledger rows and no authorization in range is missing in Flexiti
  (one finding; its returns are part of it). An authorization with a non-zero sale figure
  and no ledger sale is missing in the ledger (one finding; its returns are part of it).
* **Stale.** Every authorization still ``opened``, with remaining amount > 0 and created
  more than ``stale_days`` days before ``as_of``, is a release candidate, whatever else is
  said about its reference.

Money is compared as `Decimal` (``10`` equals ``10.00``); floats are never involved.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from ..models.authorizations import Authorization, Capture
from ..models.enums import AuthorizationStatus
from ._ledger import EntryKind, LedgerRow
from ._report import Discrepancy, DiscrepancyKind, Report, Side

__all__ = ["Matcher"]

ZERO = Decimal("0")
Window = tuple[date, date]


def _utc_day(value: datetime | None) -> date | None:
    """The UTC calendar day of a timestamp (Flexiti filters history by UTC creation date)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.date()


def _compatible(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


class _Auth:
    """What the classification needs from one authorization (not the model: it holds raw JSON)."""

    __slots__ = (
        "amount",
        "authorization_id",
        "captured",
        "created",
        "is_open",
        "remaining",
        "returned",
    )

    def __init__(self, auth: Authorization) -> None:
        self.authorization_id = auth.authorization_id
        self.amount = auth.amount if auth.amount is not None else ZERO
        self.captured = auth.captured_amount if auth.captured_amount is not None else ZERO
        self.returned = auth.returned_amount if auth.returned_amount is not None else ZERO
        remaining = auth.remaining_authorization_amount
        if remaining is None:
            released = auth.released_amount or ZERO
            remaining = self.amount - self.captured - released
        self.remaining = remaining
        status = auth.authorization_status
        if status is None:
            # No status sent: open while something remains (the documented meaning).
            self.is_open = remaining > 0
        else:
            self.is_open = status == AuthorizationStatus.OPENED
        self.created = _utc_day(auth.creation_date)


class _Capture:
    """A capture's figures, kept to sum per authorization."""

    __slots__ = ("amount", "authorization_id", "returned")

    def __init__(self, capture: Capture) -> None:
        self.authorization_id = capture.authorization_id
        self.amount = capture.amount if capture.amount is not None else ZERO
        self.returned = capture.returned_amount if capture.returned_amount is not None else ZERO


class _Slot:
    """Everything known about one key on both sides."""

    __slots__ = ("auths", "captures", "reference", "returns", "sales", "store")

    def __init__(self, reference: str | None, store: str | None) -> None:
        self.reference = reference
        self.store = store
        self.sales: list[LedgerRow] = []
        self.returns: list[LedgerRow] = []
        # Created on first use: most slots get exactly one authorization and one capture.
        self.auths: dict[int, _Auth] | None = None
        self.captures: dict[int, _Capture] | None = None


class Matcher:
    """Streams Flexiti items against a ledger and classifies what it saw.

    >>> matcher = Matcher(rows, start=date(2024, 1, 1), end=date(2024, 1, 31),
    ...                   as_of=date(2024, 2, 1), stale_days=7)            # doctest: +SKIP
    >>> matcher.add_authorization(auth, window=(date(2024, 1, 3), date(2024, 1, 3)))
    >>> matcher.add_capture(capture)
    >>> report = matcher.report()
    """

    def __init__(
        self,
        ledger: Iterable[LedgerRow],
        *,
        start: date,
        end: date,
        as_of: date,
        stale_days: int,
    ) -> None:
        if start > end:
            raise ValueError(f"start ({start}) is after end ({end})")
        if stale_days < 0:
            raise ValueError("stale_days must be >= 0")
        self.start = start
        self.end = end
        self.as_of = as_of
        self.stale_days = stale_days
        self._by_reference: dict[str, list[_Slot]] = {}
        # Flexiti records without a reference, by authorization id (they match no ledger row).
        self._unreferenced: dict[int, _Slot] = {}
        self.stats: dict[str, int] = {
            "ledger_rows": 0,
            "ledger_rows_outside_range": 0,
            "authorizations": 0,
            "captures": 0,
            "repeated_items": 0,
            "out_of_window_items": 0,
            "captures_without_authorization": 0,
            "voided_authorizations": 0,
        }
        self._load(ledger)

    # ------------------------------------------------------------------ ledger

    def _find(self, reference: str, store: str | None) -> _Slot | None:
        for slot in self._by_reference.get(reference, ()):
            if _compatible(slot.store, store):
                return slot
        return None

    def _new(self, reference: str, store: str | None) -> _Slot:
        slot = _Slot(reference, store)
        self._by_reference.setdefault(reference, []).append(slot)
        return slot

    def _load(self, ledger: Iterable[LedgerRow]) -> None:
        returns: list[LedgerRow] = []
        outside = 0
        total = 0
        for row in ledger:
            total += 1
            if row.kind is EntryKind.RETURN:
                returns.append(row)  # placed once every in-range sale is known
            elif self.start <= row.date <= self.end:
                slot = self._find(row.reference, row.store) or self._new(row.reference, row.store)
                slot.sales.append(row)
            else:
                outside += 1
        for row in returns:
            sale = self._find(row.reference, row.store)
            if sale is None or not sale.sales:
                outside += 1
            else:
                sale.returns.append(row)
        self.stats["ledger_rows"] = total
        self.stats["ledger_rows_outside_range"] = outside

    # ------------------------------------------------------------------ Flexiti side

    def _in(self, day: date | None, window: Window | None) -> bool:
        """Whether an item's day is inside its window (and the run's range).

        A server that treats ``creation_date_to`` as inclusive on one side and exclusive on
        the other would hand a boundary item to two windows; it is counted where it belongs.
        """
        if day is None:
            return True
        first, last = window if window is not None else (self.start, self.end)
        return first <= day <= last and self.start <= day <= self.end

    def _slot_for(self, reference: str | None, store: str | None, auth_id: int | None) -> _Slot:
        if reference is None:
            key = auth_id if auth_id is not None else -1
            known = self._unreferenced.get(key)
            if known is None:
                known = self._unreferenced[key] = _Slot(None, store)
            return known
        return self._find(reference, store) or self._new(reference, store)

    def add_authorization(self, auth: Authorization, window: Window | None = None) -> bool:
        """Take one listed authorization; False when it was ignored (repeat, out of window)."""
        if not self._in(_utc_day(auth.creation_date), window):
            self.stats["out_of_window_items"] += 1
            return False
        slot = self._slot_for(auth.reference, auth.external_location_id, auth.authorization_id)
        if slot.auths is None:
            slot.auths = {}
        if auth.authorization_id in slot.auths:
            self.stats["repeated_items"] += 1
            return False
        slot.auths[auth.authorization_id] = _Auth(auth)
        self.stats["authorizations"] += 1
        return True

    def add_capture(self, capture: Capture, window: Window | None = None) -> bool:
        """Take one listed capture; False when it was ignored (repeat, out of window)."""
        if not self._in(_utc_day(capture.date), window):
            self.stats["out_of_window_items"] += 1
            return False
        slot = self._slot_for(
            capture.reference, capture.external_location_id, capture.authorization_id
        )
        if slot.captures is None:
            slot.captures = {}
        if capture.capture_id in slot.captures:
            self.stats["repeated_items"] += 1
            return False
        slot.captures[capture.capture_id] = _Capture(capture)
        self.stats["captures"] += 1
        return True

    # ------------------------------------------------------------------ classification

    def _slots(self) -> Iterable[_Slot]:
        for slots in self._by_reference.values():
            yield from slots
        yield from self._unreferenced.values()

    def report(self, extra_stats: dict[str, int] | None = None) -> Report:
        """Classify everything seen so far into a `Report` (can be called more than once)."""
        stats = dict(self.stats)
        stats["captures_without_authorization"] = 0
        stats["voided_authorizations"] = 0
        found: list[Discrepancy] = []
        matched = 0
        for slot in self._slots():
            found.extend(self._stale(slot))
            if self._classify(slot, found, stats):
                matched += 1
        if extra_stats:
            stats.update(extra_stats)
        return Report(
            start=self.start,
            end=self.end,
            as_of=self.as_of,
            stale_days=self.stale_days,
            matched=matched,
            discrepancies=found,
            stats=stats,
        )

    def _stale(self, slot: _Slot) -> Iterable[Discrepancy]:
        for auth in (slot.auths or {}).values():
            if not auth.is_open or auth.remaining <= 0 or auth.created is None:
                continue
            age = (self.as_of - auth.created).days
            if age > self.stale_days:
                yield Discrepancy(
                    kind=DiscrepancyKind.STALE_AUTHORIZATION,
                    reference=slot.reference,
                    store=slot.store,
                    flexiti_amount=auth.remaining,
                    authorization_ids=(auth.authorization_id,),
                    created=auth.created,
                    age_days=age,
                )

    def _classify(self, slot: _Slot, found: list[Discrepancy], stats: dict[str, int]) -> bool:
        """Append the slot's findings; True when its ledger sale (and returns) matched."""
        auths = slot.auths or {}
        captures = slot.captures or {}
        lines = [row.line for row in (*slot.sales, *slot.returns) if row.line is not None]

        def finding(kind: DiscrepancyKind, **fields: Any) -> None:
            found.append(
                Discrepancy(
                    kind=kind,
                    reference=slot.reference,
                    store=slot.store,
                    authorization_ids=list(auths),
                    ledger_lines=lines,
                    **fields,
                )
            )

        if len(slot.sales) > 1 or len(auths) > 1:
            if len(slot.sales) > 1 and len(auths) > 1:
                side = Side.BOTH
            else:
                side = Side.LEDGER if len(slot.sales) > 1 else Side.FLEXITI
            finding(DiscrepancyKind.DUPLICATE_REFERENCE, side=side)
            return False
        if not auths:
            if slot.sales:
                finding(DiscrepancyKind.MISSING_IN_FLEXITI, ledger_amount=slot.sales[0].amount)
            else:
                # Captured in range but authorized before it: not this run's business.
                stats["captures_without_authorization"] += len(captures)
            return False

        (auth,) = auths.values()
        own = [c for c in captures.values() if c.authorization_id in (None, auth.authorization_id)]
        stats["captures_without_authorization"] += len(captures) - len(own)
        if own:
            captured = sum((c.amount for c in own), ZERO)
            returned = sum((c.returned for c in own), ZERO)
        else:
            captured, returned = auth.captured, auth.returned
        # Nothing captured: an open authorization is a sale pending capture (its amount);
        # a closed one was released, a voided sale (0).
        flexiti_sale = captured if captured > 0 else (auth.amount if auth.is_open else ZERO)

        if not slot.sales:
            if flexiti_sale > 0:
                finding(DiscrepancyKind.MISSING_IN_LEDGER, flexiti_amount=flexiti_sale)
            else:
                stats["voided_authorizations"] += 1
            return False

        ok = True
        ledger_sale = slot.sales[0].amount
        if ledger_sale != flexiti_sale:
            ok = False
            finding(
                DiscrepancyKind.AMOUNT_MISMATCH,
                ledger_amount=ledger_sale,
                flexiti_amount=flexiti_sale,
            )
        # Magnitudes: a return may be written as -25.00 or 25.00 (rows built in code too).
        returns = (abs(row.amount) for row in slot.returns)
        ledger_returned = sum(returns, ZERO) if slot.returns else None
        kind: DiscrepancyKind | None = None
        if ledger_returned is not None and returned == 0:
            kind = DiscrepancyKind.MISSING_IN_FLEXITI
        elif ledger_returned is None and returned > 0:
            kind = DiscrepancyKind.MISSING_IN_LEDGER
        elif ledger_returned is not None and ledger_returned != returned:
            kind = DiscrepancyKind.AMOUNT_MISMATCH
        if kind is not None:
            ok = False
            finding(
                kind,
                entry=EntryKind.RETURN,
                ledger_amount=ledger_returned,
                flexiti_amount=returned if returned > 0 else None,
            )
        return ok
