"""Page-number paging over Flexiti history listings: `Page` and `AsyncPaginator`.

The paginator knows nothing about HTTP or endpoints. A resource method hands it a ``fetch``
coroutine function (page number -> decoded JSON body) and a ``parse_item`` function (one raw
item -> model); the paginator decides which pages to ask for, when the history ends, and
whether the server broke the paging contract::

    paginator = AsyncPaginator(fetch, parse_item, page_size=100)
    first = await paginator                 # Page[T] for page 1
    async for item in paginator:            # every item, across pages
        ...
    async with paginator.prefetching() as items:   # same, fetching one page ahead
        async for item in items:
            ...

End of history (see ``docs/wire-assumptions.md``, "History paging"): an empty page; a page
shorter than the page size (raw items, before ``item_filter``) unless the envelope explicitly
says more follow; or an envelope that says it is the last (``last: true``,
``has_more``/``has_next`` false, ``next``/``next_page`` present and null,
``page_number >= total_pages``, items seen >= ``total_count``). A page is requested only after
the previous one said "not last", so at most one request goes beyond the end (an empty page
after a full last page of a bare-list listing) and none when the envelope says last.

Structured concurrency: an ``async for`` never holds a task group across ``yield`` (see the
anyio docs on cancel scope stack corruption). Prefetching runs either in a task group the
caller's client owns (the ``spawn`` argument) or in one the `AsyncPaginator.prefetching`
context manager owns; without either, plain iteration fetches sequentially.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs

from .errors import FlexitiError, InvalidRequestError, PaginationError

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AsyncPaginator",
    "ItemIterator",
    "Page",
    "PageIterator",
    "PaginatorStats",
    "Spawn",
]

T = TypeVar("T")

#: Starts a background coroutine function soon, in a task group that outlives the iteration
#: (e.g. ``task_group.start_soon``). The coroutine never raises except on cancellation.
#: Any return value is ignored (anyio 4.16's ``start_soon`` returns a task handle).
Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], object]

DEFAULT_ITEM_KEYS: tuple[str, ...] = ("data", "items", "results", "content")
DEFAULT_MAX_PAGES = 100_000
_TOTAL_KEYS = ("total_count", "total", "total_items")


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a history listing.

    ``items`` are parsed and already passed through the paginator's ``item_filter``;
    ``raw_count`` is how many items the server sent (before filtering). ``total_count`` and
    ``total_pages`` are the server's counts when its envelope had them. ``is_last`` says the
    paginator will not ask for another page.

    Example::

        page = await flexiti.authorizations.list(page_size=50)
        page.page_number, len(page), page.total_count, page.is_last
    """

    items: tuple[T, ...]
    page_number: int
    page_size: int
    total_count: int | None = None
    total_pages: int | None = None
    is_last: bool
    raw_count: int

    @property
    def has_more(self) -> bool:
        """``not is_last``: another page will be requested."""
        return not self.is_last

    def __len__(self) -> int:
        """How many items this page holds (after the paginator's filter)."""
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        """The page's items, in order: ``for auth in page: ...``."""
        return iter(self.items)


@attrs.define(kw_only=True)
class PaginatorStats:
    """Counters for one `AsyncPaginator`, summed over all its iterations (for tests/metrics).

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


@attrs.frozen(kw_only=True)
class _RawPage:
    """A decoded page before its items are parsed."""

    number: int
    items: list[Any]
    total_count: int | None
    total_pages: int | None
    is_last: bool


def _as_int(value: Any) -> int | None:
    """A non-negative int from an envelope field, or None (bools and junk are ignored)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit():  # "²".isdigit() is true, int("²") is not
        return int(text)
    return None


def _as_flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _fingerprint(items: list[Any]) -> bytes:
    """A cheap digest of a page, to spot a server that repeats a page.

    Length plus the first and last items: a server that ignores ``page_number`` repeats
    all three, while serialising the whole page cost ~27% of paging CPU (benchmarks/).
    """
    sample = [len(items), items[:1], items[-1:]]
    try:
        text = json.dumps(sample, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):
        # Non-JSON items from a fake fetch (e.g. mixed-type keys): repr is good enough.
        text = repr(sample)
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).digest()


def _annotate(exc: BaseException, number: int, doing: str) -> None:
    """Tag an exception with the page it happened on (attribute + PEP 678 note)."""
    if isinstance(exc, FlexitiError):
        exc.page_number = number
    if hasattr(exc, "add_note"):  # Python 3.11+
        exc.add_note(f"while {doing} page {number}")


class _Decoder:
    """Splits bodies into items + envelope and decides where the history ends.

    One per iteration: it remembers how many items were seen and the fingerprint of every
    page (bounded by ``max_pages``), so a server that ignores ``page_number`` is caught.
    """

    def __init__(
        self, *, page_size: int, item_keys: Sequence[str], start_page: int, max_pages: int
    ) -> None:
        self._page_size = page_size
        self._item_keys = tuple(item_keys)
        self._start_page = start_page
        self._max_pages = max_pages
        self._seen: int | None = None
        self._prints: dict[bytes, int] = {}
        self.pages = 0

    def check_budget(self, number: int) -> None:
        if self.pages >= self._max_pages:
            exc = PaginationError(
                f"gave up before page {number}: {self._max_pages} pages fetched without "
                "reaching the end of the history (max_pages)"
            )
            exc.page_number = number
            raise exc

    def _split(self, number: int, body: Any) -> tuple[list[Any], Mapping[str, Any]]:
        if isinstance(body, list):
            return body, {}
        if isinstance(body, Mapping):
            for key in self._item_keys:
                if key in body:
                    value = body[key]
                    if value is None:
                        return [], body
                    if isinstance(value, list):
                        return value, body
                    raise self._error(
                        number,
                        f"page {number}: {key!r} holds a {type(value).__name__}, not a list",
                    )
            # Key names only: values may hold customer data.
            found = sorted(str(k) for k in body)[:20]
            raise self._error(
                number,
                f"page {number}: the response object holds none of the item keys "
                f"{list(self._item_keys)}; keys found: {found}",
            )
        raise self._error(
            number, f"page {number}: expected a JSON list or object, got {type(body).__name__}"
        )

    @staticmethod
    def _error(number: int, message: str) -> PaginationError:
        exc = PaginationError(message)
        exc.page_number = number
        return exc

    def decode(self, number: int, body: Any) -> _RawPage:
        items, env = self._split(number, body)
        self.pages += 1
        if items:
            digest = _fingerprint(items)
            earlier = self._prints.get(digest)
            if earlier is not None:
                raise self._error(
                    number,
                    f"page {number} repeats page {earlier} (same items): the server seems "
                    "to ignore page_number; stopping instead of looping",
                )
            self._prints[digest] = number

        # The server may cap page_size below what we asked for; trust its echo if any.
        size = _as_int(env.get("page_size")) or self._page_size
        if self._seen is None:
            # Resuming at page n: the server's counts include the pages we skipped.
            self._seen = (self._start_page - 1) * size
        self._seen += len(items)

        total_count = next(
            (v for v in (_as_int(env.get(k)) for k in _TOTAL_KEYS) if v is not None), None
        )
        total_pages = _as_int(env.get("total_pages"))
        says_last = says_more = False
        last = _as_flag(env.get("last"))
        if last is not None:
            says_last, says_more = last, not last
        for key in ("has_more", "has_next"):
            flag = _as_flag(env.get(key))
            if flag is not None:
                says_last |= not flag
                says_more |= flag
        for key in ("next", "next_page"):
            if key in env:
                if env[key] in (None, False, ""):
                    says_last = True
                else:
                    says_more = True
        # The page number we asked for, not an echo: the docs number pages from 1.
        if total_pages is not None:
            says_last |= number >= total_pages
            says_more |= number < total_pages
        if total_count is not None:
            says_last |= self._seen >= total_count
            says_more |= self._seen < total_count

        # A short page ends the history unless the envelope explicitly says more follow
        # (a server capping page_size must not silently truncate the history).
        is_last = not items or says_last or (len(items) < size and not says_more)
        return _RawPage(
            number=number,
            items=items,
            total_count=total_count,
            total_pages=total_pages,
            is_last=is_last,
        )


class _Pipeline:
    """One iteration's fetch state, shared by the consumer and at most one fetcher.

    Pages are fetched strictly one after another (page n+1 only once page n said "not
    last"), either inline by the consumer or by a background fetcher started with
    ``spawn``. The background fetcher never waits for the consumer: it stops as soon as
    ``prefetch`` pages are buffered, and the consumer starts a new one after taking a page.
    So a consumer that simply stops iterating leaves at most the fetch in flight (and, with
    ``prefetch > 1``, the fetches needed to fill the buffer) to finish; their results are
    dropped. `close` cancels the in-flight fetch at once.
    """

    def __init__(self, paginator: AsyncPaginator[Any], spawn: Spawn | None, prefetch: int) -> None:
        self._paginator = paginator
        self._stats = paginator.stats
        self._decoder = paginator._decoder()
        self._spawn = spawn if prefetch > 0 else None
        self._prefetch = prefetch
        self._next_number = paginator._start_page
        self._buffer: deque[_RawPage | Exception] = deque()
        self._held = 0  # pages fetched and not yet finished with by the consumer
        self._consumer_holds = False
        self._done = False  # no more fetches: last page seen, error, or stopped
        self._closed = False
        self._running = False
        self._event: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None

    # ----------------------------------------------------------------- fetcher side

    def _notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    def _should_fetch(self) -> bool:
        return not self._done and not self._closed and len(self._buffer) < self._prefetch

    async def _fetch_next(self) -> None:
        number = self._next_number
        outcome: _RawPage | Exception
        try:
            self._decoder.check_budget(number)
            self._stats.requests += 1
            body = await self._paginator._call_fetch(number)
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
        self._notify()

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
            self._notify()

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

    async def take(self, enough: Callable[[_RawPage], bool] | None) -> _RawPage | None:
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
            event = self._event = anyio.Event()
            await event.wait()

    def stop(self) -> None:
        """Fetch nothing more; cancel a fetch in flight. Buffered pages are dropped."""
        self._done = True
        self._held -= sum(not isinstance(entry, Exception) for entry in self._buffer)
        self._buffer.clear()
        if self._scope is not None:
            self._scope.cancel()

    def close(self) -> None:
        self.stop()
        self._release()
        self._closed = True


class PageIterator(Generic[T]):
    """Async iterator over the `Page` objects of one iteration; see `AsyncPaginator.pages`.

    Supports ``aclose()`` (cancels a prefetch in flight) and ``async with``.

    Example::

        async with paginator.pages() as pages:
            async for page in pages:
                counts.append(len(page.items))
    """

    __slots__ = ("_busy", "_finished", "_paginator", "_pipeline", "_yielded")

    def __init__(self, paginator: AsyncPaginator[T], pipeline: _Pipeline) -> None:
        self._paginator = paginator
        self._pipeline = pipeline
        self._yielded = 0
        self._finished = paginator._max_items == 0
        self._busy = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Page[T]:
        page = await self._next()
        if page is None:
            raise StopAsyncIteration
        return page

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: cancel a prefetch in flight and drop buffered pages. Idempotent."""
        self._finish()

    def _finish(self) -> None:
        self._finished = True
        self._pipeline.close()

    async def _next(self) -> Page[T] | None:
        if self._finished:
            self._pipeline.close()
            return None
        if self._busy:
            raise RuntimeError("this paginator iterator is already being awaited by another task")
        self._busy = True
        try:
            return await self._next_unguarded()
        except BaseException:
            # Error or cancellation: this iteration is over; nothing keeps fetching.
            self._finish()
            raise
        finally:
            self._busy = False

    async def _next_unguarded(self) -> Page[T] | None:
        paginator = self._paginator
        limit = paginator._max_items
        enough: Callable[[_RawPage], bool] | None = None
        if limit is not None and paginator._item_filter is None:
            remaining = limit - self._yielded
            # Without a filter we know in advance when max_items is met: fetch no further.
            enough = lambda raw: len(raw.items) >= remaining  # noqa: E731
        raw = await self._pipeline.take(enough)
        if raw is None:
            self._finish()
            return None
        page = paginator._build_page(raw)
        if limit is not None and self._yielded + len(page.items) >= limit:
            page = attrs.evolve(page, items=page.items[: limit - self._yielded])
            self._finished = True
            self._pipeline.stop()
        elif page.is_last:
            self._finished = True
        self._yielded += len(page.items)
        return page


class ItemIterator(Generic[T]):
    """Async iterator over the items of one iteration; what ``async for`` uses.

    Holds one page of items at a time. Supports ``aclose()`` and ``async with``; plain
    ``break`` is also safe (at most the one prefetch in flight finishes and is dropped).

    Example::

        async with aiter(paginator) as items:  # or contextlib.aclosing(...)
            async for item in items:
                ...
    """

    __slots__ = ("_index", "_items", "_pages")

    def __init__(self, pages: PageIterator[T]) -> None:
        self._pages = pages
        self._items: tuple[T, ...] = ()
        self._index = 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        # Bounded: each pass takes one more page, and the page stream is finite.
        while self._index >= len(self._items):
            # Let the finished page go before the next one is fetched and parsed: holding
            # it here would keep two pages of models alive at the peak instead of one.
            self._items = ()
            page = await self._pages._next()
            if page is None:
                raise StopAsyncIteration
            self._items, self._index = page.items, 0
        item = self._items[self._index]
        self._index += 1
        return item

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: cancel a prefetch in flight and drop buffered pages. Idempotent."""
        self._items = ()
        await self._pages.aclose()


class AsyncPaginator(Generic[T]):
    """Awaitable, async-iterable view of a page-numbered history listing.

    ``fetch(page_number)`` returns the decoded JSON body (a bare list, or an object holding
    the list under the first present key of ``item_keys`` plus optional counts) and raises
    `FlexitiError` subclasses; ``parse_item`` turns one raw item into a model.

    * ``await paginator`` -> the first `Page` (page ``start_page``).
    * ``async for item in paginator`` -> every item across pages. With ``spawn`` (given by
      the client, which owns a long-lived task group) the next page is fetched in the
      background while the caller consumes the current one; without it, sequentially.
    * ``paginator.pages()`` -> the pages themselves.
    * ``async with paginator.prefetching() as items`` -> items, prefetching in a task group
      that lives exactly as long as the block (nothing runs after it exits).

    Memory: at most ``1 + prefetch`` pages per iteration. ``max_items`` stops after that
    many items (after ``item_filter``). An error while fetching or parsing propagates with
    ``exc.page_number`` set and a note; a new paginator with ``start_page=exc.page_number``
    resumes. A page identical to an earlier one raises `PaginationError`, as does going past
    ``max_pages`` pages.

    Example::

        paginator = AsyncPaginator(fetch_page, Authorization.from_raw, page_size=100)
        try:
            async for auth in paginator:
                handle(auth)
        except FlexitiError as exc:
            resume_from = exc.page_number   # AsyncPaginator(..., start_page=resume_from)
    """

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[Any]],
        parse_item: Callable[[Any], T],
        *,
        page_size: int,
        item_keys: Sequence[str] = DEFAULT_ITEM_KEYS,
        start_page: int = 1,
        prefetch: int = 1,
        max_items: int | None = None,
        item_filter: Callable[[T], bool] | None = None,
        spawn: Spawn | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        for name, value, low in (
            ("page_size", page_size, 1),
            ("start_page", start_page, 1),
            ("prefetch", prefetch, 0),
            ("max_pages", max_pages, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidRequestError(
                    f"{name} must be an integer >= {low}, got {value!r}", field=name
                )
        if max_items is not None and (
            isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0
        ):
            raise InvalidRequestError(
                f"max_items must be None or an integer >= 0, got {max_items!r}",
                field="max_items",
            )
        if isinstance(item_keys, str) or not item_keys:
            raise InvalidRequestError(
                "item_keys must be a non-empty sequence of key names", field="item_keys"
            )
        self._fetch = fetch
        self._parse_item = parse_item
        self._page_size = page_size
        self._item_keys = tuple(item_keys)
        self._start_page = start_page
        self._prefetch = prefetch
        self._max_items = max_items
        self._item_filter = item_filter
        self._spawn = spawn
        self._max_pages = max_pages
        self.stats = PaginatorStats()

    def __repr__(self) -> str:
        return (
            f"<AsyncPaginator page_size={self._page_size} start_page={self._start_page} "
            f"prefetch={self._prefetch} max_items={self._max_items}>"
        )

    # ----------------------------------------------------------------- internals

    def _decoder(self) -> _Decoder:
        return _Decoder(
            page_size=self._page_size,
            item_keys=self._item_keys,
            start_page=self._start_page,
            max_pages=self._max_pages,
        )

    async def _call_fetch(self, number: int) -> Any:
        try:
            return await self._fetch(number)
        except Exception as exc:
            _annotate(exc, number, "fetching")
            raise

    def _build_page(self, raw: _RawPage) -> Page[T]:
        try:
            parsed = [self._parse_item(item) for item in raw.items]
            if self._item_filter is not None:
                keep = self._item_filter
                parsed = [item for item in parsed if keep(item)]
        except Exception as exc:
            _annotate(exc, raw.number, "parsing")
            raise
        return Page(
            items=tuple(parsed),
            page_number=raw.number,
            page_size=self._page_size,
            total_count=raw.total_count,
            total_pages=raw.total_pages,
            is_last=raw.is_last,
            raw_count=len(raw.items),
        )

    def _pages(self, spawn: Spawn | None, prefetch: int) -> PageIterator[T]:
        return PageIterator(self, _Pipeline(self, spawn, prefetch))

    # ----------------------------------------------------------------- public

    async def first_page(self) -> Page[T]:
        """Fetch page ``start_page`` (what ``await paginator`` does).

        ``item_filter`` and ``max_items`` apply to its items.

        Example::

            page = await paginator.first_page()
        """
        decoder = self._decoder()
        number = self._start_page
        self.stats.requests += 1
        body = await self._call_fetch(number)
        raw = decoder.decode(number, body)
        self.stats.pages_fetched += 1
        self.stats.pages_consumed += 1
        self.stats.max_pages_held = max(self.stats.max_pages_held, 1)
        page = self._build_page(raw)
        if self._max_items is not None and len(page.items) > self._max_items:
            page = attrs.evolve(page, items=page.items[: self._max_items])
        return page

    def __await__(self) -> Generator[Any, None, Page[T]]:
        return self.first_page().__await__()

    def __aiter__(self) -> ItemIterator[T]:
        return ItemIterator(self.pages())

    def pages(self) -> PageIterator[T]:
        """Iterate pages instead of items (prefetching through ``spawn`` when given).

        Example::

            async for page in paginator.pages():
                counts.append((page.page_number, page.raw_count))
        """
        return self._pages(self._spawn, self._prefetch)

    @asynccontextmanager
    async def prefetching(self) -> AsyncIterator[ItemIterator[T]]:
        """Iterate items while fetching ``max(prefetch, 1)`` pages ahead in a task group
        owned by this block; on exit any fetch in flight is cancelled.

        Example::

            async with paginator.prefetching() as items:
                async for item in items:
                    await store(item)
        """
        async with self.prefetching_pages() as pages:
            yield ItemIterator(pages)

    @asynccontextmanager
    async def prefetching_pages(self) -> AsyncIterator[PageIterator[T]]:
        """Like `prefetching`, but yields the pages.

        Example::

            async with paginator.prefetching_pages() as pages:
                async for page in pages:
                    await store_many(page.items)
        """
        try:
            async with anyio.create_task_group() as tg:
                pages = self._pages(tg.start_soon, max(self._prefetch, 1))
                try:
                    yield pages
                finally:
                    pages._finish()
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Our fetcher never raises, so a one-exception group is the caller's own error
            # (or a fetch error re-raised in the caller): surface it unwrapped.
            exc = _single(group)
            if exc is None:
                raise
            raise exc from exc.__cause__


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc
