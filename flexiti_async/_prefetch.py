"""One paginator iteration's fetch state: pages fetched inline or one step ahead.

Pages are fetched strictly one after another (page n+1 only once page n said "not last"),
either inline by the consumer or by a background fetcher started with ``spawn``. The
background fetcher never waits for the consumer: it stops as soon as ``prefetch`` pages are
buffered, and the consumer starts a new one after taking a page. So a consumer that simply
stops iterating leaves at most the fetch in flight (and, with ``prefetch > 1``, the fetches
needed to fill the buffer) to finish; their results are dropped. `Pipeline.close` cancels
the in-flight fetch at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio
import attrs

from ._anyio_util import Wakeup
from ._page_decode import PageDecoder, RawPage

__all__ = ["PaginatorStats", "Pipeline", "Spawn"]

#: Starts a background coroutine function soon, in a task group that outlives the iteration
#: (e.g. ``task_group.start_soon``). The coroutine never raises except on cancellation.
#: Any return value is ignored (anyio 4.16's ``start_soon`` returns a task handle).
Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], object]


@attrs.define(kw_only=True)
class PaginatorStats:
    """Counters for one `AsyncPaginator`, summed over all its iterations (for tests and metrics).

    ``requests``: calls to ``fetch`` started. ``pages_fetched``: bodies that came back and
    decoded. ``pages_consumed``: pages the consumer finished with. ``max_pages_held``: the
    largest number of pages one iteration held at once (fetched and not yet finished with,
    at most ``1 + prefetch``). ``pages_dropped``: pages that arrived after the consumer
    stopped. ``in_flight``: background fetchers running right now.

    Example::

        async for _ in paginator:
            pass
        assert paginator.stats.max_pages_held <= 2
    """

    requests: int = 0
    pages_fetched: int = 0
    pages_consumed: int = 0
    max_pages_held: int = 0
    pages_dropped: int = 0
    in_flight: int = 0


class Pipeline:
    """One iteration's fetch state, shared by the consumer and at most one fetcher."""

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[Any]],
        decoder: PageDecoder,
        stats: PaginatorStats,
        *,
        start_page: int,
        spawn: Spawn | None,
        prefetch: int,
    ) -> None:
        self._fetch = fetch
        self._decoder = decoder
        self._stats = stats
        self._spawn = spawn if prefetch > 0 else None
        self._prefetch = prefetch
        self._next_number = start_page
        self._buffer: deque[RawPage | Exception] = deque()
        self._held = 0  # pages fetched and not yet finished with by the consumer
        self._consumer_holds = False
        self._done = False  # no more fetches: last page seen, error, or stopped
        self._closed = False
        self._running = False
        self._wakeup = Wakeup()
        self._scope: anyio.CancelScope | None = None

    # ----------------------------------------------------------------- fetcher side

    def _should_fetch(self) -> bool:
        return not self._done and not self._closed and len(self._buffer) < self._prefetch

    async def _fetch_next(self) -> None:
        number = self._next_number
        outcome: RawPage | Exception
        try:
            self._decoder.check_budget(number)
            self._stats.requests += 1
            body = await self._fetch(number)
            outcome = self._decoder.decode(number, body)
        except Exception as exc:
            outcome = exc
        if self._closed or self._done:
            # The consumer left or needs no more pages: drop the result.
            self._stats.pages_dropped += not isinstance(outcome, Exception)
            return
        self._next_number = number + 1
        if isinstance(outcome, Exception) or outcome.is_last:
            self._done = True
        if not isinstance(outcome, Exception):
            self._stats.pages_fetched += 1
            self._held += 1
            self._stats.max_pages_held = max(self._stats.max_pages_held, self._held)
        self._buffer.append(outcome)
        self._wakeup.notify()

    async def _produce(self) -> None:
        self._stats.in_flight += 1
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                # Bounded: each pass fetches one page; stops at the last page, an error,
                # a full buffer, or max_pages.
                while self._should_fetch():
                    await self._fetch_next()
        except BaseException:
            # Cancelled from outside (e.g. the client's task group is closing): the
            # consumer falls back to fetching inline instead of waiting forever.
            self._spawn = None
            raise
        finally:
            self._scope = None
            self._running = False
            self._stats.in_flight -= 1
            self._wakeup.notify()

    def _start_fetcher(self) -> bool:
        if self._spawn is None:
            return False
        self._running = True
        try:
            self._spawn(self._produce)
        except Exception:
            # E.g. the client's task group is no longer open: fetch inline from now on.
            self._running = False
            self._spawn = None
            return False
        return True

    # ----------------------------------------------------------------- consumer side

    def _release(self) -> None:
        if self._consumer_holds:
            self._consumer_holds = False
            self._held -= 1
            self._stats.pages_consumed += 1

    async def take(self, enough: Callable[[RawPage], bool] | None) -> RawPage | None:
        """The next decoded page, or None at the end. ``enough(page)`` true: fetch no more."""
        self._release()
        # Bounded: each pass returns, fetches one page inline, or waits for a running
        # fetcher, which always notifies when it delivers or exits.
        while True:
            if self._buffer:
                outcome = self._buffer.popleft()
                if isinstance(outcome, Exception):
                    self.close()
                    raise outcome
                self._consumer_holds = True
                if enough is not None and enough(outcome):
                    self.stop()
                elif not self._running and self._should_fetch():
                    self._start_fetcher()  # fetch ahead while the caller consumes
                return outcome
            if self._done or self._closed:
                return None
            if not self._running and not self._start_fetcher():
                await self._fetch_next()
                continue
            await self._wakeup.wait()

    def stop(self) -> None:
        """Fetch nothing more; cancel a fetch in flight. Buffered pages are dropped."""
        self._done = True
        self._held -= sum(not isinstance(entry, Exception) for entry in self._buffer)
        self._buffer.clear()
        if self._scope is not None:
            self._scope.cancel()

    def close(self) -> None:
        """`stop`, and let go of the page the consumer holds. Idempotent."""
        self.stop()
        self._release()
        self._closed = True
