"""``serve_forever``: a sandbox as its own loopback server (``flexiti sandbox serve``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._sandbox import FlexitiSandbox

__all__ = ["serve_forever"]


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    seed: int | None = 0,
    sandbox: FlexitiSandbox | None = None,
    on_ready: Callable[[FlexitiSandbox, str], Any] | None = None,
) -> FlexitiSandbox:
    """Run a sandbox on loopback until interrupted (for ``flexiti sandbox serve``).

    Prints nothing: ``on_ready(sandbox, base_url)`` is called once the port is bound, so
    the caller can show ``sandbox.client_id`` / ``sandbox.client_secret``. Returns the
    sandbox after shutdown.
    """
    box = sandbox or FlexitiSandbox(seed)

    def ready(base_url: str) -> None:
        if on_ready is not None:
            on_ready(box, base_url)

    box.serve_forever(host, port, on_ready=ready)
    return box
