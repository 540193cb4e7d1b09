"""The worker side of the Dask adapter: one `FlexitiClient` per worker, and the shard task.

Everything here is pickled to (or imported on) Dask workers: `ClientFactory` and
`FlexitiWorkerPlugin` travel with the plugin registration, `run_shard_task` is the task
function. The client lives on the worker's event loop for as long as the plugin is
registered: `FlexitiWorkerPlugin.setup` opens it (in a task that owns it, so the client's
task group is entered and exited by the same task), `teardown` closes it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
from distributed import WorkerPlugin, get_worker

from .._client import FlexitiClient
from ..errors import FlexitiError, InvalidRequestError

if TYPE_CHECKING:
    from distributed import Worker

__all__ = [
    "ClientFactory",
    "FlexitiWorkerPlugin",
    "ShardAttemptError",
    "open_token_store",
    "run_shard_task",
]

#: Where a worker finds the shared token store when none is given (a URL or a path).
TOKEN_STORE_ENV = "FLEXITI_TOKEN_STORE"


def open_token_store(spec: str) -> Any:
    """The token store that ``spec`` names: ``redis://...`` / ``rediss://...`` / ``unix://...``
    give a `RedisTokenStore`; ``file:PATH`` or a plain path a `FileTokenStore`."""
    from .._stores import FileTokenStore, RedisTokenStore

    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisTokenStore.from_url(spec)
    path = spec[len("file:") :] if spec.startswith("file:") else spec
    if not path:
        raise InvalidRequestError(
            "a token store is a redis:// URL or a file path", field="token_store"
        )
    return FileTokenStore(path)


@attrs.frozen(kw_only=True)
class ClientFactory:
    """Builds the `FlexitiClient` of one Dask worker: picklable, and called on the worker.

    ``client_id`` / ``client_secret``: the credentials; leave both None to have each worker
    read ``FLEXITI_CLIENT_ID`` / ``FLEXITI_CLIENT_SECRET`` (and ``FLEXITI_ENVIRONMENT``,
    ``FLEXITI_BASE_URL``) from its own environment, so the secret never crosses the
    scheduler. The secret is never shown in a repr.

    ``token_store``: where the workers share their token, ``redis://host:6379/0`` (a
    `RedisTokenStore`, for a cluster of several hosts) or a file path (a `FileTokenStore`,
    for the processes of one host). None: the worker's ``FLEXITI_TOKEN_STORE`` environment
    variable if set, else each worker keeps its own token in memory.

    ``options``: other `FlexitiClient` keyword arguments (``base_url``, ``environment``,
    ``max_concurrency``, ``retry_policy``, ``timeout``, ...); they must be picklable.

    >>> factory = ClientFactory(token_store="redis://cache:6379/0",
    ...                         options={"environment": "production"})   # doctest: +SKIP
    """

    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    token_store: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict, hash=False)

    def __attrs_post_init__(self) -> None:
        if (self.client_id is None) != (self.client_secret is None):
            raise InvalidRequestError(
                "give both client_id and client_secret, or neither (read on each worker)"
            )
        if "token_store" in self.options:
            raise InvalidRequestError(
                "pass the token store as token_store= (a URL or a path), not in options",
                field="token_store",
            )

    def build(self, token_store: Any = None) -> FlexitiClient:
        """A new client for this process (not entered yet), on ``token_store`` if given."""
        kwargs = dict(self.options)
        if token_store is not None:
            kwargs["token_store"] = token_store
        if self.client_id is None or self.client_secret is None:
            return FlexitiClient.from_env(**kwargs)
        return FlexitiClient(self.client_id, self.client_secret, **kwargs)

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[FlexitiClient]:
        """Open the token store and a client on it; close both on exit."""
        spec = self.token_store or os.environ.get(TOKEN_STORE_ENV) or None
        store = open_token_store(spec) if spec is not None else None
        try:
            async with self.build(store) as client:
                yield client
        finally:
            close = getattr(store, "aclose", None)
            if close is not None:
                await close()


class ShardAttemptError(Exception):
    """A shard's attempt ended with a `FlexitiError` on a worker.

    Carried back as plain strings: the client's exceptions hold responses and keyword-only
    fields that do not survive pickling, and the message is already free of secrets.
    """

    def __init__(self, shard: str, error_type: str, message: str) -> None:
        super().__init__(shard, error_type, message)
        self.shard = shard
        self.error_type = error_type
        self.message = message

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"


class FlexitiWorkerPlugin(WorkerPlugin):
    """Keeps one `FlexitiClient` per Dask worker, open on the worker's event loop.

    ``factory`` is a picklable zero-argument callable returning an async context manager
    that yields the client: a `ClientFactory`, or e.g. a module-level function returning a
    `FlexitiClient` (which is its own context manager). Registered under a name unique to
    the run, so two runs on one cluster never share (or close) each other's clients.
    """

    def __init__(self, factory: Any, name: str) -> None:
        self.factory = factory
        self.name = name
        self._client: FlexitiClient | None = None
        self._stop: asyncio.Event | None = None
        self._owner: asyncio.Task[None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Only the recipe travels; a worker builds its own client.
        return {"factory": self.factory, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["factory"], state["name"])  # type: ignore[misc]

    @property
    def client(self) -> FlexitiClient:
        """The worker's open client (raises if the plugin is not set up)."""
        if self._client is None:
            raise RuntimeError(f"the {self.name} worker plugin has no open client")
        return self._client

    async def setup(self, worker: Worker) -> None:
        """Open the client in a task that owns it until `teardown`."""
        ready = asyncio.Event()
        stop = self._stop = asyncio.Event()

        async def own() -> None:
            async with self.factory() as client:
                self._client = client
                ready.set()
                try:
                    await stop.wait()
                finally:
                    self._client = None

        owner = self._owner = asyncio.ensure_future(own())
        waiter = asyncio.ensure_future(ready.wait())
        try:
            await asyncio.wait({owner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if owner.done():  # the factory or the client failed before it was ready
            self._owner = None
            owner.result()

    async def teardown(self, worker: Worker) -> None:
        """Close the client (its open requests end with `ClientClosedError`)."""
        owner, self._owner = self._owner, None
        if owner is None or self._stop is None:
            return
        self._stop.set()
        await owner

    def __repr__(self) -> str:
        return f"<FlexitiWorkerPlugin {self.name} open={self._client is not None}>"


async def run_shard_task(
    plugin_name: str, shard: Any, label: str, options: Mapping[str, Any]
) -> Any:
    """The Dask task: run one shard with this worker's client; return its `Partial`.

    A `FlexitiError` (after the client's own retries) becomes a `ShardAttemptError`; the
    driver decides whether to try the shard again.
    """
    from ._shard import run_shard

    plugin = get_worker().plugins.get(plugin_name)
    if not isinstance(plugin, FlexitiWorkerPlugin):
        # A task that started after its run ended (cancelled) and the plugin was removed.
        raise RuntimeError(f"no {plugin_name} worker plugin here: the run is over")
    try:
        return await run_shard(plugin.client, shard, **options)
    except FlexitiError as exc:
        failure = ShardAttemptError(label, type(exc).__name__, str(exc))
    # Raised outside the handler so that it carries no __context__: Dask pickles an error
    # with its context, and the client's error (with its response) does not pickle.
    raise failure
