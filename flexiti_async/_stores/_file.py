"""`FileTokenStore`: tokens shared by the processes of one machine through a file."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ._base import AccessToken, Outage, decode_token, encode_token

__all__ = ["FileTokenStore"]

# The wait for the fetch lock outlasts the owner's lease by this much.
_WAIT_MARGIN = 1.0
_POLL_FIRST, _POLL_MAX = 0.005, 0.05


class FileTokenStore:
    """A `TokenStore` in a JSON file, for many processes on one machine (uvicorn or gunicorn
    workers, a multiprocessing pool) with no server to run.

    >>> store = FileTokenStore("/run/myapp/flexiti-tokens.json")
    >>> async with FlexitiClient(client_id, secret, token_store=store) as flexiti:  # doctest: +SKIP
    ...     ...

    **The file holds secrets** (access and refresh tokens): it is written with mode 0600,
    always by writing a temporary file in the same directory and ``os.replace``-ing it, so a
    reader never sees half a file. Put it on a local filesystem (``flock`` is not reliable
    over NFS) in a directory only the application's user can read.

    Locks are ``flock`` locks on sibling files (``<path>.lock`` for writes, one
    ``<path>.<key digest>.lock`` per token for the fetch lock). The kernel drops them when a
    process dies, so a killed worker never blocks the others; a live owner is waited for at
    most its lease, then the waiter fetches anyway. Blocking file calls run in a worker thread
    (``anyio.to_thread``), so the store works under asyncio and trio.

    If the file cannot be read or written, requests still go through: the store logs a
    warning once and tokens are shared in-process only, until the file works again (retried
    after ``retry_interval`` seconds).
    """

    def __init__(self, path: str | os.PathLike[str], *, retry_interval: float = 5.0) -> None:
        self.path = Path(path)
        self._outage = Outage(f"token file {self.path}", retry_interval)

    def __repr__(self) -> str:
        return f"<FileTokenStore {str(self.path)!r}>"

    async def get(self, key: str) -> AccessToken | None:
        """The stored token for ``key``, or None (also when the file cannot be read)."""
        data = await self._run(self._read, None)
        return decode_token(data.get(key)) if data is not None else None

    async def set(self, key: str, token: AccessToken) -> None:
        """Store ``token`` under ``key``, dropping expired entries."""

        def change(data: dict[str, Any]) -> bool:
            now = time.time()
            for name in [n for n, v in data.items() if _expired(v, now)]:
                del data[name]
            data[key] = encode_token(token)
            return True

        await self._run(lambda: self._mutate(change), None)

    async def invalidate(self, key: str, token: AccessToken) -> None:
        """Delete ``key`` if it still holds ``token`` (atomic: under the write lock)."""

        def change(data: dict[str, Any]) -> bool:
            stored = decode_token(data.get(key))
            if stored is None or stored.value != token.value:
                return False
            del data[key]
            return True

        await self._run(lambda: self._mutate(change), None)

    def lock(self, key: str, *, lease: float) -> AbstractAsyncContextManager[bool]:
        """Hold the fetch lock for ``key``; yields False if it is not free within the lease."""
        return self._lock(key, lease)

    @asynccontextmanager
    async def _lock(self, key: str, lease: float) -> AsyncIterator[bool]:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        lock_path = f"{self.path}.{digest}.lock"
        deadline = anyio.current_time() + lease + _WAIT_MARGIN
        delay = _POLL_FIRST
        fd: int | None = None
        while True:  # bounded by the deadline
            fd = await self._run(lambda: _try_flock(lock_path), None)
            if fd is not None or self._outage.down or anyio.current_time() >= deadline:
                break
            await anyio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)
        if fd is None:
            yield False
            return
        try:
            yield True
        finally:
            os.close(fd)  # closing the only descriptor releases the flock; never blocks

    async def _run(self, call: Callable[[], Any], fallback: Any) -> Any:
        if self._outage.down:
            return fallback
        try:
            result = await anyio.to_thread.run_sync(call)
        except OSError as exc:
            self._outage.failed(exc)
            return fallback
        self._outage.succeeded()
        return result

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path, "rb") as file:
                data = json.load(file)
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}  # not ours or damaged: the next write replaces it
        return data if isinstance(data, dict) else {}

    def _mutate(self, change: Callable[[dict[str, Any]], bool]) -> None:
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # short: a read and a small write
            data = self._read()
            if change(data):
                self._write(data)
        finally:
            os.close(fd)

    def _write(self, data: dict[str, Any]) -> None:
        directory = self.path.parent
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(data, file)
            os.replace(temp, self.path)
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise


def _try_flock(path: str) -> int | None:
    """An exclusively flock-ed descriptor of ``path``, or None if someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _expired(entry: object, now: float) -> bool:
    token = decode_token(entry)
    return token is None or token.expired(now)
