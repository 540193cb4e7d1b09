"""The FastAPI shop backend (``fastapi_app.py``) under several worker processes, sharing one
Flexiti token through a `FileTokenStore`.

Each worker process has its own `FlexitiClient` (clients, like event loops, never cross a
process boundary); the token is shared through a file, so a burst of requests across all
workers still makes one token grant, and one refresh per token lifetime.

Run it against the bundled sandbox::

    flexiti sandbox serve            # prints a client id, secret and base URL
    export FLEXITI_CLIENT_ID=... FLEXITI_CLIENT_SECRET=... FLEXITI_BASE_URL=...
    export FLEXITI_TOKEN_FILE=/run/shop/flexiti-tokens.json   # a directory only you can read
    uvicorn examples.multiworker_app:app --workers 4

The token file holds secrets (access and refresh tokens): the store writes it with mode 0600,
but keep it in a private directory on a local filesystem. Machines that do not share a disk
share tokens through Redis instead: ``RedisTokenStore.from_url("redis://...")``.

Every response carries ``x-worker-pid``, the process that served it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from fastapi import FastAPI, Request, Response

from flexiti_async import FileTokenStore

try:  # ``uvicorn examples.multiworker_app:app`` from the repository root
    from examples.fastapi_app import create_app as create_shop_app
except ImportError:  # ``uvicorn multiworker_app:app`` from examples/
    from fastapi_app import create_app as create_shop_app  # type: ignore[no-redef,import-not-found]

__all__ = ["app", "create_app", "token_file"]


def token_file(environ: Mapping[str, str]) -> Path:
    """``FLEXITI_TOKEN_FILE``, or a per-user file in the temporary directory."""
    configured = environ.get("FLEXITI_TOKEN_FILE")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"flexiti-tokens-{os.getuid()}.json"


def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    """The shop app, with its client's tokens in the shared token file."""
    env = os.environ if environ is None else environ
    app = create_shop_app(env, token_store=FileTokenStore(token_file(env)))

    @app.middleware("http")
    async def worker_pid(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["x-worker-pid"] = str(os.getpid())
        return response

    return app


#: For ``uvicorn examples.multiworker_app:app --workers 4``.
app = create_app()
