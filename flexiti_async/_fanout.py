"""`bounded_map`: call a function on many inputs, a fixed number at a time.

A fixed pool of workers pulls from the inputs lazily, and results wait for the consumer in a
window of fixed size, so a million inputs cost the same memory as a hundred. The task group
lives inside the ``async with`` block; nothing keeps running after the block exits (early
``break``, exception or cancellation included).
"""

from __future__ import annotations

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
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, overload

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._anyio_util import Wakeup, unwrap_lone_exception
from ._checks import check_int
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["OnError", "Outcome", "bounded_map"]

In = TypeVar("In")
R = TypeVar("R")

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
        self._wakeup = Wakeup()
        self._error: BaseException | None = None
        self._closing = False
        self._tg: anyio.abc.TaskGroup | None = None

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
                        self._wakeup.notify()
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
                    self._wakeup.notify()
        finally:
            self._workers_left -= 1
            self._wakeup.notify()

    def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the workers and the feeder in ``tg`` (which this run may cancel)."""
        self._tg = tg
        # A zero-size stream: an input is handed over only when a worker is free to run it.
        send, receive = anyio.create_memory_object_stream[tuple[int, In]](0)
        with receive:
            for _ in range(self._limit):
                tg.start_soon(self._work, receive.clone())
        tg.start_soon(self._feed, send)

    def close(self) -> BaseException | None:
        """Stop whatever still runs (errors from now on are echoes); the first error."""
        self._closing = True
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
        return self._error

    async def next_outcome(self) -> Outcome[In, R]:
        """The next result (in input order when ``ordered``); StopAsyncIteration at the end."""
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
            await self._wakeup.wait()
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
    check_int("limit", limit)
    check_int("buffer", buffer, low=0, allow_none=True)
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
    # Our workers never raise (they record errors instead), so a one-exception group is
    # the caller's own exception from the ``async with`` body: it surfaces as is.
    with unwrap_lone_exception():
        async with anyio.create_task_group() as tg:
            run.start(tg)
            try:
                yield _MapResults(run, unwrap=unwrap)
            finally:
                error = run.close()
    if error is not None:
        raise error
