"""The base of every resource group: a thin handle on the client's pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._validate import check_lang

if TYPE_CHECKING:
    from .._client import FlexitiClient

__all__ = ["Resource"]


class Resource:
    """A group of endpoints. Methods validate arguments, then call ``client._request``."""

    __slots__ = ("_client",)

    def __init__(self, client: FlexitiClient) -> None:
        self._client = client

    def _lang(self, lang: str | None) -> str | None:
        """The ``lang`` to send: the call's, else the client's, else nothing."""
        return check_lang(lang) if lang is not None else self._client.lang

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"
