"""Request counters of the sandbox: responses by route and status, token grants, concurrency."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["Stats"]


class Stats:
    """Request counters.

    ``requests[(route, status)]`` counts responses (status ``0`` = connection dropped);
    ``token_grants["client_credentials"]`` counts issued tokens by grant type;
    ``max_in_flight`` / ``max_in_flight_token`` are high-water marks of concurrent requests
    on API routes and on the token route.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.token_grants: Counter[str] = Counter()
        self.total_requests = 0
        self.in_flight = 0
        self.in_flight_token = 0
        self.max_in_flight = 0
        self.max_in_flight_token = 0

    def count(self, route: str | None = None, status: int | None = None) -> int:
        """Requests for ``route`` (any if None) that ended with ``status`` (any if None)."""
        with self._lock:
            return sum(
                n
                for (r, s), n in self.requests.items()
                if (route is None or r == route) and (status is None or s == status)
            )

    def enter(self, token_route: bool) -> None:
        """A request started (called by the sandbox)."""
        with self._lock:
            self.total_requests += 1
            if token_route:
                self.in_flight_token += 1
                self.max_in_flight_token = max(self.max_in_flight_token, self.in_flight_token)
            else:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self, route: str, status: int, token_route: bool) -> None:
        """A request ended (called by the sandbox)."""
        with self._lock:
            self.requests[(route, status)] += 1
            if token_route:
                self.in_flight_token -= 1
            else:
                self.in_flight -= 1

    def grant(self, grant_type: str) -> None:
        """A token was issued (called by the sandbox)."""
        with self._lock:
            self.token_grants[grant_type] += 1

    def reset(self) -> None:
        """Zero every counter (in-flight gauges keep counting requests still running)."""
        with self._lock:
            self.requests.clear()
            self.token_grants.clear()
            self.total_requests = 0
            self.max_in_flight = self.in_flight
            self.max_in_flight_token = self.in_flight_token

    def __repr__(self) -> str:
        return (
            f"<Stats total={self.total_requests} max_in_flight={self.max_in_flight}"
            f" max_in_flight_token={self.max_in_flight_token}"
            f" token_grants={dict(self.token_grants)}>"
        )
