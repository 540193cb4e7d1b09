"""Faults on demand: error statuses, latency, dropped connections, broken bodies, token loss.

>>> sandbox.faults.add(route="capture", fault=Fault.status(503, retry_after=2), times=1)
>>> sandbox.faults.add(route="*", fault=Fault.latency(0.05), probability=0.2)
>>> sandbox.faults.add(route="capture", fault=Fault.drop_after())   # applied, no answer
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Literal

__all__ = ["ROUTES", "Fault", "FaultPlan", "FaultRule"]

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
]

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
        """Answer 200 with a truncated JSON body. By default the request *is* applied."""
        return cls("malformed_json", apply=apply)

    @classmethod
    def html_error(cls, status: int = 500) -> Fault:
        """Answer an HTML error page (as a proxy would), without applying."""
        return cls("html_error", status_code=status)

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

    Latency and token faults are cumulative; the first firing fault of another kind ends
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
                if rule.fault.kind not in ("latency", "revoke_tokens", "expire_tokens"):
                    break
        return fired

    def __repr__(self) -> str:
        return f"<FaultPlan rules={len(self._rules)}>"
