"""Pure classification: the merged Flexiti state and the ledger in, every record in one bucket.

The rules (also in the package docstring):

* **Key.** A reference, plus the store where both sides name one: ledger ``(R, S)``
  matches a Flexiti record with reference ``R`` whose store is ``S`` or empty; a ledger
  row without a store matches ``R`` at any store.
* **Range.** Dates are local days in the merchant's time zone. Sales are loaded for
  ``[start - tolerance, end + tolerance]`` and authorizations listed for the same days, so
  a sale booked a day off still meets its authorization; a key none of whose dates is in
  ``[start, end]`` is outside the range. Returns follow their sale; a return without a
  sale in the ledger is reconciled on its own date (an orphan return is a discrepancy).
* **Sale.** Flexiti's figure is what was captured up to ``as_of`` (the listed captures,
  else the authorization's ``captured_amount``); with nothing captured, an open
  authorization counts for its amount and a closed one (voided) for 0. An amount
  difference is an ``amount_mismatch``; else a date more than ``tolerance_days`` away from
  the creation day is a ``date_mismatch``.
* **Returns.** The sum of the key's ledger return rows against the captures' returned
  amount.
* **Duplicates.** Two sales or two authorizations with one key: one finding, no comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from ._buckets import Buckets, Slot
from ._ledger import EntryKind, LedgerRow
from ._report import Discrepancy, DiscrepancyKind, OutsideRow, Side
from ._state import AuthState, CaptureState

__all__ = ["Buckets", "classify"]

ZERO = Decimal("0")
K = DiscrepancyKind


def _compatible(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


class _Classifier:
    def __init__(
        self,
        *,
        start: date,
        end: date,
        as_of: date,
        tz: tzinfo,
        stale_days: int,
        tolerance_days: int,
        covered: Callable[[date], bool] | None,
        captures_complete: bool = True,
    ) -> None:
        self.start, self.end, self.as_of, self.tz = start, end, as_of, tz
        self.utc = tz.utcoffset(None) == timedelta(0) and getattr(tz, "key", "UTC") in (
            "UTC",
            "Etc/UTC",
        )
        self.stale_days = stale_days
        self.tolerance = timedelta(days=tolerance_days)
        self.lo, self.hi = start - self.tolerance, end + self.tolerance
        self.covered = covered
        self.captures_complete = captures_complete
        # One slot per reference, or a list when stores split a reference into several keys.
        self.by_reference: dict[str, Slot | list[Slot]] = {}
        self.unreferenced: list[Slot] = []
        self.out = Buckets()

    def local(self, when: datetime | None) -> date | None:
        if when is None:
            return None
        if self.utc:  # the states' timestamps are aware UTC already
            return when.date()
        return when.astimezone(self.tz).date()

    def find(self, reference: str, store: str | None, *, sales: bool = False) -> Slot | None:
        found = self.by_reference.get(reference)
        if found is None:
            return None
        for slot in (found,) if isinstance(found, Slot) else found:
            if (slot.store is None or store is None or slot.store == store) and (
                slot.sales or not sales
            ):
                return slot
        return None

    def slot(self, reference: str | None, store: str | None) -> Slot:
        if reference is None:
            new = Slot(None, store)
            self.unreferenced.append(new)
            return new
        found = self.find(reference, store)
        if found is None:
            found = Slot(reference, store)
            known = self.by_reference.get(reference)
            if known is None:
                self.by_reference[reference] = found
            elif isinstance(known, Slot):
                self.by_reference[reference] = [known, found]
            else:
                known.append(found)
        return found

    def outside_row(self, line: int, row: LedgerRow, reason: str) -> None:
        self.out.outside.append(
            OutsideRow(
                line=line,
                reference=row.reference,
                store=row.store,
                kind=row.kind,
                amount=row.amount,
                date=row.date,
                reason=reason,
            )
        )

    # ------------------------------------------------------------------ loading

    def load_ledger(self, ledger: Iterable[LedgerRow]) -> None:
        returns: list[tuple[int, LedgerRow]] = []
        outside_sales: dict[str, list[str | None]] = {}
        total = 0
        for index, row in enumerate(ledger):
            total += 1
            # Rows built in code have no line: number them as if written below a header.
            line = row.line if row.line is not None else index + 2
            self.out.ledger_lines[line] += 1
            if row.kind is EntryKind.RETURN:
                returns.append((line, row))
            elif self.lo <= row.date <= self.hi:
                self.slot(row.reference, row.store).add("sales", (line, row))
            else:
                self.outside_row(line, row, "dated outside the range")
                outside_sales.setdefault(row.reference, []).append(row.store)
        for line, row in returns:
            sale = self.find(row.reference, row.store, sales=True)
            if sale is not None:
                sale.add("returns", (line, row))
            elif any(_compatible(s, row.store) for s in outside_sales.get(row.reference, ())):
                self.outside_row(line, row, "its sale is outside the range")
            elif self.lo <= row.date <= self.hi:
                self.slot(row.reference, row.store).add("returns", (line, row))
            else:
                self.outside_row(line, row, "dated outside the range, no sale in the ledger")
        self.out.stats["ledger_rows"] = total

    def load_flexiti(self, auths: Iterable[AuthState], captures: Iterable[CaptureState]) -> None:
        by_id: dict[int, Slot] = {}  # a capture joins its authorization's key directly
        for auth in auths:
            day = self.local(auth.created)
            if day is not None and not self.lo <= day <= self.hi:
                self.out.outside_auths.append(auth.authorization_id)
                continue
            slot = self.slot(auth.reference, auth.store)
            slot.add("auths", auth)
            by_id[auth.authorization_id] = slot
        for capture in captures:
            day = self.local(capture.date)
            if day is not None and day > self.as_of:
                self.out.stats["captures_after_as_of"] += 1
                continue
            home = by_id.get(capture.authorization_id) if capture.authorization_id else None
            if home is None:
                home = self.slot(capture.reference, capture.store)
            home.add("captures", capture)

    # ------------------------------------------------------------------ classification

    def slots(self) -> Iterator[Slot]:
        for slots in self.by_reference.values():
            yield from (slots,) if isinstance(slots, Slot) else slots
        yield from self.unreferenced

    def run(self) -> Buckets:
        for slot in self.slots():
            self.classify(slot)
        self.out.stats["ledger_rows_outside_range"] = len(self.out.outside)
        return self.out

    def in_range(self, slot: Slot) -> bool:
        start, end = self.start, self.end
        if len(slot.sales) == 1 and start <= slot.sales[0][1].date <= end:
            return True  # the common case, decided without looking further
        # Returns follow their sale: their own date counts only for an orphan return.
        days = [row.date for _, row in slot.sales]
        days += [d for d in (self.local(a.created) for a in slot.auths) if d]
        if not slot.sales and not slot.auths:
            days = [row.date for _, row in slot.returns]
        # A key with no date at all (undated records) is judged rather than dropped.
        return not days or any(self.start <= d <= self.end for d in days)

    def checkable(self, slot: Slot) -> bool:
        covered = self.covered
        if covered is None:
            return True
        for _, row in (*slot.sales, *slot.returns):
            day = max(row.date - self.tolerance, self.lo)
            while day <= min(row.date + self.tolerance, self.hi):  # bounded: a few days
                if not covered(day):
                    return False
                day += timedelta(days=1)
        days = (self.local(a.created) for a in slot.auths)
        if not all(d is None or covered(d) for d in days):
            return False
        if not self.captures_complete:
            # A late capture may be in a shard that did not finish: judge only keys whose
            # listed captures add up to what the authorization says was captured.
            for auth in slot.auths:
                own = (
                    c.amount
                    for c in slot.captures
                    if c.authorization_id in (None, auth.authorization_id)
                )
                if sum(own, ZERO) != auth.captured:
                    return False
        return True

    def classify(self, slot: Slot) -> None:
        out = self.out
        if not slot.sales and not slot.returns and not slot.auths:
            # Captures of authorizations created before the range: not this run's business.
            out.stats["captures_without_authorization"] += len(slot.captures)
            return
        if not self.in_range(slot):
            for line, row in (*slot.sales, *slot.returns):
                self.outside_row(line, row, "dated outside the range")
            out.outside_auths.extend(slot.auth_ids())
            return
        if not self.checkable(slot):
            out.unchecked_lines.extend(slot.lines())
            out.unchecked_auths.extend(slot.auth_ids())
            return
        for auth in slot.auths:
            self.stale(slot, auth)
        before = len(out.found)
        matched_lines = self.compare(slot)
        if len(out.found) == before and slot.sales:
            out.matched += 1
        out.matched_lines.extend(matched_lines)
        named = {i for item in out.found[before:] for i in item.authorization_ids}
        out.matched_auths.extend(a for a in slot.auth_ids() if a not in named)

    def finding(
        self, slot: Slot, kind: DiscrepancyKind, lines: Iterable[int], **fields: Any
    ) -> None:
        self.out.found.append(
            Discrepancy(
                kind=kind,
                reference=slot.reference,
                store=slot.store,
                authorization_ids=slot.auth_ids(),
                ledger_lines=list(lines),
                **fields,
            )
        )

    def stale(self, slot: Slot, auth: AuthState) -> None:
        if not auth.is_open or auth.remaining <= 0:
            return
        created = self.local(auth.created)
        if created is None:
            return
        if not self.start <= created <= self.end:
            return
        age = (self.as_of - created).days
        if age > self.stale_days:
            self.out.found.append(
                Discrepancy(
                    kind=K.STALE_AUTHORIZATION,
                    reference=slot.reference,
                    store=slot.store,
                    flexiti_amount=auth.remaining,
                    authorization_ids=(auth.authorization_id,),
                    created=created,
                    age_days=age,
                )
            )

    def compare(self, slot: Slot) -> list[int]:
        """Append the slot's findings; return the ledger lines that matched."""
        if len(slot.sales) > 1 or len(slot.auths) > 1:
            both = len(slot.sales) > 1 and len(slot.auths) > 1
            side = Side.BOTH if both else Side.LEDGER if len(slot.sales) > 1 else Side.FLEXITI
            self.finding(slot, K.DUPLICATE_REFERENCE, slot.lines(), side=side)
            return []
        returns = slot.returns
        ledger_returned = sum((abs(r.amount) for _, r in returns), ZERO) if returns else ZERO
        if not slot.auths:
            self.missing_in_flexiti(slot, ledger_returned)
            return []
        (auth,) = slot.auths
        captured, returned = self.captured_and_returned(slot, auth)
        # Nothing captured: an open authorization is a sale pending capture (its amount);
        # a closed one was released, a voided sale (0).
        flexiti_sale = captured if captured > 0 else (auth.amount if auth.is_open else ZERO)
        matched = self.compare_sale(slot, auth, flexiti_sale)
        if matched is None:
            return []
        return matched + self.compare_returns(slot, ledger_returned, returned)

    def missing_in_flexiti(self, slot: Slot, ledger_returned: Decimal) -> None:
        """A key Flexiti has no authorization for: a sale, or else an orphan return."""
        if slot.sales:
            _, row = slot.sales[0]
            self.finding(
                slot, K.MISSING_IN_FLEXITI, slot.lines(),
                ledger_amount=row.amount, ledger_date=row.date,
            )  # fmt: skip
        else:  # an orphan return: Flexiti knows no sale under this key
            self.finding(
                slot, K.MISSING_IN_FLEXITI, [line for line, _ in slot.returns],
                entry=EntryKind.RETURN,
                ledger_amount=ledger_returned, ledger_date=slot.returns[0][1].date,
            )  # fmt: skip

    def captured_and_returned(self, slot: Slot, auth: AuthState) -> tuple[Decimal, Decimal]:
        """Flexiti's captured and returned figures for ``auth``: its listed captures, else
        the authorization's own totals (captures of another authorization go to the stats)."""
        own = [c for c in slot.captures if c.authorization_id in (None, auth.authorization_id)]
        self.out.stats["captures_without_authorization"] += len(slot.captures) - len(own)
        if not own:
            return auth.captured, auth.returned
        if len(own) == 1:
            return own[0].amount, own[0].returned
        return sum((c.amount for c in own), ZERO), sum((c.returned for c in own), ZERO)

    def compare_sale(self, slot: Slot, auth: AuthState, flexiti_sale: Decimal) -> list[int] | None:
        """The ledger sale against Flexiti's figure: the sale lines that matched, or None
        when the ledger lacks a sale Flexiti has (the key's one finding)."""
        created = self.local(auth.created)
        if not slot.sales:
            if flexiti_sale > 0:
                self.finding(
                    slot, K.MISSING_IN_LEDGER, [line for line, _ in slot.returns],
                    flexiti_amount=flexiti_sale, flexiti_date=created,
                )  # fmt: skip
                return None
            self.out.stats["voided_authorizations"] += 1
            return []
        sale_lines = [line for line, _ in slot.sales]
        _, row = slot.sales[0]
        dates = {"ledger_date": row.date, "flexiti_date": created}
        if row.amount != flexiti_sale:
            self.finding(
                slot, K.AMOUNT_MISMATCH, sale_lines,
                ledger_amount=row.amount, flexiti_amount=flexiti_sale, **dates,
            )  # fmt: skip
        elif created is not None and abs(row.date - created) > self.tolerance:
            self.finding(slot, K.DATE_MISMATCH, sale_lines, ledger_amount=row.amount, **dates)
        else:
            return sale_lines
        return []

    def compare_returns(self, slot: Slot, ledger_returned: Decimal, returned: Decimal) -> list[int]:
        """The ledger's returns against Flexiti's: the return lines that matched."""
        return_lines = [line for line, _ in slot.returns]
        kind: DiscrepancyKind | None = None
        if slot.returns and returned == 0:
            kind = K.MISSING_IN_FLEXITI
        elif not slot.returns and returned > 0:
            kind = K.MISSING_IN_LEDGER
        elif slot.returns and ledger_returned != returned:
            kind = K.AMOUNT_MISMATCH
        if kind is None:
            return return_lines
        self.finding(
            slot, kind, return_lines, entry=EntryKind.RETURN,
            ledger_amount=ledger_returned if slot.returns else None,
            flexiti_amount=returned if returned > 0 else None,
        )  # fmt: skip
        return []


def classify(
    ledger: Iterable[LedgerRow],
    auths: Iterable[AuthState],
    captures: Iterable[CaptureState],
    *,
    start: date,
    end: date,
    as_of: date,
    tz: tzinfo,
    stale_days: int,
    tolerance_days: int,
    covered: Callable[[date], bool] | None = None,
    captures_complete: bool = True,
) -> Buckets:
    """Put every ledger row and every authorization in one bucket (see the module rules).

    ``covered(local_day)`` (for a partial run) says whether a day's listings finished; keys
    touching a day that did not are left unchecked. ``captures_complete=False`` (capture
    listings after the range unfinished) also leaves unchecked the keys whose listed
    captures fall short of the authorization's captured amount.
    """
    classifier = _Classifier(
        start=start,
        end=end,
        as_of=as_of,
        tz=tz,
        stale_days=stale_days,
        tolerance_days=tolerance_days,
        covered=covered,
        captures_complete=captures_complete,
    )
    classifier.load_ledger(ledger)
    classifier.load_flexiti(auths, captures)
    return classifier.run()
