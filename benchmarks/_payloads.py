"""Canned Flexiti response bodies shared by the loopback server and the decoding benchmark."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "LOOKUP_BODY",
    "PageTemplate",
    "WindowPages",
    "authorization_payload",
    "lookup_payload",
    "token_body",
]

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret-not-a-real-one"


def lookup_payload(i: int = 0) -> dict[str, Any]:
    """A ``customers/lookup`` answer (every documented field; about 600 bytes as JSON)."""
    return {
        "available_credit": f"{500 + i % 997}.{i % 100:02d}",
        "account_number": 100000001 + i,
        "customer_id": 100000 + i,
        "security_qid": {"id": 6, "text": "What was the name of your first pet?"},
        "email": f"customer{i}@example.test",
        "phone_number": "4165550100",
        "address_1": "100 King Street West, Suite 5600",
        "address_2": "",
        "city": "Toronto",
        "postal_code": "M5X1C9",
        "province": "ON",
        "payment_protection": i % 2 == 0,
        "risk_rating": "M",
        "offer_types": [
            {
                "plan_name": "12 months equal payments",
                "plan_id": 1,
                "offer_category": "equal_billing",
                "term_options": [6, 12],
            },
            {
                "plan_name": "6 months deferred",
                "plan_id": 2,
                "offer_category": "deferred_payment",
                "terms_options": [6],
            },
        ],
        "card_ending_in": f"{i % 10000:04d}",
        "preferred_language": "en-CA",
    }


def authorization_payload(i: int = 0) -> dict[str, Any]:
    """A ``GET authorization/{id}`` answer / one ``GET authorizations`` item."""
    return {
        "authorization_id": 700000000 + i,
        "account_number": 100000001 + i % 5000,
        "reference": f"ORDER-{i:08d}",
        "authorization_status": "opened",
        "transaction_type": "promotional_purchase",
        "plan_id": 1,
        "term": 12,
        "amount": f"{100 + i % 4000}.{i % 100:02d}",
        "captured_amount": "0.00",
        "remaining_authorization_amount": f"{100 + i % 4000}.{i % 100:02d}",
        "creation_date": "2024-05-17T12:34:56Z",
        "external_location_id": "00-12345",
        "external_employee_id": "12345-SMITH",
        "auto_capture": False,
        "annual_rates": {"description": "Purchase APR", "rate": "29.99", "type": "fixed"},
    }


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


#: The canned lookup body the server returns for every ``customers/lookup``.
LOOKUP_BODY = _dumps(lookup_payload(0))


def token_body(number: int, *, ttl: int) -> bytes:
    """A token answer; ``number`` makes every issued token distinct."""
    return _dumps(
        {
            "access_token": f"bench-access-{number:08d}",
            "token_type": "bearer",
            "expires_in": ttl,
            "refresh_token": f"bench-refresh-{number:08d}",
            "scope": "merchant",
        }
    )


class PageTemplate:
    """Builds ``GET authorizations`` pages fast: one item split around its varying id.

    Every page holds distinct ids (the paginator refuses a page that repeats an earlier one),
    but building a 500-item page is one ``bytes.join``, so the server stays cheap.
    ``creation_date`` is the same for every item of a template.
    """

    _MARK = 987654321

    def __init__(self, creation_date: str | None = None) -> None:
        item = authorization_payload(0)
        item["authorization_id"] = self._MARK
        if creation_date is not None:
            item["creation_date"] = creation_date
        head, tail = _dumps(item).split(str(self._MARK).encode())
        self._head = head
        self._tail = tail

    def items(self, ids: range) -> list[bytes]:
        """The encoded items with these ids (no brackets, no commas)."""
        head, tail = self._head, self._tail
        return [head + str(i).encode() + tail for i in ids]

    def page(self, number: int, size: int, total: int) -> bytes:
        first = (number - 1) * size
        last = min(first + size, total)
        if first >= last:
            return b"[]"
        return b"[" + b",".join(self.items(range(700000000 + first, 700000000 + last))) + b"]"


class WindowPages:
    """``GET authorizations`` pages for an inclusive creation-date window.

    Every day holds ``per_day`` authorizations (ids ``700000000 + (ordinal % 10,000) *
    100,000 + k``, so distinct across days and windows; ``creation_date`` on that day at
    noon UTC); a window of n days lists its days in order, n * ``per_day`` items in all.
    """

    MAX_PER_DAY = 100_000

    def __init__(self) -> None:
        self._templates: dict[_dt.date, PageTemplate] = {}

    def _template(self, day: _dt.date) -> PageTemplate:
        template = self._templates.get(day)
        if template is None:
            if len(self._templates) > 4096:  # bounded cache
                self._templates.clear()
            template = self._templates[day] = PageTemplate(f"{day.isoformat()}T12:00:00Z")
        return template

    def page(self, first: _dt.date, last: _dt.date, number: int, size: int, per_day: int) -> bytes:
        per_day = max(0, min(per_day, self.MAX_PER_DAY))
        total = ((last - first).days + 1) * per_day
        start = (number - 1) * size
        stop = min(start + size, total)
        if start >= stop or first > last:
            return b"[]"
        parts: list[bytes] = []
        index = start
        while index < stop:  # bounded: every pass moves `index` to the next day or `stop`
            day = first + _dt.timedelta(days=index // per_day)
            k = index % per_day
            count = min(stop - index, per_day - k)
            base = 700_000_000 + (day.toordinal() % 10_000) * 100_000
            parts += self._template(day).items(range(base + k, base + k + count))
            index += count
        return b"[" + b",".join(parts) + b"]"
