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

Where a history ends is decided in `_page_decode` (see ``docs/wire-assumptions.md``,
"History paging"). A page is requested only after the previous one said "not last", so at
most one request goes beyond the end (an empty page after a full last page of a bare-list
listing) and none when the envelope says last. Fetching, inline or one step ahead, is
`_prefetch`'s job.

Structured concurrency: an ``async for`` never holds a task group across ``yield`` (see the
anyio docs on cancel scope stack corruption). Prefetching runs either in a task group the
caller's client owns (the ``spawn`` argument) or in one the `AsyncPaginator.prefetching`
context manager owns; without either, plain iteration fetches sequentially.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs

from ._anyio_util import unwrap_lone_exception
from ._page_decode import (
    DEFAULT_ITEM_KEYS,
    DEFAULT_MAX_PAGES,
    PageDecoder,
    PageSettings,
    RawPage,
    annotate,
)
from ._prefetch import PaginatorStats, Pipeline, Spawn

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


class PageIterator(Generic[T]):
    """Async iterator over the `Page` objects of one iteration; see `AsyncPaginator.pages`.

    Supports ``aclose()`` (cancels a prefetch in flight) and ``async with``.

    Example::

        async with paginator.pages() as pages:
            async for page in pages:
                counts.append(len(page.items))
    """

    __slots__ = ("_build", "_busy", "_finished", "_limit", "_limit_is_raw", "_pipeline", "_yielded")

    def __init__(
        self,
        pipeline: Pipeline,
        build: Callable[[RawPage], Page[T]],
        *,
        max_items: int | None,
        filtered: bool,
    ) -> None:
        self._pipeline = pipeline
        self._build = build
        self._limit = max_items
        # Without a filter, raw items count towards max_items: fetch no further once met.
        self._limit_is_raw = not filtered
        self._yielded = 0
        self._finished = max_items == 0
        self._busy = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Page[T]:
        if self._finished:
            self._pipeline.close()
            raise StopAsyncIteration
        if self._busy:
            raise RuntimeError("this paginator iterator is already being awaited by another task")
        self._busy = True
        try:
            page = await self._next_page()
        except BaseException:
            # Error or cancellation: this iteration is over; nothing keeps fetching.
            await self.aclose()
            raise
        finally:
            self._busy = False
        if page is None:
            raise StopAsyncIteration
        return page

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: cancel a prefetch in flight and drop buffered pages. Idempotent."""
        self._finished = True
        self._pipeline.close()

    async def _next_page(self) -> Page[T] | None:
        limit = self._limit
        enough: Callable[[RawPage], bool] | None = None
        if limit is not None and self._limit_is_raw:
            remaining = limit - self._yielded
            enough = lambda raw: len(raw.items) >= remaining  # noqa: E731
        raw = await self._pipeline.take(enough)
        if raw is None:
            await self.aclose()
            return None
        page = self._build(raw)
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
            page = await self._pages.__anext__()  # StopAsyncIteration ends this one too
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
        settings = PageSettings.checked(
            page_size=page_size,
            item_keys=item_keys,
            start_page=start_page,
            prefetch=prefetch,
            max_items=max_items,
            max_pages=max_pages,
        )
        self._setup(fetch, parse_item, settings, item_filter=item_filter, spawn=spawn)

    @classmethod
    def from_settings(
        cls,
        fetch: Callable[[int], Awaitable[Any]],
        parse_item: Callable[[Any], T],
        settings: PageSettings,
        *,
        item_filter: Callable[[T], bool] | None = None,
        spawn: Spawn | None = None,
    ) -> AsyncPaginator[T]:
        """A paginator from settings already checked by ``PageSettings.checked`` (a
        resource checks its arguments once, under its own names).

        Example::

            settings = PageSettings.checked(page_size=50, start_page=2)
            paginator = AsyncPaginator.from_settings(fetch_page, parse, settings)
        """
        paginator = cls.__new__(cls)
        paginator._setup(fetch, parse_item, settings, item_filter=item_filter, spawn=spawn)
        return paginator

    def _setup(
        self,
        fetch: Callable[[int], Awaitable[Any]],
        parse_item: Callable[[Any], T],
        settings: PageSettings,
        *,
        item_filter: Callable[[T], bool] | None,
        spawn: Spawn | None,
    ) -> None:
        self._fetch = fetch
        self._parse_item = parse_item
        self._settings = settings
        self._item_filter = item_filter
        self._spawn = spawn
        self.stats = PaginatorStats()

    def __repr__(self) -> str:
        s = self._settings
        return (
            f"<AsyncPaginator page_size={s.page_size} start_page={s.start_page} "
            f"prefetch={s.prefetch} max_items={s.max_items}>"
        )

    # ----------------------------------------------------------------- internals

    async def _call_fetch(self, number: int) -> Any:
        try:
            return await self._fetch(number)
        except Exception as exc:
            annotate(exc, number, "fetching")
            raise

    def _build_page(self, raw: RawPage) -> Page[T]:
        try:
            parsed = [self._parse_item(item) for item in raw.items]
            if self._item_filter is not None:
                keep = self._item_filter
                parsed = [item for item in parsed if keep(item)]
        except Exception as exc:
            annotate(exc, raw.number, "parsing")
            raise
        return Page(
            items=tuple(parsed),
            page_number=raw.number,
            page_size=self._settings.page_size,
            total_count=raw.total_count,
            total_pages=raw.total_pages,
            is_last=raw.is_last,
            raw_count=len(raw.items),
        )

    def _pages(self, spawn: Spawn | None, prefetch: int) -> PageIterator[T]:
        pipeline = Pipeline(
            self._call_fetch,
            PageDecoder(self._settings),
            self.stats,
            start_page=self._settings.start_page,
            spawn=spawn,
            prefetch=prefetch,
        )
        return PageIterator(
            pipeline,
            self._build_page,
            max_items=self._settings.max_items,
            filtered=self._item_filter is not None,
        )

    # ----------------------------------------------------------------- public

    async def first_page(self) -> Page[T]:
        """Fetch page ``start_page`` (what ``await paginator`` does).

        ``item_filter`` and ``max_items`` apply to its items.

        Example::

            page = await paginator.first_page()
        """
        number = self._settings.start_page
        self.stats.requests += 1
        body = await self._call_fetch(number)
        raw = PageDecoder(self._settings).decode(number, body)
        self.stats.pages_fetched += 1
        self.stats.pages_consumed += 1
        self.stats.max_pages_held = max(self.stats.max_pages_held, 1)
        page = self._build_page(raw)
        limit = self._settings.max_items
        if limit is not None and len(page.items) > limit:
            page = attrs.evolve(page, items=page.items[:limit])
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
        return self._pages(self._spawn, self._settings.prefetch)

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
        # Our fetcher never raises, so a one-exception group is the caller's own error (or
        # a fetch error re-raised in the caller): it surfaces unwrapped.
        with unwrap_lone_exception():
            async with anyio.create_task_group() as tg:
                pages = self._pages(tg.start_soon, max(self._settings.prefetch, 1))
                try:
                    yield pages
                finally:
                    await pages.aclose()
                    tg.cancel_scope.cancel()
