"""Argument checks run before any I/O. Each raises `InvalidRequestError` naming the field,
and never echoes a secret value (card numbers, PINs, answers) in its message."""

from __future__ import annotations

import datetime as _dt
import enum
import re
import urllib.parse
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import InvalidRequestError
from ..models.authorizations import SkuData, SkuProduct
from ..models.location import Location

__all__ = [
    "EMPLOYEE_MAX",
    "LOCATION_MAX",
    "check_account_number",
    "check_amount",
    "check_choice",
    "check_customer_id",
    "check_date",
    "check_date_range",
    "check_id",
    "check_idempotency_key",
    "check_in_store",
    "check_lang",
    "check_location_pair",
    "check_page_size",
    "check_sku_data",
    "check_text",
    "check_vcc_number",
    "check_verification_code",
    "exactly_one",
    "normalise_postal_code",
    "path_segment",
]

_CENT = Decimal("0.01")
#: number(18,2): at most 16 digits before the point.
_MAX_AMOUNT = Decimal("9999999999999999.99")
_POSTAL = re.compile(r"^[A-Za-z]\d[A-Za-z]\d[A-Za-z]\d$")


def exactly_one(**candidates: Any) -> tuple[str, Any]:
    """The one argument that is not None; error if none or several are given."""
    given = [(name, value) for name, value in candidates.items() if value is not None]
    if len(given) != 1:
        names = ", ".join(candidates)
        raise InvalidRequestError(
            f"give exactly one of {names} (got {len(given)})", field=next(iter(candidates))
        )
    return given[0]


def check_account_number(value: Any, field: str = "account_number") -> int:
    """A Flexiti account number: a positive integer of at most 14 digits (int or digit string)."""
    if isinstance(value, bool):
        raise InvalidRequestError(f"{field} must be an integer", field=field)
    # isascii: str.isdigit() is also true for superscripts (int() refuses them) and for
    # other scripts' digits (int() reads them): only ASCII digits are an account number.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0 or value >= 10**14:
        raise InvalidRequestError(f"{field} must be a positive number of 1-14 digits", field=field)
    return value


def check_id(value: Any, field: str, *, digits: int = 18) -> int:
    """A numeric id from Flexiti (authorization, capture, plan): a positive integer."""
    if isinstance(value, bool):
        raise InvalidRequestError(f"{field} must be an integer", field=field)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0 or value >= 10**digits:
        raise InvalidRequestError(f"{field} must be a positive integer", field=field)
    return value


def check_vcc_number(value: Any, field: str = "vcc_number") -> str:
    """A FlexitiCard number: 16 digits. The message never repeats the value."""
    text = str(value).replace(" ", "").replace("-", "") if isinstance(value, (str, int)) else ""
    if isinstance(value, bool) or len(text) != 16 or not (text.isascii() and text.isdigit()):
        raise InvalidRequestError(f"{field} must be 16 digits", field=field)
    return text


def check_customer_id(value: Any, field: str = "customer_id") -> str:
    """A customer id: digits, or ``master-authorizedUser`` for business users; <= 20 chars."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidRequestError(f"{field} must be a string or integer", field=field)
    text = str(value).strip()
    if not text or len(text) > 20 or not text.isascii():
        raise InvalidRequestError(f"{field} must be 1-20 ASCII characters", field=field)
    return text


def check_amount(value: Any, field: str = "amount", *, allow_zero: bool = False) -> Decimal:
    """Money: a `Decimal` (or an int or numeric string), positive, at most two decimals,
    within number(18,2). Floats are refused: ``0.1 + 0.2`` is not money."""
    if isinstance(value, (bool, float)):
        raise InvalidRequestError(
            f"{field} must be a Decimal (e.g. Decimal('12.34')), not {type(value).__name__}",
            field=field,
        )
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidRequestError(f"{field} is not a number", field=field) from None
    if not amount.is_finite():
        raise InvalidRequestError(f"{field} must be finite", field=field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidRequestError(f"{field} must be positive", field=field)
    if amount != amount.quantize(_CENT):
        raise InvalidRequestError(f"{field} has more than two decimals", field=field)
    if amount > _MAX_AMOUNT:
        raise InvalidRequestError(f"{field} is larger than number(18,2) allows", field=field)
    return amount.quantize(_CENT)


def check_text(
    value: Any, field: str, *, max_length: int, required: bool = False, ascii_only: bool = True
) -> str | None:
    """A string field with Flexiti's documented maximum length."""
    if value is None:
        if required:
            raise InvalidRequestError(f"{field} is required", field=field)
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a string", field=field)
    if required and not value.strip():
        raise InvalidRequestError(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise InvalidRequestError(f"{field} is longer than {max_length} characters", field=field)
    if ascii_only and not value.isascii():
        raise InvalidRequestError(f"{field} must be ASCII", field=field)
    return value


def check_lang(value: Any) -> str:
    """``en`` or ``fr``."""
    if value not in ("en", "fr"):
        raise InvalidRequestError("lang must be 'en' or 'fr'", field="lang")
    return str(value)


def check_date(value: Any, field: str) -> _dt.date:
    """A `datetime.date` (a datetime is refused: say which day you mean) or 'YYYY-MM-DD'."""
    if isinstance(value, _dt.datetime):
        raise InvalidRequestError(f"{field} must be a date, not a datetime", field=field)
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidRequestError(f"{field} must be a date or 'YYYY-MM-DD'", field=field)


def normalise_postal_code(value: Any, field: str = "postal_code") -> str:
    """A Canadian postal code as Flexiti wants it: ``'a1a 1a1'`` -> ``'A1A1A1'``."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a string", field=field)
    text = value.replace(" ", "").replace("-", "").upper()
    if not _POSTAL.match(text):
        raise InvalidRequestError(f"{field} must look like A1A1A1", field=field)
    return text


#: Store and employee codes: Flexiti documents them as "string" with no length; the
#: examples are ``00-12345`` / ``12345-SMITH``. 50 bounds them generously.
LOCATION_MAX = 50
EMPLOYEE_MAX = 50
#: Page size bounds for the history listings (Flexiti documents no maximum).
PAGE_SIZE_MAX = 500
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
#: ``number(12,2)`` sku totals: at most 10 digits before the point.
_SKU_MAX = Decimal("9999999999999999.99")


def path_segment(value: int | str) -> str:
    """A validated id rendered for a URL path: quoted, so nothing can escape its segment."""
    return urllib.parse.quote(str(value), safe="")


def check_choice(value: Any, field: str, choices: Iterable[str]) -> str:
    """An enum member or its wire value, restricted to ``choices``; returns the wire value.

    Strings match whatever their case (``"SMS"`` is sent as ``sms``, ``"on"`` as ``ON``):
    the documented values never differ by case alone, so the wire spelling is unambiguous.
    """
    allowed = tuple(choices)
    text = value.value if isinstance(value, enum.Enum) else value
    if isinstance(text, str):
        folded = text.strip().casefold()
        for choice in allowed:
            if choice.casefold() == folded:
                return choice
    raise InvalidRequestError(
        f"{field} must be one of {', '.join(repr(c) for c in allowed)}", field=field
    )


def check_verification_code(value: Any, field: str = "verification_code") -> int | str:
    """The one-time PIN from ``accounts.verify``: 1-10 digits (int or digit string).

    Sent as a JSON number, as in Flexiti's examples, unless it has a leading zero (a
    number would lose it): then as a string. The message never repeats the value.
    """
    if isinstance(value, bool):
        raise InvalidRequestError(f"{field} must be the digits of the PIN", field=field)
    if isinstance(value, int):
        if value < 0:
            raise InvalidRequestError(f"{field} must be the digits of the PIN", field=field)
        value = str(value)
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be the digits of the PIN", field=field)
    text = value.strip()
    if not (1 <= len(text) <= 10 and text.isascii() and text.isdigit()):
        raise InvalidRequestError(f"{field} must be 1-10 digits", field=field)
    return text if text.startswith("0") and len(text) > 1 else int(text)


def check_location_pair(
    external_location_id: Any, external_employee_id: Any, location: Any = None
) -> tuple[str | None, str | None]:
    """In-store back-office calls carry the store and the employee together, or neither.

    ``location`` (a `Location`) gives both at once; it cannot be mixed with the keywords.
    """
    if location is not None:
        if external_location_id is not None or external_employee_id is not None:
            raise InvalidRequestError(
                "give location= or external_location_id/external_employee_id, not both",
                field="location",
            )
        if not isinstance(location, Location):
            raise InvalidRequestError("location must be a Location", field="location")
        external_location_id = location.external_location_id
        external_employee_id = location.external_employee_id
    location = check_text(external_location_id, "external_location_id", max_length=LOCATION_MAX)
    employee = check_text(external_employee_id, "external_employee_id", max_length=EMPLOYEE_MAX)
    if (location is None) != (employee is None):
        missing = "external_employee_id" if employee is None else "external_location_id"
        raise InvalidRequestError(
            "in-store calls need external_location_id and external_employee_id together",
            field=missing,
        )
    if location is not None and not location.strip():
        raise InvalidRequestError(
            "external_location_id must not be empty", field="external_location_id"
        )
    if employee is not None and not employee.strip():
        raise InvalidRequestError(
            "external_employee_id must not be empty", field="external_employee_id"
        )
    return location, employee


def check_in_store(
    *,
    verification_code: Any,
    request_id: Any,
    external_location_id: Any,
    external_employee_id: Any,
    location: Any = None,
    required: bool = False,
) -> dict[str, Any]:
    """The in-store quartet: ``verification_code``, ``request_id``, ``external_location_id``
    and ``external_employee_id`` travel together (all four, or none when not ``required``).

    Returns the body entries to send (empty for an online call). ``location`` (a
    `Location`) stands for the last two.
    """
    if location is not None:
        external_location_id, external_employee_id = check_location_pair(
            external_location_id, external_employee_id, location
        )
    given = {
        "verification_code": verification_code,
        "request_id": request_id,
        "external_location_id": external_location_id,
        "external_employee_id": external_employee_id,
    }
    missing = [name for name, value in given.items() if value is None]
    if not required and len(missing) == 4:
        return {}
    if missing:
        raise InvalidRequestError(
            "in-store calls need verification_code, request_id, external_location_id and "
            f"external_employee_id together (missing: {', '.join(missing)})",
            field=missing[0],
        )
    location, employee = check_location_pair(external_location_id, external_employee_id)
    return {
        "verification_code": check_verification_code(verification_code),
        "request_id": check_text(request_id, "request_id", max_length=150, required=True),
        "external_location_id": location,
        "external_employee_id": employee,
    }


def check_page_size(value: Any, field: str = "page_size") -> int:
    """A listing page size: an integer from 1 to 500."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= PAGE_SIZE_MAX:
        raise InvalidRequestError(
            f"{field} must be an integer from 1 to {PAGE_SIZE_MAX}", field=field
        )
    return value


def check_date_range(
    start: Any, end: Any, *, start_field: str, end_field: str
) -> tuple[_dt.date | None, _dt.date | None]:
    """Optional inclusive ``(from, to)`` dates; ``from`` must not come after ``to``."""
    lo = None if start is None else check_date(start, start_field)
    hi = None if end is None else check_date(end, end_field)
    if lo is not None and hi is not None and hi < lo:
        raise InvalidRequestError(f"{end_field} is before {start_field}", field=end_field)
    return lo, hi


def check_idempotency_key(value: Any) -> str:
    """A caller's ``x-idempotency-key``: 1-255 printable ASCII characters, no spaces."""
    if not isinstance(value, str) or not _IDEMPOTENCY_KEY.match(value):
        raise InvalidRequestError(
            "idempotency_key must be 1-255 printable ASCII characters without spaces",
            field="idempotency_key",
        )
    return value


def _sku_money(value: Any, field: str) -> None:
    """Statement amounts: exact (Decimal or int), two decimals at most; negative allowed
    (Flexiti shows negative totals on returns)."""
    if value is None:
        return
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int)):
        raise InvalidRequestError(f"{field} must be a Decimal", field=field)
    amount = Decimal(value)
    if not amount.is_finite() or amount != amount.quantize(_CENT) or abs(amount) > _SKU_MAX:
        raise InvalidRequestError(f"{field} must be a finite amount with two decimals", field=field)


def check_sku_data(value: Any) -> SkuData | None:
    """``sku_data`` (a `SkuData`), printed on the statement: lengths and amounts checked."""
    if value is None:
        return None
    if not isinstance(value, SkuData):
        raise InvalidRequestError("sku_data must be a SkuData", field="sku_data")
    check_text(value.purchase_order, "sku_data.purchase_order", max_length=10)
    check_text(value.register_id, "sku_data.register_id", max_length=50)
    for name in (
        "shipping_total",
        "transaction_discount_total",
        "transaction_subtotal",
        "transaction_total",
        "gst_hst",
        "pst",
    ):
        _sku_money(getattr(value, name), f"sku_data.{name}")
    for index, product in enumerate(value.products):
        where = f"sku_data.products[{index}]"
        if not isinstance(product, SkuProduct):
            raise InvalidRequestError(f"{where} must be a SkuProduct", field="sku_data")
        for name in ("sku_id", "category", "description"):
            check_text(getattr(product, name), f"{where}.{name}", max_length=250, ascii_only=False)
        quantity = product.quantity
        if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)):
            raise InvalidRequestError(f"{where}.quantity must be an integer", field="sku_data")
        _sku_money(product.unit_price, f"{where}.unit_price")
        _sku_money(product.extended_price, f"{where}.extended_price")
    return value
