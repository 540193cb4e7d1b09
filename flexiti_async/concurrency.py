"""Bounded concurrent fan-out: `bounded_map`, `date_windows`, `iterate_windows`.

Everything here runs on anyio (asyncio and trio) and bounds both concurrency and memory:
a fixed pool of workers pulls from the inputs lazily, and results wait for the consumer in
a buffer of fixed size, so a million inputs cost the same memory as a hundred::

    async with bounded_map(lookup, account_numbers, limit=8) as results:
        async for profile in results:
            ...

Keep ``limit`` at or below the client's ``max_concurrency`` so work queues here, not in the
connection pool. Task groups live inside the ``async with`` blocks; nothing keeps running
after a block exits (early ``break``, exception or cancellation included).
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, overload

import anyio
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .errors import InvalidRequestError

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Outcome", "bounded_map", "date_windows", "iterate_windows"]

In = TypeVar("In")
R = TypeVar("R")
T = TypeVar("T")

OnError = Literal["raise", "collect"]


@attrs.frozen(kw_only=True)
class Outcome(Generic[In, R]):
    """The result of one call in ``bounded_map(..., on_error="collect")``.

    ``input`` is what was passed in, ``index`` its position in the inputs; exactly one of
    ``value`` (on success) and ``error`` (the exception it raised) is meaningful: check
    ``ok`` (``value`` may legitimately be None).

    Example::

        async with bounded_map(fetch, ids, limit=4, on_error="collect") as outcomes:
            async for out in outcomes:
                if out.ok:
                    save(out.input, out.value)
                else:
                    log.warning("%s failed: %s", out.input, out.error)
    """

    index: int
    input: In
    value: R | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True when the call returned (``value`` holds its result)."""
        return self.error is None

    def unwrap(self) -> R:
        """The value, or raise the error.

        Example::

            value = outcome.unwrap()
        """
        if self.error is not None:
            raise self.error
        return cast(R, self.value)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"{name} must be an integer >= 1, got {value!r}", field=name)


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc


@asynccontextmanager
async def _task_group() -> AsyncIterator[anyio.abc.TaskGroup]:
    """A task group that re-raises a lone exception unwrapped.

    Our workers never raise (they record errors instead), so a one-exception group is the
    caller's own exception from the ``async with`` body; callers expect it as is.
    """
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        exc = _single(group)
        if exc is None:
            raise
        raise exc from exc.__cause__


# --------------------------------------------------------------------------- bounded_map


class _MapRun(Generic[In, R]):
    """State of one ``bounded_map`` block: a feeder, ``limit`` workers, one consumer.

    The feeder takes an input only after acquiring a slot of ``window`` (= limit + buffer),
    and the consumer gives the slot back when it receives that input's result, so inputs
    taken but not yet consumed (running or finished) never exceed ``window``.
    """

    def __init__(
        self,
        fn: Callable[[In], Awaitable[R]],
        inputs: Iterable[In] | AsyncIterable[In],
        *,
        limit: int,
        window: int,
        ordered: bool,
        collect: bool,
    ) -> None:
        self._fn = fn
        self._inputs = inputs
        self._limit = limit
        self._ordered = ordered
        self._collect = collect
        self._slots = anyio.Semaphore(window)
        self._by_index: dict[int, Outcome[In, R]] = {}
        self._ready: deque[Outcome[In, R]] = deque()
        self._next_index = 0
        self._workers_left = limit
        self._taken = 0  # inputs read from the iterable
        self._handed = 0  # results handed to the consumer
        self._exhausted = False  # the iterable ended normally
        self._event: anyio.Event | None = None
        self._error: BaseException | None = None
        self._closing = False
        self._tg: anyio.abc.TaskGroup | None = None

    def _notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    def _fail(self, exc: BaseException) -> None:
        # Keep the first error only: the rest are usually its echoes, and the caller should
        # see one FlexitiError, not an ExceptionGroup.
        if self._error is None and not self._closing:
            self._error = exc
        assert self._tg is not None
        self._tg.cancel_scope.cancel()

    async def _feed(self, send: MemoryObjectSendStream[tuple[int, In]]) -> None:
        async with send:
            try:
                if isinstance(self._inputs, AsyncIterable):
                    it: AsyncIterator[In] | Iterator[In] = aiter(self._inputs)
                else:
                    it = iter(self._inputs)
                # Bounded by the inputs; the slot wait keeps it at most `window` ahead.
                while True:
                    await self._take_slot()
                    try:
                        item = await it.__anext__() if isinstance(it, AsyncIterator) else next(it)
                    except (StopIteration, StopAsyncIteration):
                        self._slots.release()
                        self._exhausted = True
                        self._notify()
                        return
                    self._taken += 1
                    try:
                        # Hand over without a scheduler round when a worker is already idle.
                        send.send_nowait((self._taken - 1, item))
                    except anyio.WouldBlock:
                        await send.send((self._taken - 1, item))
            except Exception as exc:
                self._fail(exc)  # a broken input iterable ends the whole run

    async def _take_slot(self) -> None:
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            await self._slots.acquire()

    async def _work(self, receive: MemoryObjectReceiveStream[tuple[int, In]]) -> None:
        try:
            async with receive:
                async for index, item in receive:
                    try:
                        value = await self._fn(item)
                    except Exception as exc:
                        if not self._collect:
                            self._fail(exc)
                            return
                        outcome: Outcome[In, R] = Outcome(index=index, input=item, error=exc)
                    else:
                        outcome = Outcome(index=index, input=item, value=value)
                    if self._ordered:
                        self._by_index[index] = outcome
                    else:
                        self._ready.append(outcome)
                    self._notify()
        finally:
            self._workers_left -= 1
            self._notify()

    async def next_outcome(self) -> Outcome[In, R]:
        # Bounded: each wait ends with a new result or a worker exiting, both finite.
        while True:
            if self._ordered:
                outcome = self._by_index.pop(self._next_index, None)
                if outcome is not None:
                    self._next_index += 1
                    break
            elif self._ready:
                outcome = self._ready.popleft()
                break
            if self._exhausted and self._handed == self._taken:
                raise StopAsyncIteration
            if self._workers_left == 0:
                await self._stalled()
            event = self._event = anyio.Event()
            await event.wait()
        self._handed += 1
        self._slots.release()
        return outcome

    async def _stalled(self) -> None:
        # The workers stopped before every result arrived: they were cancelled (an error,
        # or a cancellation that is about to reach this task too). Never report a
        # truncated run as complete.
        if self._error is not None:
            raise self._error
        await anyio.lowlevel.checkpoint()  # a pending cancellation is delivered here
        raise RuntimeError("bounded_map: the workers stopped before every result arrived")


class _MapResults(Generic[In, R]):
    """The async iterator ``bounded_map`` yields (values, or `Outcome` objects)."""

    __slots__ = ("_run", "_unwrap")

    def __init__(self, run: _MapRun[In, R], *, unwrap: bool) -> None:
        self._run = run
        self._unwrap = unwrap

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        outcome = await self._run.next_outcome()
        return outcome.value if self._unwrap else outcome


@overload
def bounded_map(
    fn: Callable[[In], Awaitable[R]],
    inputs: Iterable[In] | AsyncIterable[In],
    *,
    limit: int,
    ordered: bool = ...,
    on_error: Literal["raise"] = ...,
    buffer: int | None = ...,
) -> AbstractAsyncContextManager[AsyncIterator[R]]: ...


@overload
def bounded_map(
    fn: Callable[[In], Awaitable[R]],
    inputs: Iterable[In] | AsyncIterable[In],
    *,
    limit: int,
    ordered: bool = ...,
    on_error: Literal["collect"],
    buffer: int | None = ...,
) -> AbstractAsyncContextManager[AsyncIterator[Outcome[In, R]]]: ...


def bounded_map(
    fn: Callable[[In], Awaitable[R]],
    inputs: Iterable[In] | AsyncIterable[In],
    *,
    limit: int,
    ordered: bool = True,
    on_error: OnError = "raise",
    buffer: int | None = None,
) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
    """Call ``fn`` on every input with at most ``limit`` calls in flight.

    An async context manager yielding an async iterator of results: in input order when
    ``ordered`` (default), else as they complete. ``inputs`` may be any iterable or async
    iterable; it is read lazily. Memory is bounded: at most ``limit + buffer`` inputs are
    taken and not yet consumed (``buffer`` defaults to ``limit``), so a slow consumer or a
    slow head-of-line call pauses the workers instead of piling up results.

    ``on_error="raise"``: the first exception cancels the remaining calls and propagates
    from the ``async with`` block as itself (not wrapped in an ExceptionGroup).
    ``on_error="collect"``: every result is an `Outcome` with ``.input`` and ``.value`` or
    ``.error``; nothing is cancelled.

    Leaving the block early (``break``, exception, cancellation) cancels the calls still
    running; nothing keeps running after it exits.

    Example::

        async with bounded_map(
            lambda n: flexiti.customers.lookup(account_number=n), numbers, limit=8
        ) as profiles:
            async for profile in profiles:
                seen.append(profile.customer_id)
    """
    _check_positive("limit", limit)
    if buffer is not None and (isinstance(buffer, bool) or not isinstance(buffer, int)):
        raise InvalidRequestError(f"buffer must be an integer >= 0, got {buffer!r}", field="buffer")
    if buffer is not None and buffer < 0:
        raise InvalidRequestError(f"buffer must be an integer >= 0, got {buffer!r}", field="buffer")
    if on_error not in ("raise", "collect"):
        raise InvalidRequestError(
            f"on_error must be 'raise' or 'collect', got {on_error!r}", field="on_error"
        )
    if not isinstance(inputs, (Iterable, AsyncIterable)):
        raise InvalidRequestError("inputs must be an iterable or an async iterable", field="inputs")
    window = limit + (limit if buffer is None else buffer)
    return _bounded_map(
        _MapRun(
            fn, inputs, limit=limit, window=window, ordered=ordered, collect=on_error == "collect"
        ),
        unwrap=on_error == "raise",
    )


@asynccontextmanager
async def _bounded_map(run: _MapRun[In, R], *, unwrap: bool) -> AsyncIterator[AsyncIterator[Any]]:
    # A zero-size stream: an input is handed over only when a worker is free to run it.
    send, receive = anyio.create_memory_object_stream[tuple[int, In]](0)
    async with _task_group() as tg:
        run._tg = tg
        with receive:
            for _ in range(run._limit):
                tg.start_soon(run._work, receive.clone())
        tg.start_soon(run._feed, send)
        try:
            yield _MapResults(run, unwrap=unwrap)
        finally:
            # Early exit or done: stop whatever still runs; errors from now on are echoes.
            run._closing = True
            tg.cancel_scope.cancel()
    if run._error is not None:
        raise run._error


# --------------------------------------------------------------------------- date windows


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
    _check_positive("days", days)
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
        self._event: anyio.Event | None = None
        # Consumer side.
        self._index = 0
        self._current: MemoryObjectReceiveStream[T] | None = None

    def _notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

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
                self._notify()
                async with send:
                    await self._list_one(index, send)
        finally:
            self._workers_left -= 1
            self._notify()

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

    async def next_item(self) -> T:
        # Bounded: each pass returns an item or finishes one of finitely many windows.
        while True:
            if self._current is None:
                if self._index >= len(self._windows):
                    raise StopAsyncIteration
                stream = self._streams.pop(self._index, None)
                if stream is None:
                    if self._workers_left == 0:
                        await self._stalled()
                    event = self._event = anyio.Event()
                    await event.wait()
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
    _check_positive("limit", limit)
    _check_positive("buffer", buffer)
    return _iterate_windows(_WindowRun(list_window, windows, limit=limit, buffer=buffer))


@asynccontextmanager
async def _iterate_windows(run: _WindowRun[T]) -> AsyncIterator[AsyncIterator[T]]:
    try:
        async with _task_group() as tg:
            for _ in range(run._limit):
                tg.start_soon(run._work)
            try:
                yield _WindowItems(run)
            finally:
                tg.cancel_scope.cancel()
    finally:
        run.close()
