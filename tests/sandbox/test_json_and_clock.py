"""Money serialization, parsing, and the clock."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from flexiti_async.testing import SandboxClock
from flexiti_async.testing._json import Raw, dumps, loads


def test_money_is_a_two_decimal_number() -> None:
    body = {"amount": Decimal("100"), "other": Decimal("0.1"), "rate": Raw("0.2999"), "n": 3}
    assert dumps(body) == b'{"amount":100.00,"other":0.10,"rate":0.2999,"n":3}'


def test_money_as_strings_variant() -> None:
    assert dumps({"amount": Decimal("7.5")}, amounts_as_strings=True) == b'{"amount":"7.50"}'


def test_large_amount_keeps_every_digit() -> None:
    assert dumps([Decimal("12345678901234.56")]) == b"[12345678901234.56]"


def test_dates_bools_none_and_text() -> None:
    when = datetime(2022, 1, 1, tzinfo=timezone.utc)
    assert dumps({"d": when, "b": True, "x": None, "s": 'é"'}) == (
        b'{"d":"2022-01-01T00:00:00Z","b":true,"x":null,"s":"\\u00e9\\""}'
    )


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError):
        dumps({"f": 1.5})


def test_floats_parse_as_decimal() -> None:
    assert loads(b'{"amount": 0.10}') == {"amount": Decimal("0.10")}


def test_clock_advances_without_sleeping() -> None:
    clock = SandboxClock(start=datetime(2024, 1, 1, tzinfo=timezone.utc), frozen=True)
    clock.advance(90)
    assert clock.now() == datetime(2024, 1, 1, 0, 1, 30, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_running_clock_keeps_its_offset() -> None:
    clock = SandboxClock(start=datetime(2020, 1, 1, tzinfo=timezone.utc))
    clock.advance(86400)
    assert clock.now().date().isoformat() in ("2020-01-02", "2020-01-03")
