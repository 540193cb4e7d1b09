"""The base of every resource group: a thin handle on the client's pipeline."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, cast

from ._validate import check_lang

if TYPE_CHECKING:
    from .._client import FlexitiClient
    from .accounts import Accounts
    from .applications import Applications
    from .authorizations import Authorizations
    from .captures import Captures
    from .content import Content
    from .customers import Customers
    from .merchants import Merchants
    from .transactions import Transactions
    from .widget import Widget

__all__ = ["Resource", "ResourceGroups"]


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


class ResourceGroups:
    """The resource groups of `FlexitiClient`, each made on first use (imports stay lazy)."""

    def _as_client(self) -> FlexitiClient:
        return cast("FlexitiClient", self)

    @cached_property
    def customers(self) -> Customers:
        """Customer search, lookup and driver's licence decoding."""
        from .customers import Customers

        return Customers(self._as_client())

    @cached_property
    def accounts(self) -> Accounts:
        """Verification, financing options, close and refund."""
        from .accounts import Accounts

        return Accounts(self._as_client())

    @cached_property
    def authorizations(self) -> Authorizations:
        """Credit authorizations: create, retrieve, list, capture, release, return."""
        from .authorizations import Authorizations

        return Authorizations(self._as_client())

    @cached_property
    def captures(self) -> Captures:
        """Capture history."""
        from .captures import Captures

        return Captures(self._as_client())

    @cached_property
    def transactions(self) -> Transactions:
        """Deposits, in-store payments and trade-ins (idempotent)."""
        from .transactions import Transactions

        return Transactions(self._as_client())

    @cached_property
    def widget(self) -> Widget:
        """Online channel: open a Flexiti widget session."""
        from .widget import Widget

        return Widget(self._as_client())

    @cached_property
    def applications(self) -> Applications:
        """Credit applications (schema withdrawn by Flexiti: passthrough)."""
        from .applications import Applications

        return Applications(self._as_client())

    @cached_property
    def content(self) -> Content:
        """Terms and conditions, localized strings."""
        from .content import Content

        return Content(self._as_client())

    @cached_property
    def merchants(self) -> Merchants:
        """Deprecated merchant login."""
        from .merchants import Merchants

        return Merchants(self._as_client())
