"""Pure page decoding for `AsyncPaginator`: checked settings, envelope reading and the
end-of-history decision. No I/O here: every function takes a decoded body and returns.

End of history (see ``docs/wire-assumptions.md``, "History paging"): an empty page; a page
shorter than the page size (raw items, before ``item_filter``) unless the envelope explicitly
says more follow; or an envelope that says it is the last (``last: true``,
``has_more``/``has_next`` false, ``next``/``next_page`` present and null,
``page_number >= total_pages``, items seen >= ``total_count``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._checks import check_int
from .errors import FlexitiError, InvalidRequestError, PaginationError

__all__ = [
    "DEFAULT_ITEM_KEYS",
    "DEFAULT_MAX_PAGES",
    "PageDecoder",
    "PageSettings",
    "RawPage",
    "annotate",
]

DEFAULT_ITEM_KEYS: tuple[str, ...] = ("data", "items", "results", "content")
DEFAULT_MAX_PAGES = 100_000
_TOTAL_KEYS = ("total_count", "total", "total_items")


@attrs.frozen(kw_only=True)
class PageSettings:
    """The arguments of one paginator, checked once (`checked`)."""

    page_size: int
    item_keys: tuple[str, ...] = DEFAULT_ITEM_KEYS
    start_page: int = 1
    prefetch: int = 1
    max_items: int | None = None
    max_pages: int = DEFAULT_MAX_PAGES

    @classmethod
    def checked(
        cls,
        *,
        page_size: object,
        item_keys: Sequence[str] = DEFAULT_ITEM_KEYS,
        start_page: object = 1,
        prefetch: object = 1,
        max_items: object = None,
        max_pages: object = DEFAULT_MAX_PAGES,
        start_field: str = "start_page",
    ) -> PageSettings:
        """Check every argument (InvalidRequestError names the bad one, ``start_page``
        under the caller's name ``start_field``)."""
        if isinstance(item_keys, str) or not item_keys:
            raise InvalidRequestError(
                "item_keys must be a non-empty sequence of key names", field="item_keys"
            )
        return cls(
            page_size=check_int("page_size", page_size),
            item_keys=tuple(item_keys),
            start_page=check_int(start_field, start_page),
            prefetch=check_int("prefetch", prefetch, low=0),
            max_items=check_int("max_items", max_items, low=0, allow_none=True),
            max_pages=check_int("max_pages", max_pages),
        )


@attrs.frozen(kw_only=True)
class RawPage:
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
    all three, and serialising the whole page would cost a large share of paging CPU.
    """
    sample = [len(items), items[:1], items[-1:]]
    try:
        text = json.dumps(sample, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):
        # Non-JSON items from a fake fetch (e.g. mixed-type keys): repr is good enough.
        text = repr(sample)
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).digest()


def annotate(exc: BaseException, number: int, doing: str) -> None:
    """Tag an exception with the page it happened on (attribute + PEP 678 note)."""
    if isinstance(exc, FlexitiError):
        exc.page_number = number
    if hasattr(exc, "add_note"):  # Python 3.11+
        exc.add_note(f"while {doing} page {number}")


def _envelope_says(env: Mapping[str, Any], number: int, seen: int) -> tuple[bool, bool]:
    """``(says last, says more)`` from the envelope's flags and counts (both may be true
    when the server contradicts itself: "last" then wins)."""
    total_count = _total_count(env)
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
        says_last |= seen >= total_count
        says_more |= seen < total_count
    return says_last, says_more


def _total_count(env: Mapping[str, Any]) -> int | None:
    return next((v for v in (_as_int(env.get(k)) for k in _TOTAL_KEYS) if v is not None), None)


def _error(number: int, message: str) -> PaginationError:
    exc = PaginationError(message)
    exc.page_number = number
    return exc


def _split(number: int, body: Any, item_keys: Sequence[str]) -> tuple[list[Any], Mapping[str, Any]]:
    """``(items, envelope)`` of a decoded body: a bare list, or an object holding the list
    under the first present item key."""
    if isinstance(body, list):
        return body, {}
    if not isinstance(body, Mapping):
        raise _error(
            number, f"page {number}: expected a JSON list or object, got {type(body).__name__}"
        )
    for key in item_keys:
        if key in body:
            value = body[key]
            if value is None:
                return [], body
            if isinstance(value, list):
                return value, body
            raise _error(
                number, f"page {number}: {key!r} holds a {type(value).__name__}, not a list"
            )
    # Key names only: values may hold customer data.
    found = sorted(str(k) for k in body)[:20]
    raise _error(
        number,
        f"page {number}: the response object holds none of the item keys "
        f"{list(item_keys)}; keys found: {found}",
    )


class PageDecoder:
    """Splits bodies into items + envelope and decides where the history ends.

    One per iteration: it remembers how many items were seen and the fingerprint of every
    page (bounded by ``max_pages``), so a server that ignores ``page_number`` is caught.
    """

    def __init__(self, settings: PageSettings) -> None:
        self._settings = settings
        self._seen: int | None = None
        self._prints: dict[bytes, int] = {}
        self.pages = 0

    def check_budget(self, number: int) -> None:
        """Raise PaginationError when ``max_pages`` pages were already decoded."""
        limit = self._settings.max_pages
        if self.pages >= limit:
            raise _error(
                number,
                f"gave up before page {number}: {limit} pages fetched without "
                "reaching the end of the history (max_pages)",
            )

    def decode(self, number: int, body: Any) -> RawPage:
        """Page ``number``'s decoded body -> its raw items, counts and whether it is last."""
        items, env = _split(number, body, self._settings.item_keys)
        self.pages += 1
        if items:
            digest = _fingerprint(items)
            earlier = self._prints.get(digest)
            if earlier is not None:
                raise _error(
                    number,
                    f"page {number} repeats page {earlier} (same items): the server seems "
                    "to ignore page_number; stopping instead of looping",
                )
            self._prints[digest] = number
        # The server may cap page_size below what we asked for; trust its echo if any.
        size = _as_int(env.get("page_size")) or self._settings.page_size
        if self._seen is None:
            # Resuming at page n: the server's counts include the pages we skipped.
            self._seen = (self._settings.start_page - 1) * size
        self._seen += len(items)
        says_last, says_more = _envelope_says(env, number, self._seen)
        # A short page ends the history unless the envelope explicitly says more follow
        # (a server capping page_size must not silently truncate the history).
        is_last = not items or says_last or (len(items) < size and not says_more)
        return RawPage(
            number=number,
            items=items,
            total_count=_total_count(env),
            total_pages=_as_int(env.get("total_pages")),
            is_last=is_last,
        )
