"""Date windows: `date_windows` splits a range, `iterate_windows` lists the windows a few at
a time and yields their items in order, with bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._anyio_util import Wakeup, unwrap_lone_exception
from ._checks import check_int
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["date_windows", "iterate_windows"]

T = TypeVar("T")


def date_windows(start: date, end: date, *, days: int = 1) -> list[tuple[date, date]]:
    """Split ``[start, end]`` (inclusive) into consecutive inclusive windows of ``days`` days.

    No gap and no overlap: every day falls in exactly one window; the last window may be
    shorter. Matches Flexiti's inclusive ``creation_date_from``/``creation_date_to``.

    Example::

        date_windows(date(2024, 1, 1), date(2024, 1, 10), days=4)
        # [(2024-01-01, 2024-01-04), (2024-01-05, 2024-01-08), (2024-01-09, 2024-01-10)]
    """
    for name, value in (("start", start), ("end", end)):
        # datetime is a date subclass, but a time of day would shift the windows.
        if not isinstance(value, date) or isinstance(value, datetime):
            raise InvalidRequestError(
                f"{name} must be a datetime.date, got {type(value).__name__}", field=name
            )
    check_int("days", days)
    if start > end:
        raise InvalidRequestError(f"start ({start}) is after end ({end})", field="start")
    step = timedelta(days=days)
    last = timedelta(days=days - 1)
    windows: list[tuple[date, date]] = []
    current = start
    while current <= end:  # bounded: advances by `days` >= 1 each pass
        windows.append((current, min(current + last, end)))
        current += step
    return windows


class _WindowRun(Generic[T]):
    """State of one ``iterate_windows`` block.

    A worker takes a slot, then the next window, and pushes its items into that window's
    memory stream (at most ``buffer`` items, then it waits). The consumer reads the windows
    in order and gives the slot back when a window is exhausted, so at most ``limit``
    windows are open (listing, or finished but not yet read).
    """

    def __init__(
        self,
        list_window: Callable[[date, date], AsyncIterable[T]],
        windows: list[tuple[date, date]],
        *,
        limit: int,
        buffer: int,
    ) -> None:
        self._list_window = list_window
        self._windows = windows
        self._limit = min(limit, len(windows))
        self._buffer = buffer
        self._slots = anyio.Semaphore(self._limit)
        self._next_window = 0
        self._streams: dict[int, MemoryObjectReceiveStream[T]] = {}
        self._errors: dict[int, Exception] = {}
        self._complete: set[int] = set()  # windows listed to the end (not cancelled)
        self._failed = False
        self._workers_left = self._limit
        self._wakeup = Wakeup()
        # Consumer side.
        self._index = 0
        self._current: MemoryObjectReceiveStream[T] | None = None

    async def _work(self) -> None:
        try:
            # Bounded by the window count.
            while True:
                await self._slots.acquire()
                if self._failed or self._next_window >= len(self._windows):
                    self._slots.release()
                    return
                index = self._next_window
                self._next_window += 1
                send, receive = anyio.create_memory_object_stream[T](self._buffer)
                self._streams[index] = receive
                self._wakeup.notify()
                async with send:
                    await self._list_one(index, send)
        finally:
            self._workers_left -= 1
            self._wakeup.notify()

    async def _list_one(self, index: int, send: MemoryObjectSendStream[T]) -> None:
        first, last = self._windows[index]
        iterator: AsyncIterator[T] | None = None
        try:
            iterator = aiter(self._list_window(first, last))
            async for item in iterator:
                await send.send(item)
            self._complete.add(index)
        except Exception as exc:
            if hasattr(exc, "add_note"):  # Python 3.11+
                exc.add_note(f"while listing the window {first}..{last}")
            # Delivered in order: the consumer raises it after this window's earlier items.
            self._errors[index] = exc
            self._failed = True
        finally:
            # We created this iterator, so we close it (a paginator cancels its prefetch).
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the workers in ``tg``."""
        for _ in range(self._limit):
            tg.start_soon(self._work)

    async def next_item(self) -> T:
        """The next item, in window order; StopAsyncIteration at the end."""
        # Bounded: each pass returns an item or finishes one of finitely many windows.
        while True:
            if self._current is None:
                if self._index >= len(self._windows):
                    raise StopAsyncIteration
                stream = self._streams.pop(self._index, None)
                if stream is None:
                    if self._workers_left == 0:
                        await self._stalled()
                    await self._wakeup.wait()
                    continue
                self._current = stream
            try:
                return await self._current.receive()
            except anyio.EndOfStream:
                self._current.close()
                self._current = None
                error = self._errors.pop(self._index, None)
                if error is not None:
                    self._index = len(self._windows)  # nothing after an error
                    raise error from error.__cause__
                if self._index not in self._complete:
                    await self._stalled()  # its worker was cancelled mid-window
                self._complete.discard(self._index)
                self._index += 1
                self._slots.release()

    async def _stalled(self) -> None:
        # A window's worker stopped early without an error: it was cancelled, and so is
        # this task about to be. Never report a truncated window as complete.
        await anyio.lowlevel.checkpoint()
        raise RuntimeError("iterate_windows: a window listing stopped before its end")

    def close(self) -> None:
        """Close every window stream (the consumer is gone)."""
        if self._current is not None:
            self._current.close()
            self._current = None
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()


class _WindowItems(Generic[T]):
    """The async iterator ``iterate_windows`` yields."""

    __slots__ = ("_run",)

    def __init__(self, run: _WindowRun[T]) -> None:
        self._run = run

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        return await self._run.next_item()


def iterate_windows(
    list_window: Callable[[date, date], AsyncIterable[T]],
    start: date,
    end: date,
    *,
    days: int = 1,
    limit: int = 4,
    buffer: int = 1000,
) -> AbstractAsyncContextManager[AsyncIterator[T]]:
    """List ``[start, end]`` window by window, up to ``limit`` windows at once, in order.

    ``list_window(first, last)`` returns an async iterable of the items in that inclusive
    window (e.g. ``flexiti.authorizations.list(creation_date_from=first,
    creation_date_to=last)``). Items come out in window order, each window's in its own
    order, as if the windows were listed one after another.

    Memory: at most ``limit`` windows are open (being listed, or finished but not yet read),
    each holding at most ``buffer`` items waiting for the consumer (plus one in hand, plus
    whatever ``list_window``'s iterator holds, e.g. a paginator's ``1 + prefetch`` pages).

    An error while listing a window is raised when the consumer reaches it (after that
    window's earlier items); no new window starts after an error. Leaving the block early
    cancels the listings still running.

    Example::

        async with iterate_windows(
            lambda a, b: flexiti.authorizations.list(creation_date_from=a, creation_date_to=b),
            date(2024, 1, 1), date(2024, 3, 31), days=7, limit=4,
        ) as authorizations:
            async for auth in authorizations:
                ...
    """
    windows = date_windows(start, end, days=days)
    check_int("limit", limit)
    check_int("buffer", buffer)
    return _iterate_windows(_WindowRun(list_window, windows, limit=limit, buffer=buffer))


@asynccontextmanager
async def _iterate_windows(run: _WindowRun[T]) -> AsyncIterator[AsyncIterator[T]]:
    try:
        # The workers hand errors to the consumer, so a one-exception group is the caller's
        # own exception from the ``async with`` body: it surfaces as is.
        with unwrap_lone_exception():
            async with anyio.create_task_group() as tg:
                run.start(tg)
                try:
                    yield _WindowItems(run)
                finally:
                    tg.cancel_scope.cancel()
    finally:
        run.close()
