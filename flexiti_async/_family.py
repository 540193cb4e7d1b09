"""The state one client family shares: pipeline, token managers, background work.

A `FlexitiClient` and every client made from it with `with_options` hold the same family.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from functools import partial

import anyio
import anyio.abc
import httpx

from ._auth import TokenManager, TokenStore, lock_lease_for
from ._config import Transport
from ._pipeline import Pipeline
from ._redact import SecretRegistry
from ._retry import RetryPolicy
from ._transports import Sender
from ._version import __version__
from .errors import ClientClosedError

__all__ = ["Spawn"]

#: Starts background work in the client's task group (the work must not raise).
Spawn = Callable[[Callable[[], Awaitable[None]]], None]


class _Family:
    """State shared by a client and every client derived from it with `with_options`."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        base_url: str,
        sender: Sender,
        max_concurrency: int,
        token_store: TokenStore,
        refresh_leeway: float,
        clock: Callable[[], float],
        transport: Transport,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.base_url = base_url
        self.http = sender.http
        self.owns_http = sender.owns_http
        self.max_concurrency = max_concurrency
        self.token_store = token_store
        self.refresh_leeway = refresh_leeway
        self.clock = clock
        self.transport = transport
        self.secrets = SecretRegistry()
        self.secrets.add_permanent(client_secret)
        self.user_agent = f"flexiti-async/{__version__} httpx/{httpx.__version__}"
        self.pipeline = Pipeline(
            sender,
            max_concurrency=max_concurrency,
            secrets=self.secrets,
            token_url=f"{base_url}/v2.5/oauth/token",
            user_agent=self.user_agent,
        )
        self.limiter = self.pipeline.limiter
        self.managers: dict[str, TokenManager] = {}
        self.task_group: anyio.abc.TaskGroup | None = None
        # One cancel scope per background job (page prefetch), so that `aclose` can stop
        # them without cancelling the task group's own scope: that scope also wraps the
        # body of the user's ``async with`` block.
        self.background: set[anyio.CancelScope] = set()
        self.quoted_client_id = urllib.parse.quote(client_id, safe="")

    @property
    def closed(self) -> bool:
        return self.pipeline.closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self.pipeline.closed = value

    def manager(
        self, scope: str, *, attempt_timeout: httpx.Timeout | None, policy: RetryPolicy
    ) -> TokenManager:
        """The token manager for ``scope``, made on first use by the client that asks."""
        manager = self.managers.get(scope)
        if manager is None:
            manager = self.managers[scope] = TokenManager(
                client_id=self.client_id,
                client_secret=self.client_secret,
                scope=scope,
                key=f"{self.base_url}|{self.client_id}|{scope}",
                # Grants go through the pipeline's one attempt loop, with the asking
                # client's per-attempt timeout and retry policy.
                fetch=partial(self.pipeline.grant, attempt_timeout=attempt_timeout, policy=policy),
                store=self.token_store,
                secrets=self.secrets,
                refresh_leeway=self.refresh_leeway,
                clock=self.clock,
                # The cross-process fetch lock outlives one token request.
                lock_lease=lock_lease_for(attempt_timeout or self.http.timeout),
                # A soft-window refresh runs in the task group: no caller waits for it.
                background=self.spawner,
            )
        return manager

    def spawner(self) -> Spawn | None:
        """A function that starts background work in the task group, if there is one.

        Work started this way must not raise: an error would cancel the user's ``async with``
        block. The paginator hands every outcome, errors included, to its consumer.
        """
        task_group = self.task_group
        if task_group is None or self.closed:
            return None

        async def run(work: Callable[[], Awaitable[None]]) -> None:
            with anyio.CancelScope() as scope:
                self.background.add(scope)
                try:
                    if self.closed:
                        scope.cancel()  # closed before it started: let it wind down
                    await work()
                finally:
                    self.background.discard(scope)

        def spawn(work: Callable[[], Awaitable[None]]) -> None:
            if self.closed:
                raise ClientClosedError("this FlexitiClient is closed; create a new one")
            task_group.start_soon(run, work)

        return spawn
