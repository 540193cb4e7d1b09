"""What every sandbox rule receives: the shared environment and the decoded request."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._clock import SandboxClock
from ._ledger import Ledger
from ._state import Token
from ._stats import Stats
from ._world import World

__all__ = ["Call", "Env", "Reply", "SandboxOptions"]


@dataclass(slots=True, frozen=True)
class SandboxOptions:
    """Behaviour switches of a ``FlexitiSandbox`` (see its docstring)."""

    amounts_as_strings: bool = False
    listing_envelope: Literal["object", "list"] = "object"
    store_filter: bool = True
    expires_in: int = 1200
    default_page_size: int = 10
    max_page_size: int = 500
    daily_payment_limit: str = "10000.00"
    return_window_days: int = 100
    max_security_tries: int = 3
    # Strict checks (see FlexitiSandbox's docstring); each one can be relaxed.
    returns_promotional_only: bool = True
    require_pin: bool = True
    require_widget: bool = True
    strict_reference_id: bool = True
    close_quebec_only: bool = True
    check_context_hash: bool = True


@dataclass(slots=True, eq=False)
class Env:
    """Shared state handed to rules: world, clock, seeded RNG, options, ledger, stats."""

    world: World
    clock: SandboxClock
    rng: random.Random
    options: SandboxOptions
    ledger: Ledger
    stats: Stats
    base_url: str = "http://127.0.0.1/flexiti/pos-api"


@dataclass(slots=True, eq=False)
class Call:
    """One decoded request."""

    route: str
    method: str
    path: str
    version: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    token: Token | None = None
    raw: bytes = b""
    reference_id: str = ""
    lang: str = "en"

    @property
    def client_id(self) -> str:
        """The client the bearer token was issued to."""
        assert self.token is not None
        return self.token.client_id


@dataclass(slots=True)
class Reply:
    """A rule's answer when it is not a plain 200 JSON body."""

    body: object
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
