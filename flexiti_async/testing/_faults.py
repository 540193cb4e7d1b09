"""Faults on demand: error statuses, latency, dropped connections, broken bodies, token loss.

>>> sandbox.faults.add(route="capture", fault=Fault.status(503, retry_after=2), times=1)
>>> sandbox.faults.add(route="*", fault=Fault.latency(0.05), probability=0.2)
>>> sandbox.faults.add(route="capture", fault=Fault.drop_after())   # applied, no answer
>>> gate = sandbox.faults.hold("capture")        # captures wait until gate.release()
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Literal

import anyio

__all__ = ["ROUTES", "Fault", "FaultPlan", "FaultRule", "Hold"]

#: Stable route names for fault matching and stats (``"*"`` matches all of them).
ROUTES = (
    "token",
    "search",
    "lookup",
    "drivers_license",
    "verify",
    "calculate_interest",
    "close",
    "refund",
    "authorize",
    "retrieve_authorization",
    "list_authorizations",
    "capture",
    "release",
    "return",
    "list_captures",
    "transactions",
    "widget_init",
    "apply",
    "terms",
    "i18n",
    "merchant_login",
    "sandbox_pin",
)

FaultKind = Literal[
    "status",
    "latency",
    "drop_before",
    "drop_after",
    "malformed_json",
    "html_error",
    "revoke_tokens",
    "expire_tokens",
    "hold",
    "blocked",
]
#: Kinds that let the request go on to later faults and the handler.
_PASS_THROUGH = ("latency", "revoke_tokens", "expire_tokens", "hold")
#: Flexiti's edge statuses: 465 malicious payload, 466 ACL rule, 467 geo-blocked.
BLOCKED_STATUSES = (465, 466, 467)


class Hold:
    """A gate: requests that meet it wait until the test calls `release`.

    For tests that need requests to overlap without relying on timing: hold a route,
    start the requests, ``await gate.wait_for(n)`` until ``n`` of them are inside the
    sandbox, assert, then ``gate.release()``. Works in process and over loopback (the
    gate is thread-safe). A held request goes on by itself after a minute, so a test that
    forgets to release does not hang forever.

    >>> gate = sandbox.faults.hold("capture")
    >>> await gate.wait_for(2)       # two captures are in flight, held
    >>> gate.release()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._released = False
        self._waiting = 0
        self._arrived = 0

    @property
    def waiting(self) -> int:
        """Requests held right now."""
        with self._lock:
            return self._waiting

    @property
    def arrived(self) -> int:
        """Requests that met the gate so far (held or let through after release)."""
        with self._lock:
            return self._arrived

    @property
    def released(self) -> bool:
        """True once `release` was called."""
        return self._released

    def release(self) -> None:
        """Let every held request go on, and every later one pass straight through."""
        self._released = True

    async def wait_for(self, count: int = 1, *, within: float = 30.0) -> None:
        """Return once ``count`` requests are held (``TimeoutError`` after ``within`` s).

        Polls a counter: the sandbox may run on another thread's event loop, so no
        anyio.Event can be shared with it.
        """
        with anyio.fail_after(within):
            while self.waiting < count:  # noqa: ASYNC110 - cross-thread; bounded by fail_after
                await anyio.sleep(0.001)

    async def wait_released(self, limit: float) -> None:
        """Hold the calling request until `release` (called by the sandbox)."""
        with self._lock:
            self._arrived += 1
            self._waiting += 1
        try:
            with anyio.move_on_after(limit):
                while not self._released:  # noqa: ASYNC110 - cross-thread; bounded
                    await anyio.sleep(0.001)
        finally:
            with self._lock:
                self._waiting -= 1

    def __repr__(self) -> str:
        return f"<Hold waiting={self.waiting} arrived={self.arrived} released={self._released}>"


_ERROR_NAMES = {
    429: "too_many_requests",
    500: "general_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault. Build it with the class methods, e.g. ``Fault.status(503, retry_after=2)``."""

    kind: FaultKind
    status_code: int = 200
    error: str | None = None
    description: str | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    apply: bool = False
    gate: Hold | None = field(default=None, compare=False)

    @classmethod
    def status(
        cls,
        status: int = 503,
        *,
        error: str | None = None,
        description: str | None = None,
        retry_after: float | datetime | None = None,
    ) -> Fault:
        """Answer ``status`` with ``{code, error, error_description}``, without applying.

        ``retry_after`` adds a ``Retry-After`` header: seconds, or a datetime sent as an
        HTTP-date.
        """
        header: str | None = None
        if isinstance(retry_after, datetime):
            header = format_datetime(retry_after, usegmt=True)
        elif retry_after is not None:
            header = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        name = error or _ERROR_NAMES.get(status, "general_error")
        return cls(
            "status", status_code=status, error=name, description=description, retry_after=header
        )

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Wait ``seconds`` (``anyio.sleep``) before handling the request normally."""
        return cls("latency", seconds=seconds)

    @classmethod
    def drop_before(cls) -> Fault:
        """Read the request, then close the connection without applying it or answering."""
        return cls("drop_before")

    @classmethod
    def drop_after(cls) -> Fault:
        """Apply the request, then close the connection without answering.

        The state change happens but the client never learns of it: a client that resends
        blindly moves the money twice.
        """
        return cls("drop_after", apply=True)

    @classmethod
    def malformed_json(cls, *, apply: bool = True) -> Fault:
        """Answer 200 with a truncated JSON body. By default the request *is* applied.

        With ``apply=True`` only a success is corrupted: a request the sandbox refuses
        keeps its error status and body.
        """
        return cls("malformed_json", apply=apply)

    @classmethod
    def html_error(cls, status: int = 500) -> Fault:
        """Answer an HTML error page (as a proxy would), without applying."""
        return cls("html_error", status_code=status)

    @classmethod
    def blocked(cls, status: int = 465) -> Fault:
        """Answer a "Blocked" status from Flexiti's edge (an HTML page), without applying.

        465: malicious payload, 466: ACL rule, 467: geo-blocked. The client raises
        ``errors.BlockedError`` and never retries it.
        """
        if status not in BLOCKED_STATUSES:
            raise ValueError(f"blocked status must be one of {BLOCKED_STATUSES}")
        return cls("blocked", status_code=status)

    @classmethod
    def hold(cls, gate: Hold | None = None) -> Fault:
        """Hold the request until ``fault.gate.release()``, then handle it normally.

        ``FaultPlan.hold(route)`` adds one and returns its gate.
        """
        return cls("hold", gate=gate or Hold())

    @classmethod
    def revoke_tokens(cls) -> Fault:
        """Revoke every token now; the request then meets the usual token check (401)."""
        return cls("revoke_tokens")

    @classmethod
    def expire_tokens(cls) -> Fault:
        """Expire every access token now; the request then gets 401 ``invalid_token``."""
        return cls("expire_tokens")


@dataclass(slots=True, eq=False)
class FaultRule:
    """A fault with its matching rule; ``hits`` counts how often it fired."""

    route: str
    fault: Fault
    method: str | None = None
    times: int | None = None
    probability: float | None = None
    hits: int = 0
    _plan: FaultPlan | None = field(default=None, repr=False)

    @property
    def exhausted(self) -> bool:
        """True once it has fired ``times`` times."""
        return self.times is not None and self.hits >= self.times

    def remove(self) -> None:
        """Stop this rule."""
        if self._plan is not None:
            self._plan.remove(self)


class FaultPlan:
    """The ordered fault rules of one sandbox. Rules are checked in the order added.

    Latency, hold and token faults are cumulative; the first firing fault of another kind ends
    the search.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def add(
        self,
        route: str = "*",
        fault: Fault | None = None,
        *,
        method: str | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> FaultRule:
        """Inject ``fault`` on ``route`` (a name from ``ROUTES`` or ``"*"``).

        ``method`` limits it to one HTTP method; ``times`` to that many firings;
        ``probability`` fires it at random (seeded RNG, reproducible).
        """
        if fault is None:
            raise TypeError("fault is required, e.g. Fault.status(503)")
        if route != "*" and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {ROUTES} or '*'")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        rule = FaultRule(
            route=route,
            fault=fault,
            method=method.upper() if method else None,
            times=times,
            probability=probability,
            _plan=self,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def hold(
        self, route: str = "*", *, method: str | None = None, times: int | None = None
    ) -> Hold:
        """Hold requests on ``route`` until the returned gate's ``release()``.

        >>> gate = sandbox.faults.hold("capture")
        >>> # start two captures in a task group, then:
        >>> await gate.wait_for(2)
        >>> gate.release()
        """
        fault = Fault.hold()
        self.add(route, fault, method=method, times=times)
        assert fault.gate is not None
        return fault.gate

    def remove(self, rule: FaultRule) -> None:
        """Remove one rule (no error if already gone)."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """A copy of the current rules."""
        with self._lock:
            return list(self._rules)

    def pick(self, route: str, method: str) -> list[Fault]:
        """The faults that fire for this request, in order (called by the sandbox)."""
        fired: list[Fault] = []
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or rule.route not in ("*", route):
                    continue
                if rule.method is not None and rule.method != method:
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.hits += 1
                fired.append(rule.fault)
                if rule.fault.kind not in _PASS_THROUGH:
                    break
        return fired

    def __repr__(self) -> str:
        return f"<FaultPlan rules={len(self._rules)}>"
