"""Small anyio helpers shared by the client, the paginator and the fan-out helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["Wakeup", "lone_exception", "unwrap_lone_exception"]


def lone_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside ``group`` (through nested groups), or None if there are more."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):  # bounded: each pass goes one level down
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc


@contextmanager
def unwrap_lone_exception() -> Iterator[None]:
    """Re-raise a task group's lone exception as itself, not wrapped in an ExceptionGroup.

    For task groups whose background tasks never raise (they hand errors to a consumer):
    a one-exception group is then the caller's own exception, which it expects as is.

    >>> with unwrap_lone_exception():                                   # doctest: +SKIP
    ...     async with anyio.create_task_group() as tg:
    ...         ...
    """
    try:
        yield
    except BaseExceptionGroup as group:
        exc = lone_exception(group)
        if exc is None:
            raise
        raise exc from exc.__cause__


class Wakeup:
    """One consumer waits until a producer says something changed (an `anyio.Event` that
    is replaced after each wake-up, so it can be reused).

    ``notify`` before ``wait`` is not remembered: the consumer checks its condition, then
    waits; the producer changes the state, then notifies.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    async def wait(self) -> None:
        """Block until the next `notify`."""
        event = self._event = anyio.Event()
        await event.wait()

    def notify(self) -> None:
        """Wake the waiting consumer, if any."""
        event, self._event = self._event, None
        if event is not None:
            event.set()
