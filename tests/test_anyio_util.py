"""The shared helpers: lone-exception unwrapping, the reusable wake-up, argument checks."""

from __future__ import annotations

import sys

import anyio
import pytest

from flexiti_async._anyio_util import Wakeup, lone_exception, unwrap_lone_exception
from flexiti_async._checks import check_int, drop_none
from flexiti_async.errors import InvalidRequestError

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

pytestmark = pytest.mark.anyio


def test_lone_exception_goes_through_nested_groups() -> None:
    inner = ValueError("x")
    assert lone_exception(ExceptionGroup("a", [ExceptionGroup("b", [inner])])) is inner
    assert lone_exception(ExceptionGroup("a", [ValueError(), KeyError()])) is None


async def _raise_in_a_task_group(*errors: Exception) -> None:
    async def fail(exc: Exception) -> None:
        raise exc

    with unwrap_lone_exception():
        async with anyio.create_task_group() as tg:
            for exc in errors:
                tg.start_soon(fail, exc)


async def test_a_task_groups_lone_exception_comes_out_unwrapped() -> None:
    with pytest.raises(KeyError):
        await _raise_in_a_task_group(KeyError("mine"))


async def test_several_exceptions_stay_grouped() -> None:
    with pytest.raises(BaseExceptionGroup):
        await _raise_in_a_task_group(ValueError(), KeyError())


async def test_wakeup_wakes_the_waiter_and_can_be_reused() -> None:
    wakeup = Wakeup()
    woken: list[int] = []

    async def consumer() -> None:
        for round_ in range(3):
            await wakeup.wait()
            woken.append(round_)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        for expected in range(1, 4):
            for _ in range(100):  # bounded: until the consumer waits again
                await anyio.sleep(0)
                if wakeup._event is not None:  # notify() before wait() is not remembered
                    break
            wakeup.notify()
            for _ in range(100):  # bounded: until it has woken
                await anyio.sleep(0)
                if len(woken) == expected:
                    break
    assert woken == [0, 1, 2]
    wakeup.notify()  # nobody waiting: a no-op


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "3", None])
def test_check_int_refuses_what_is_not_an_int_at_least_low(value: object) -> None:
    with pytest.raises(InvalidRequestError, match="limit must be an integer >= 1"):
        check_int("limit", value)


def test_check_int_accepts_and_allows_none_when_asked() -> None:
    assert check_int("limit", 4) == 4
    assert check_int("buffer", 0, low=0) == 0
    assert check_int("max_items", None, allow_none=True) is None
    with pytest.raises(InvalidRequestError, match="None or an integer >= 0"):
        check_int("max_items", -1, low=0, allow_none=True)


def test_drop_none_keeps_falsy_values() -> None:
    assert drop_none({"a": None, "b": 0, "c": False, "d": ""}) == {"b": 0, "c": False, "d": ""}
