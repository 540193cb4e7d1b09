"""``FlexitiSandbox``: the stateful POS API emulator and its test-facing helpers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any, Literal

import httpx

from .._anyio_util import unwrap_lone_exception
from ._app import PREFIX, SandboxApp
from ._auth import expire_all, revoke_all
from ._clock import SandboxClock
from ._context import Env, SandboxOptions
from ._faults import FaultPlan
from ._history import add_history, paused_gc, seed_history
from ._ledger import Ledger
from ._seed import (
    MoneyLike,
    add_merchant,
    new_account,
    new_credentials,
    new_store,
    seed_world,
    to_money,
)
from ._state import Account, Authorization, Capture, HistoryRecord, Merchant, Plan, Store
from ._stats import Stats
from ._world import World

__all__ = ["FlexitiSandbox"]

LOOPBACK_BASE_URL = f"http://127.0.0.1{PREFIX}"


class FlexitiSandbox:
    """A stateful, in-memory emulator of the Flexiti POS API v2.5 / v2.5.1.

    ``seed`` makes the world (client credentials, accounts, card numbers, PINs, tokens)
    reproducible. Options: ``amounts_as_strings`` (money as ``"100.00"``),
    ``listing_envelope`` (``"object"`` or bare ``"list"`` pages), ``store_filter=False``
    (ignore ``external_location_id`` on listings), ``expires_in`` (token lifetime),
    ``max_page_size``, ``merchant_override`` (verify format allowed for the default client),
    ``clock``.

    **Strict by default.** The sandbox follows the reference, and where the reference is
    silent it refuses rather than accepts, so a test that passes here does not fail
    against Flexiti. Each check has a switch; ``strict=False`` relaxes them all, and a
    switch given explicitly wins over ``strict``:

    * ``require_pin``: an in-store authorization (one carrying ``request_id``,
      ``external_location_id``, ``external_employee_id`` or ``verification_code``) needs
      the PIN from ``verify`` with the same ``request_id``: 409
      ``verification_code_required`` / ``wrong_verification_code`` / ``not_verified``
      (reference §2.6, §7.2).
    * ``require_widget``: an online authorization (none of those fields) needs a
      ``widget/init`` purchase flow naming the account first (the customer is taken to
      pass the widget), one authorization per widget session: else 404
      ``customer_identity_not_found`` (§7.2, §10).
    * ``returns_promotional_only``: returns against a regular-purchase capture get 409
      ``wrong_transaction_type`` (§7.5); use ``accounts.refund`` for those.
    * ``strict_reference_id``: ``x-reference-id`` is at most 32 ASCII characters (§2.2):
      else 409 ``wrong_inputs``.
    * ``close_quebec_only``: ``accounts/{n}/close`` closes Quebec accounts only (§5.5). The
      reference lists no error for other accounts: 409 ``wrong_inputs`` on
      ``account_number`` (a documented global code).
    * ``check_context_hash``: on ``POST transactions`` an ``x-context-hash`` must be the
      sha256 of the body, and an ``x-idempotency-key`` reused with a different body is
      refused (409 ``wrong_inputs`` naming the header) instead of replaying the first
      answer (§11 leaves the response undocumented).

    Always on (the reference is explicit): account numbers are 1-14 digits (15 digits get
    409 ``wrong_inputs``); a wrong HTTP method gets 405 with a JSON error body.

    Sandbox-only: ``GET .../client-id/{client_id}/sandbox/accounts/{n}/pin`` returns the
    PIN last sent to an account (what the customer reads from the SMS), for a sandbox in
    another process (``flexiti sandbox serve``); see `flexiti_async.testing.read_pin`.
    In process, `last_pin` does the same.

    >>> sandbox = FlexitiSandbox(seed=1)
    >>> async with sandbox.http_client() as http:        # in process, no sockets
    ...     r = await http.post("/v2.5/oauth/token", headers={"x-reference-id": "r1"},
    ...         data={"client_id": sandbox.client_id, "client_secret": sandbox.client_secret})
    >>> async with sandbox.serve() as base_url:           # real loopback sockets
    ...     ...
    """

    base_url = LOOPBACK_BASE_URL

    def __init__(
        self,
        seed: int | None = 0,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        amounts_as_strings: bool = False,
        listing_envelope: Literal["object", "list"] = "object",
        store_filter: bool = True,
        expires_in: int = 1200,
        default_page_size: int = 10,
        max_page_size: int = 500,
        merchant_override: bool = False,
        clock: SandboxClock | None = None,
        strict: bool = True,
        require_pin: bool | None = None,
        require_widget: bool | None = None,
        returns_promotional_only: bool | None = None,
        strict_reference_id: bool | None = None,
        close_quebec_only: bool | None = None,
        check_context_hash: bool | None = None,
    ) -> None:
        if listing_envelope not in ("object", "list"):
            raise ValueError("listing_envelope must be 'object' or 'list'")
        self.seed = seed
        rng = random.Random(seed)
        self.clock = clock or SandboxClock()
        self.stats = Stats()
        self.ledger = Ledger()
        self.faults = FaultPlan(seed)
        self.options = SandboxOptions(
            amounts_as_strings=amounts_as_strings,
            listing_envelope=listing_envelope,
            store_filter=store_filter,
            expires_in=expires_in,
            default_page_size=default_page_size,
            max_page_size=max_page_size,
            returns_promotional_only=_switch(returns_promotional_only, strict),
            require_pin=_switch(require_pin, strict),
            require_widget=_switch(require_widget, strict),
            strict_reference_id=_switch(strict_reference_id, strict),
            close_quebec_only=_switch(close_quebec_only, strict),
            check_context_hash=_switch(check_context_hash, strict),
        )
        self._env = Env(World(), self.clock, rng, self.options, self.ledger, self.stats)
        client_id, client_secret = new_credentials(rng, client_id, client_secret)
        #: The default client's id and secret (the secret is never shown in a repr).
        self.client_id = client_id
        self.client_secret = client_secret
        with self._lock:
            seed_world(
                self._env, self.client_id, self.client_secret, merchant_override=merchant_override
            )
        #: The ASGI application.
        self.app = SandboxApp(self._env, self.faults)

    @property
    def _lock(self) -> Any:
        return self._env.world.lock

    # -- world ---------------------------------------------------------------------------

    @property
    def accounts(self) -> list[Account]:
        """All accounts, in creation order."""
        with self._lock:
            return list(self._env.world.accounts.values())

    @property
    def stores(self) -> list[Store]:
        """All stores, in creation order."""
        with self._lock:
            return list(self._env.world.stores.values())

    @property
    def plans(self) -> list[Plan]:
        """All promotional plans."""
        with self._lock:
            return list(self._env.world.plans.values())

    @property
    def authorizations(self) -> list[Authorization]:
        """All authorizations, sorted by creation time then id."""
        with self._lock:
            return list(self._env.world.auth_index.between(None, None))

    @property
    def captures(self) -> list[Capture]:
        """All captures, sorted by creation time then id."""
        with self._lock:
            return list(self._env.world.capture_index.between(None, None))

    def account(self, account_number: int) -> Account:
        """The account with this number (``KeyError`` if unknown)."""
        with self._lock:
            return self._env.world.accounts[account_number]

    def find_account(self, *, status: str = "N", **attrs: Any) -> Account:
        """The first account with ``status`` and every given attribute.

        >>> sandbox.find_account(status="N", province="QC")
        >>> sandbox.find_account(account_type="business")
        """
        with self._lock:
            for account in self._env.world.accounts.values():
                if account.status == status and all(
                    getattr(account, k) == v for k, v in attrs.items()
                ):
                    return account
        raise LookupError(f"no account with status={status!r} and {attrs}")

    def authorization(self, authorization_id: int) -> Authorization:
        """The authorization with this id (``KeyError`` if unknown)."""
        with self._lock:
            return self._env.world.authorizations[authorization_id]

    def capture(self, capture_id: int) -> Capture:
        """The capture with this id (``KeyError`` if unknown)."""
        with self._lock:
            return self._env.world.captures[capture_id]

    def add_account(self, **fields: Any) -> Account:
        """Create an account. Every field is optional; unspecified ones come from the RNG.

        Keywords: ``account_number``, ``customer_id``, ``first_name``, ``last_name``,
        ``dob``, ``postal_code``, ``status`` (N/A/F/Z/C), ``reason_code``, ``credit_limit``,
        ``available_credit``, ``risk_rating``, ``province``, ``account_type``
        (consumer/business), ``cards`` (count or list of 16-digit numbers), ``security_qid``
        (4-9), ``security_answer``, ``phone_number``, ``email``, ``preferred_language``,
        ``active``.

        >>> acct = sandbox.add_account(status="N", credit_limit="800.00", province="QC")
        """
        with self._lock:
            account = new_account(self._env, **fields)
            if account.account_number in self._env.world.accounts:
                raise ValueError(f"account {account.account_number} exists")
            self._env.world.add_account(account)
            return account

    def add_store(self, external_location_id: str | None = None, name: str | None = None) -> Store:
        """Register a store (``external_location_id`` like ``00-00004``; generated if omitted)."""
        with self._lock:
            store = new_store(self._env, external_location_id, name)
            self._env.world.stores[store.external_location_id] = store
            return store

    def add_plan(
        self,
        plan_id: int,
        plan_name: str,
        *,
        offer_category: str = "equal_billing",
        term_options: Sequence[int] = (6, 12),
        rate: str = "0.0999",
        admin_fee: MoneyLike = "0.00",
        prime_only: bool = False,
        excluded_provinces: Sequence[str] = (),
    ) -> Plan:
        """Offer a promotional plan (or replace the plan with this id)."""
        plan = Plan(
            plan_id,
            plan_name,
            offer_category,
            tuple(term_options),
            rate,
            to_money(admin_fee),
            prime_only,
            frozenset(excluded_provinces),
        )
        with self._lock:
            self._env.world.plans[plan_id] = plan
        return plan

    def add_client(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        merchant_override: bool = False,
        merchant_name: str = "Second Sandbox Merchant",
    ) -> Merchant:
        """Register another developer client (a merchant with its own authorizations)."""
        with self._lock:
            return add_merchant(
                self._env,
                client_id,
                client_secret,
                merchant_name=merchant_name,
                merchant_override=merchant_override,
            )

    def set_merchant_override(self, allowed: bool, client_id: str | None = None) -> None:
        """Allow or refuse the ``merchant_override`` verify format for a client."""
        with self._lock:
            self._env.world.merchants[client_id or self.client_id].merchant_override = allowed

    def last_pin(self, account_number: int) -> int | None:
        """The PIN of the account's pending verification (as if read from the SMS/email).

        None when no PIN is pending. For a sandbox served in another process use
        `flexiti_async.testing.read_pin` (it calls the sandbox-only PIN route).
        """
        with self._lock:
            account = self._env.world.accounts.get(account_number)
            if account is None or account.pending is None:
                return None
            return account.pending.pin

    # -- history -------------------------------------------------------------------------

    def add_history(
        self, *, created: datetime, amount: MoneyLike, client_id: str | None = None, **fields: Any
    ) -> HistoryRecord:
        """Create a past authorization at ``created`` without going through the API.

        Keywords: ``account_number``, ``reference``, ``external_location_id``,
        ``external_employee_id``, ``transaction_type``, ``plan_id``, ``term``,
        ``captured`` (True = all, False = none, or an amount), ``returned`` (amount),
        ``released`` (True = the rest, or an amount), ``captured_at``. History is not
        written to ``ledger`` and does not change available credit.
        """
        with self._lock:
            return add_history(
                self._env,
                client_id=client_id or self.client_id,
                created=created,
                amount=amount,
                **fields,
            )

    def seed_history(
        self,
        *,
        days: int,
        stores: int,
        per_day: int,
        start: date | None = None,
        seed: int | None = None,
        client_id: str | None = None,
        open_rate: float = 0.05,
        partial_rate: float = 0.05,
        return_rate: float = 0.05,
        release_rate: float = 0.02,
    ) -> list[HistoryRecord]:
        """Bulk history: ``per_day`` authorizations per store per day, from ``start``.

        Stores are added as needed (``00-00001`` ...). Most authorizations are fully
        captured; ``open_rate`` stay open, ``partial_rate`` are half captured,
        ``return_rate`` get a 25 % return, ``release_rate`` are released. Returns the
        records so a test can build a merchant ledger from them.

        >>> records = sandbox.seed_history(days=30, stores=5, per_day=20, start=date(2024, 1, 1))
        """
        with paused_gc(), self._lock:
            return seed_history(
                self._env,
                client_id=client_id or self.client_id,
                days=days,
                stores=stores,
                per_day=per_day,
                start=start,
                seed=seed,
                open_rate=open_rate,
                partial_rate=partial_rate,
                return_rate=return_rate,
                release_rate=release_rate,
            )

    # -- tokens and counters -------------------------------------------------------------

    def revoke_tokens(self) -> int:
        """Revoke every token (access and refresh) now; returns how many were live."""
        with self._lock:
            return revoke_all(self._env)

    def expire_tokens(self) -> int:
        """Expire every access token now; returns how many were live."""
        with self._lock:
            return expire_all(self._env)

    def reset_stats(self) -> None:
        """Zero ``stats`` (the ledger is kept; use ``ledger.clear()`` for that)."""
        self.stats.reset()

    # -- ways to run it ------------------------------------------------------------------

    def transport(self) -> httpx.ASGITransport:
        """An in-process httpx transport. A dropped connection raises
        ``httpx.RemoteProtocolError`` from the request, as on real sockets."""
        return httpx.ASGITransport(app=self.app)

    def http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A plain ``httpx.AsyncClient`` on the in-process transport, based at ``base_url``."""
        kwargs.setdefault("base_url", self.base_url)
        return httpx.AsyncClient(transport=self.transport(), **kwargs)

    def client(self, **kwargs: Any) -> Any:
        """A ``flexiti_async.FlexitiClient`` for the default client, in process.

        Pass ``http_client=`` to reuse one (you then close it); otherwise one is created
        on the in-process transport (it holds no sockets).
        """
        from flexiti_async import FlexitiClient  # type: ignore[attr-defined,unused-ignore]

        kwargs.setdefault("base_url", self.base_url)
        if kwargs.get("http_client") is None:
            kwargs["http_client"] = self.http_client()
        return FlexitiClient(self.client_id, self.client_secret, **kwargs)

    @asynccontextmanager
    async def serve(
        self, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 10.0
    ) -> AsyncIterator[str]:
        """Serve on loopback sockets; yield the base URL.

        An exception raised inside the block comes out as itself (not wrapped in an
        ``ExceptionGroup``), so ``except NotFoundError:`` around the block works.

        >>> async with sandbox.serve() as base_url:   # http://127.0.0.1:<port>/flexiti/pos-api
        ...     ...
        """
        from ._server import serve_app

        with unwrap_lone_exception():
            async with serve_app(
                self.app, host=host, port=port, startup_timeout=startup_timeout
            ) as base_url:
                yield base_url

    def serve_forever(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        on_ready: Callable[[str], Any] | None = None,
    ) -> None:
        """Serve on loopback in this thread until interrupted; ``on_ready(base_url)`` once up."""
        from ._server import run_forever

        run_forever(self.app, host=host, port=port, on_ready=on_ready)

    def __repr__(self) -> str:
        world = self._env.world
        return (
            f"<FlexitiSandbox seed={self.seed} client_id={self.client_id!r}"
            f" accounts={len(world.accounts)} authorizations={len(world.authorizations)}>"
        )


def _switch(value: bool | None, strict: bool) -> bool:
    return strict if value is None else value
