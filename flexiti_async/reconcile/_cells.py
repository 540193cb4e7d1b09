"""Checks for one ledger cell each: the value, or a message saying what is wrong and the fix.

Strict on purpose: an amount or a date is read one way only (``1234.50``, ``2024-03-31``,
ASCII digits), and anything else is refused with a hint naming the accepted form, rather
than guessed at (``1,234`` is a thousand in one country and one-point-two in another).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal

from ._types import EntryKind

__all__ = ["check_text", "parse_amount", "parse_date", "parse_kind"]

# re.ASCII: \d would also match Arabic-Indic or full-width digits.
_AMOUNT = re.compile(r"[+-]?[0-9]+(\.[0-9]{1,2})?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_CURRENCY = re.compile(r"[$€£¥₹¢]|\b(CAD|USD|EUR|GBP)\b|\$", re.IGNORECASE)
_ACCEPTED_AMOUNT = "write it like 1234.50 (a dot for decimals, no thousands separator)"
# Characters allowed inside a free-text cell of an extra column (a multi-line note).
_TEXT_WHITESPACE = frozenset("\t\r\n")


def check_text(text: str, *, strict: bool) -> str | None:
    """None when ``text`` holds no control character (and, if ``strict``, no invisible
    formatting character such as a zero-width space); else the message."""
    if text.isprintable():  # the common case, in C: no Cc/Cf character at all
        return None
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" and (strict or char not in _TEXT_WHITESPACE):
            return f"control character U+{ord(char):04X} in the cell"
        if strict and category == "Cf":
            name = unicodedata.name(char, "format character")
            return f"invisible character U+{ord(char):04X} ({name.lower()}) in the cell"
    return None


def _digits_hint(text: str) -> str | None:
    if any(ch.isdigit() and not ("0" <= ch <= "9") for ch in text):
        return "only ASCII digits 0-9 are accepted"
    return None


def _amount_hint(text: str) -> str:
    hint = _digits_hint(text)
    if hint:
        return hint
    if _CURRENCY.search(text):
        return f"remove the currency sign: {_ACCEPTED_AMOUNT}"
    if re.fullmatch(r"[+-]?[0-9]+,[0-9]{1,2}", text):
        return f"decimal comma: {_ACCEPTED_AMOUNT}"
    if re.fullmatch(r"[+-]?[0-9]{1,3}([, \u00a0\u202f'][0-9]{3})+(\.[0-9]+)?", text):
        return f"thousands separator: {_ACCEPTED_AMOUNT}"
    if re.fullmatch(r"\(.*\)", text):
        return "write a negative return with a minus sign (-12.50) or as a positive amount"
    if re.fullmatch(r"[+-]?\.[0-9]+", text):
        return "write a leading zero, like 0.50"
    if re.search(r"[eE]", text) and re.fullmatch(r"[0-9.eE+-]+", text):
        return f"no exponent: {_ACCEPTED_AMOUNT}"
    return _ACCEPTED_AMOUNT


def parse_amount(text: str, kind: EntryKind | None) -> Decimal | str:
    """The amount (a return's magnitude), or an error message."""
    if not text:
        return "amount is empty"
    if not _AMOUNT.fullmatch(text):
        if re.fullmatch(r"[+-]?[0-9]+\.[0-9]{2}0+", text, re.ASCII):
            # 12.500: exact cents written with trailing zeros (some exports pad to 3 or 4).
            text = text.rstrip("0")
            text = text + "0" * (2 - len(text.split(".")[1]))
        elif re.fullmatch(r"[+-]?[0-9]+\.[0-9]{3,}", text, re.ASCII):
            return f"amount {text!r} has more than two decimal places (not whole cents)"
        else:
            return f"amount {text!r} is not a number like 1234.50: {_amount_hint(text)}"
    value = Decimal(text)
    if value < 0:
        if kind is EntryKind.SALE:
            return (
                f"a sale's amount must not be negative, got {text} (book a refund as kind return)"
            )
        value = -value
    return value


def parse_date(text: str) -> date | str:
    """The date, or an error message."""
    if not text:
        return "date is empty"
    if not _DATE.fullmatch(text):
        hint = _digits_hint(text)
        if hint is None and re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]", text, re.ASCII):
            hint = "give the day only, without a time"
        return f"date {text!r} is not YYYY-MM-DD (e.g. 2024-03-31)" + (f": {hint}" if hint else "")
    try:
        return date.fromisoformat(text)
    except ValueError:
        return f"date {text!r} does not exist"


def parse_kind(text: str) -> EntryKind | str:
    """The entry kind, or an error message."""
    try:
        return EntryKind(text.lower())
    except ValueError:
        if not text:
            return "kind is empty (expected sale or return)"
        if text.lower() in ("refund", "credit", "void", "reversal"):
            return f"kind {text!r} is not sale or return (write a refund as return)"
        return f"kind {text!r} is not sale or return"
