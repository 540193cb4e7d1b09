"""`Progress`: live counters of a run, shared by the shard runner and whoever displays it."""

from __future__ import annotations

from datetime import date

import attrs

from ._plan import Listing

__all__ = ["Progress"]


@attrs.define(kw_only=True)
class Progress:
    """Live counters of one run, updated as it goes (read them any time).

    ``windows_total`` is the number of listings (a shard lists authorizations and captures,
    once per store when it names stores); ``windows_done`` those finished, named in
    ``completed`` as ``(listing, first day, last day)``. ``shards_total`` / ``shards_done``
    count whole shards. ``pages`` and ``items`` count pages and items received.
    ``retries`` is not touched by the engine (it never sees a retry); a caller may count
    them, e.g. from the client's debug log, as the CLI does.
    """

    windows_total: int = 0
    windows_done: int = 0
    shards_total: int = 0
    shards_done: int = 0
    pages: int = 0
    items: int = 0
    retries: int = 0
    completed: list[tuple[Listing, date, date]] = attrs.field(factory=list)

    def done_by_listing(self) -> dict[Listing, int]:
        """How many windows of each listing are finished."""
        counts: dict[Listing, int] = {"authorizations": 0, "captures": 0}
        for listing, _, _ in self.completed:
            counts[listing] += 1
        return counts
