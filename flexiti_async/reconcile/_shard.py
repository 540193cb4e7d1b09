"""`run_shard`: list one shard's authorizations and captures, reduce them to a `Partial`."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, Callable, Mapping
from datetime import date
from typing import Any, Protocol, TypeVar, cast

import anyio
from attrs import field, frozen

from ..models.authorizations import Authorization, Capture
from ..pagination import AsyncPaginator
from ._gc import paused_gc
from ._plan import Listing, Shard
from ._progress import Progress
from ._state import AuthState, CaptureState, RefState

__all__ = ["Partial", "ReconcileClient", "run_shard"]

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Lister(Protocol[T_co]):
    """A resource group with a history listing (``authorizations`` or ``captures``)."""

    def list(
        self, *, creation_date_from: date, creation_date_to: date, page_size: int = ...
    ) -> AsyncIterable[T_co]: ...


class ReconcileClient(Protocol):
    """What the engine needs from its client: a `FlexitiClient` (or a test double).

    Shards that name stores also pass ``external_location_id=`` to ``list``.
    """

    @property
    def authorizations(self) -> _Lister[Authorization]: ...

    @property
    def captures(self) -> _Lister[Capture]: ...


def _refs(value: Mapping[str | None, RefState]) -> dict[str | None, RefState]:
    return dict(value)


@frozen(kw_only=True)
class Partial:
    """What one shard saw, reduced per reference; picklable, merged by `merge`.

    ``references`` maps each reference (None: records without one) to its `RefState`.
    ``stats``: ``pages``, ``items`` received, ``repeated_items`` (an id seen twice in the
    shard) and ``out_of_window_items`` (dated outside the shard's days: ignored).
    """

    shard: Shard
    references: Mapping[str | None, RefState] = field(factory=dict, converter=_refs)
    stats: Mapping[str, int] = field(factory=dict)

    @property
    def authorizations(self) -> int:
        """How many authorizations the shard kept."""
        return sum(len(state.authorizations) for state in self.references.values())

    @property
    def captures(self) -> int:
        """How many captures the shard kept."""
        return sum(len(state.captures) for state in self.references.values())


class _Collector:
    """Per-shard accumulation: each record once by id, only those dated inside the shard."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.auths: dict[int, AuthState] = {}
        self.captures: dict[int, CaptureState] = {}
        self.stats = dict.fromkeys(("pages", "items", "repeated_items", "out_of_window_items"), 0)

    def _inside(self, when: Any, store: str | None) -> bool:
        # A lenient server may hand a boundary item to two windows; it counts where it belongs.
        if when is not None and not self.shard.first <= when.date() <= self.shard.last:
            return False
        return self.shard.stores is None or store is None or store in self.shard.stores

    def add_authorization(self, auth: Authorization) -> None:
        state = AuthState.from_model(auth)
        if not self._inside(state.created, state.store):
            self.stats["out_of_window_items"] += 1
        elif state.authorization_id in self.auths:
            self.stats["repeated_items"] += 1
        else:
            self.auths[state.authorization_id] = state

    def add_capture(self, capture: Capture) -> None:
        state = CaptureState.from_model(capture)
        if not self._inside(state.date, state.store):
            self.stats["out_of_window_items"] += 1
        elif state.capture_id in self.captures:
            self.stats["repeated_items"] += 1
        else:
            self.captures[state.capture_id] = state

    def partial(self) -> Partial:
        with paused_gc():
            return self._partial()

    def _partial(self) -> Partial:
        auths: dict[str | None, list[AuthState]] = {}
        captures: dict[str | None, list[CaptureState]] = {}
        for auth in self.auths.values():
            auths.setdefault(auth.reference, []).append(auth)
        for capture in self.captures.values():
            captures.setdefault(capture.reference, []).append(capture)
        references = {
            ref: RefState(tuple(auths.get(ref, ())), tuple(captures.get(ref, ())))
            for ref in auths.keys() | captures.keys()
        }
        return Partial(shard=self.shard, references=references, stats=dict(self.stats))


async def run_shard(
    client: ReconcileClient,
    shard: Shard,
    *,
    page_size: int = 100,
    limiter: anyio.CapacityLimiter | None = None,
    progress: Progress | None = None,
    on_progress: Callable[[Progress], Any] | None = None,
) -> Partial:
    """Fetch one shard's authorizations and captures and reduce them to a `Partial`.

    The shard's listings (one per listing kind, and per store when it names stores) run
    concurrently, each holding a token of ``limiter`` (if given) while it lists: one limiter
    shared by all shards bounds the listings in flight. ``progress`` is updated after every
    page and listing, and ``on_progress`` called (keep it quick: it runs on the event loop).
    The first error (after the client's retries) cancels the shard's other listings and
    propagates; nothing of the shard is kept.
    """
    collector = _Collector(shard)
    stores: tuple[str | None, ...] = shard.stores if shard.stores is not None else (None,)

    def notify() -> None:
        if progress is not None and on_progress is not None:
            on_progress(progress)

    async def drain(source: AsyncIterable[T], add: Callable[[T], None]) -> None:
        if isinstance(source, AsyncPaginator):
            async with source.pages() as pages:
                async for page in pages:
                    for item in page.items:
                        add(item)
                    collector.stats["pages"] += 1
                    collector.stats["items"] += len(page.items)
                    if progress is not None:
                        progress.pages += 1
                        progress.items += len(page.items)
                    notify()
        else:  # any async iterable of items (test doubles): pages are not visible
            async for item in source:
                add(item)
                collector.stats["items"] += 1
                if progress is not None:
                    progress.items += 1

    async def listing(kind: Listing, store: str | None) -> None:
        async with limiter if limiter is not None else _NoLimit():
            await drain(*_source(client, kind, shard, store, page_size, collector))
        if progress is not None:
            progress.windows_done += 1
            progress.completed.append((kind, shard.first, shard.last))
        notify()

    try:
        async with anyio.create_task_group() as group:
            for kind in shard.listings:
                for store in stores:
                    group.start_soon(listing, kind, store)
    except BaseExceptionGroup as errors:
        # The first listing's error, as itself (callers catch FlexitiError, not a group).
        raise _first_error(errors) from None
    if progress is not None:
        progress.shards_done += 1
    return collector.partial()


def _source(
    client: ReconcileClient,
    kind: Listing,
    shard: Shard,
    store: str | None,
    page_size: int,
    collector: _Collector,
) -> tuple[AsyncIterable[Any], Callable[[Any], None]]:
    kwargs: dict[str, Any] = {
        "creation_date_from": shard.first,
        "creation_date_to": shard.last,
        "page_size": page_size,
    }
    if store is not None:
        kwargs["external_location_id"] = store
    if kind == "authorizations":
        return client.authorizations.list(**kwargs), collector.add_authorization
    return client.captures.list(**kwargs), collector.add_capture


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    for exc in group.exceptions:
        found: BaseException = exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_error(exc)
        if isinstance(found, Exception):
            return found
    return cast(BaseException, group)  # only cancellations inside: the group carries them


class _NoLimit:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None
