"""The ``x-reference-id`` of the current flow, carried in a context variable."""

from __future__ import annotations

import contextvars
import os
import re
from types import TracebackType

__all__ = ["current_reference_id", "new_reference_id", "reference_id"]

#: Flexiti documents ``x-reference-id`` as an ASCII string of at most 32 characters (a GUID):
#: hex digits, letters and dashes.
_VALID = re.compile(r"[A-Za-z0-9-]{1,32}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "flexiti_reference_id", default=None
)


def new_reference_id() -> str:
    """A fresh 32-character hex id (128 random bits, like a GUID without dashes)."""
    # os.urandom is ~5x cheaper than uuid4() and this runs once per request.
    return os.urandom(16).hex()


def current_reference_id() -> str | None:
    """The reference id set by an enclosing `reference_id` block, if any."""
    return _current.get()


class reference_id:
    """Make every call inside the block send the same ``x-reference-id``.

    Flexiti asks for one reference id per flow (lookup -> verify -> authorization) so its
    support can trace it. Outside such a block each call gets a fresh id. Works with ``with``
    and ``async with``, and is task-local (a context variable), so concurrent flows do not mix.
    A value you give must be 1-32 characters of ``[A-Za-z0-9-]`` (Flexiti's limit), else
    `InvalidRequestError` is raised here, before any request.

    >>> with reference_id("0123456789abcdef0123456789abcdef") as ref:
    ...     ref
    '0123456789abcdef0123456789abcdef'
    """

    __slots__ = ("_token", "value")

    def __init__(self, value: str | None = None) -> None:
        if value is None:
            value = new_reference_id()
        elif not isinstance(value, str) or _VALID.fullmatch(value) is None:
            from .errors import InvalidRequestError

            raise InvalidRequestError(
                "reference id must be 1-32 characters of A-Z, a-z, 0-9 and '-'",
                field="reference_id",
            )
        self.value = value
        self._token: contextvars.Token[str | None] | None = None

    def __enter__(self) -> str:
        self._token = _current.set(self.value)
        return self.value

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
