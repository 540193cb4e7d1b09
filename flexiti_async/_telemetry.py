"""OpenTelemetry spans and metrics for every call (a no-op unless the client asks for them).

Telemetry is opt-in per client, ``FlexitiClient(..., telemetry=True)``, never switched on by
the mere presence of an OpenTelemetry SDK: a payments client should not start emitting data
(and paying for it) because some other part of the application configured a tracer. With
telemetry off the client holds ``None`` instead of a `Recorder`, and ``opentelemetry`` is
never imported.

One logical call (``customers.lookup``, a token grant) is one CLIENT span named
``flexiti <operation>``. When a call took more than one attempt or failed, each attempt is
an event on it (``flexiti.attempt``); a token grant made on behalf of a call is a child span
of that call. Attributes follow the HTTP client
semantic conventions, with ``url.template`` the path *template* (the query string can hold a
card number and is never recorded), plus ``flexiti.reference_id``, ``flexiti.retries`` and
``flexiti.outcome``. Nothing from a request or response body, header or exception message is
recorded: only class names, status codes and the path template.
"""

from __future__ import annotations

import functools
import re
import time
import urllib.parse
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import httpx

from ._version import __version__
from .errors import (
    APIStatusError,
    InvalidRequestError,
    OutcomeUnknownError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.context import Context
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import Span

__all__ = ["CallSpan", "Recorder", "Telemetry", "operation_for", "path_template", "recorder_for"]

_SCOPE = "flexiti_async"
_T = TypeVar("_T")
_CACHE_SIZE = 512  # attribute dicts a recorder keeps (one per operation and outcome)

#: (method, path template) -> operation name; the span is named ``flexiti <operation>``.
_OPERATIONS: dict[tuple[str, str], str] = {
    ("POST", "oauth/token"): "oauth.token",
    ("GET", "customers/search"): "customers.search",
    ("GET", "customers/lookup"): "customers.lookup",
    ("POST", "customers/driverslicense"): "customers.decode_drivers_license",
    ("POST", "account/{account_number}/verify"): "accounts.verify",
    ("POST", "accounts/{account_number}/calculate-interest"): "accounts.calculate_interest",
    ("POST", "accounts/{account_number}/close"): "accounts.close",
    ("POST", "accounts/{account_number}/refund"): "accounts.refund",
    ("POST", "apply"): "applications.apply",
    ("POST", "authorization"): "authorizations.create",
    ("GET", "authorization/{authorization_id}"): "authorizations.retrieve",
    ("GET", "authorizations"): "authorizations.list",
    ("POST", "authorization/{authorization_id}/capture"): "authorizations.capture",
    ("POST", "authorization/{authorization_id}/release"): "authorizations.release",
    (
        "POST",
        "authorization/{authorization_id}/capture/{capture_id}/return",
    ): "authorizations.return_capture",
    ("GET", "captures"): "captures.list",
    ("POST", "transactions"): "transactions.create",
    ("POST", "widget/init"): "widget.init",
    ("GET", "terms-and-conditions"): "content.terms_and_conditions",
    ("GET", "i18n"): "content.i18n",
    ("POST", "merchants/login"): "merchants.login",
}

#: The placeholder for a path segment that carries an identifier, by the segment before it.
_PLACEHOLDERS = {
    "account": "{account_number}",
    "accounts": "{account_number}",
    "authorization": "{authorization_id}",
    "capture": "{capture_id}",
}


# A run of three digits or more: an account, card, authorization or capture number. (Shorter
# runs are words: the ``i18n`` endpoint.)
_IDENTIFIER = re.compile(r"\d{3,}|^\d+$")


@attrs.frozen
class Telemetry:
    """Where a client's telemetry goes: ``FlexitiClient(..., telemetry=Telemetry(...))``.

    ``telemetry=True`` is ``Telemetry()``: the globally configured OpenTelemetry tracer and
    meter providers. Pass providers to send one client's telemetry elsewhere (tests use the
    SDK's in-memory exporters this way). Needs the ``otel`` extra (``opentelemetry-api``).
    """

    #: An ``opentelemetry.trace.TracerProvider``; None for the global one.
    tracer_provider: Any = None
    #: An ``opentelemetry.metrics.MeterProvider``; None for the global one.
    meter_provider: Any = None


def path_template(path: str) -> str:
    """The low-cardinality template of an API path: identifiers become placeholders.

    A segment holding a number is an identifier (an account number, an authorization id, a
    card number in a hand-written escape-hatch path), so none of them reaches a span.
    """
    segments = path.split("?", 1)[0].strip("/").split("/")
    previous = ""
    for index, segment in enumerate(segments):
        if _IDENTIFIER.search(segment):
            segments[index] = _PLACEHOLDERS.get(previous, "{id}")
        previous = segment
    return "/".join(segments)


@functools.lru_cache(maxsize=1024)  # bounded: paths carry identifiers
def operation_for(method: str, path: str) -> tuple[str, str]:
    """``(operation name, path template)`` of a call, e.g. ``("customers.lookup",
    "customers/lookup")``; a path the client does not wrap is ``request``."""
    template = path_template(path)
    return _OPERATIONS.get((method, template), "request"), template


def _outcome(error: BaseException) -> str:
    if isinstance(error, OutcomeUnknownError):
        return "outcome_unknown"
    return type(error).__name__


def _error_type(error: BaseException) -> str:
    # The semantic conventions: the status code for an error status, else the class name.
    if isinstance(error, APIStatusError):
        return str(error.status_code)
    return type(error).__name__


class _OTel:
    """The OpenTelemetry functions a call uses, imported once (not once per call)."""

    __slots__ = (
        "attach",
        "client_kind",
        "detach",
        "error_status",
        "get_current",
        "set_span_in_context",
    )

    def __init__(self) -> None:
        from opentelemetry import context, trace

        self.attach = context.attach
        self.detach = context.detach
        self.get_current = context.get_current
        self.set_span_in_context = trace.set_span_in_context
        self.client_kind = trace.SpanKind.CLIENT
        self.error_status = trace.StatusCode.ERROR


class CallSpan:
    """One logical call in progress: its span (current while it runs) and its metrics.

    A context manager: leaving the block ends the span, with the exception that left it as
    the call's error. Inside, the attempt loop reports each `attempt` and each retry.
    """

    __slots__ = (
        "_attempts",
        "_grant_type",
        "_operation",
        "_recorder",
        "_retries",
        "_span",
        "_started",
        "_status",
        "_token",
    )

    def __init__(
        self,
        recorder: Recorder,
        span: Span,
        operation: str,
        grant_type: str | None,
        parent: Context,
    ) -> None:
        self._recorder = recorder
        self._span = span
        self._operation = operation
        self._grant_type = grant_type
        self._retries = 0
        self._status: int | None = None
        # (number, status or error type, when): events are written when the call ends.
        self._attempts: list[tuple[int, int | str, int]] = []
        self._started = time.perf_counter()
        # Current while the call runs, so a token grant it triggers nests under it.
        self._token = recorder.otel.attach(recorder.otel.set_span_in_context(span, parent))
        recorder.active += 1

    def __enter__(self) -> CallSpan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.finish(exc)

    def attempt(self, number: int, got: httpx.Response | BaseException) -> None:
        """Note one attempt: an HTTP exchange, or an error without an answer."""
        if isinstance(got, httpx.Response):
            self._status = got.status_code
            self._attempts.append((number, got.status_code, time.time_ns()))
        else:
            self._status = None
            self._attempts.append((number, type(got).__name__, time.time_ns()))

    def _write_attempts(self) -> None:
        # One event per attempt, stamped when it ended. A call that succeeded at its first
        # attempt gets none: the span itself says all the event would (and events are a
        # large share of a span's cost).
        for number, got, when in self._attempts:
            event: dict[str, Any] = {"flexiti.attempt": number}
            if number > 1:
                event["http.request.resend_count"] = number - 1
            if isinstance(got, int):
                event["http.response.status_code"] = got
            else:
                event["error.type"] = got
            self._span.add_event("flexiti.attempt", event, timestamp=when)

    def retried(self) -> None:
        """Count one retry (a 401 replay is not one)."""
        self._retries += 1

    def finish(self, error: BaseException | None) -> None:
        """End the span and record the call's metrics; called once, by ``__exit__``."""
        recorder = self._recorder
        span = self._span
        elapsed = time.perf_counter() - self._started
        status = error.status_code if isinstance(error, APIStatusError) else self._status
        if error is None:
            ended, measured = recorder.endings(self._operation, self._retries, "ok", status, None)
        else:
            ended, measured = recorder.endings(
                self._operation, self._retries, _outcome(error), status, _error_type(error)
            )
            span.set_status(recorder.otel.error_status, type(error).__name__)
            self._write_attempts()
        span.set_attributes(ended)
        if error is None and len(self._attempts) > 1:
            self._write_attempts()
        recorder.active -= 1
        recorder.duration.record(elapsed, measured)
        if self._retries:
            recorder.retries.add(
                self._retries, recorder.labels("flexiti.operation", self._operation)
            )
        if error is None and self._grant_type is not None:
            recorder.grants.add(1, recorder.labels("flexiti.grant_type", self._grant_type))
        try:
            recorder.otel.detach(self._token)
        finally:
            span.end()


class Recorder:
    """A client's tracer and instruments (built once per client, shared by its derivatives).

    Per call it records one histogram point (plus a counter on retries and grants); calls in
    progress are a plain counter read by an observable instrument at collection time.
    """

    __slots__ = (
        "_cache",
        "active",
        "admission",
        "duration",
        "grants",
        "otel",
        "retries",
        "server_address",
        "server_port",
        "tracer",
    )

    def __init__(self, config: Telemetry, base_url: str) -> None:
        from opentelemetry import metrics, trace

        self.otel = _OTel()
        url = urllib.parse.urlsplit(base_url)
        self.server_address = url.hostname or ""
        self.server_port = url.port or (443 if url.scheme == "https" else 80)
        self.active = 0
        # Attribute dicts by what they describe, built once: a call only adds its reference
        # id. (The SDK copies what it is given, so sharing them is safe.)
        self._cache: dict[tuple[Any, ...], Any] = {}
        self.tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=config.tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=config.meter_provider)
        self.duration = meter.create_histogram(
            "flexiti.client.request.duration",
            unit="s",
            description="Duration of a call, its retries and admission wait included.",
        )
        self.retries = meter.create_counter(
            "flexiti.client.retries", unit="{retry}", description="Attempts resent."
        )
        self.grants = meter.create_counter(
            "flexiti.client.token.grants", unit="{grant}", description="Tokens obtained."
        )
        self.admission = meter.create_histogram(
            "flexiti.client.admission.wait_time",
            unit="s",
            description="Time a request waited for admission to the connection pool "
            "(requests admitted at once are not recorded).",
        )
        server = {"server.address": self.server_address}

        def observe_active(options: CallbackOptions) -> Iterable[Observation]:
            return (metrics.Observation(self.active, server),)

        meter.create_observable_up_down_counter(
            "flexiti.client.active_requests",
            callbacks=[observe_active],
            unit="{request}",
            description="Calls in progress (waiting for admission, or in flight).",
        )

    def start(
        self, method: str, path: str, *, reference_id: str | None, grant_type: str | None = None
    ) -> CallSpan:
        """Open the span of one logical call: ``with recorder.start(...) as span:``."""
        operation, template = operation_for(method, path)
        key = ("start", method, template, grant_type)
        shape: tuple[str, dict[str, Any]] | None = self._cache.get(key)
        if shape is None:
            attributes: dict[str, Any] = {
                "http.request.method": method,
                "url.template": template,
                "server.address": self.server_address,
                "server.port": self.server_port,
            }
            if grant_type is not None:
                attributes["flexiti.grant_type"] = grant_type
            shape = self._remember(key, (f"flexiti {operation}", attributes))
        name, attributes = shape
        if reference_id is not None:
            attributes = {**attributes, "flexiti.reference_id": reference_id}
        parent = self.otel.get_current()
        span = self.tracer.start_span(
            name, context=parent, kind=self.otel.client_kind, attributes=attributes
        )
        return CallSpan(self, span, operation, grant_type, parent)

    def _remember(self, key: tuple[Any, ...], value: _T) -> _T:
        # Bounded: escape-hatch paths can make new templates.
        if len(self._cache) < _CACHE_SIZE:
            self._cache[key] = value
        return value

    def endings(
        self,
        operation: str,
        retries: int,
        outcome: str,
        status: int | None,
        error_type: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The attributes a call's span ends with, and those of its duration metric."""
        key = ("end", operation, retries, outcome, status, error_type)
        found: tuple[dict[str, Any], dict[str, Any]] | None = self._cache.get(key)
        if found is not None:
            return found
        ended: dict[str, Any] = {"flexiti.retries": retries, "flexiti.outcome": outcome}
        # Few, low-cardinality attributes on metrics: each one is hashed on every record.
        measured: dict[str, Any] = {
            "flexiti.operation": operation,
            "server.address": self.server_address,
            "flexiti.outcome": outcome,
        }
        if status is not None:
            ended["http.response.status_code"] = measured["http.response.status_code"] = status
        if error_type is not None:
            ended["error.type"] = measured["error.type"] = error_type
        return self._remember(key, (ended, measured))

    def labels(self, name: str, value: str) -> dict[str, str]:
        """The one-attribute set ``{name: value}`` of a counter, built once."""
        key = ("label", name, value)
        found: dict[str, str] | None = self._cache.get(key)
        return found if found is not None else self._remember(key, {name: value})

    def admission_wait(self, seconds: float) -> None:
        """Record how long one request waited for admission to the connection pool."""
        self.admission.record(seconds)


def recorder_for(option: bool | Telemetry | None, base_url: str) -> Recorder | None:
    """The recorder for a client's ``telemetry`` option: None when off (the default).

    Raises `InvalidRequestError` for a value that is not a bool or a `Telemetry`, and when
    telemetry is asked for but ``opentelemetry-api`` is not installed.
    """
    if option is None or option is False:
        return None
    if option is True:
        option = Telemetry()
    if not isinstance(option, Telemetry):
        raise InvalidRequestError(
            "telemetry must be True, False or a flexiti_async.Telemetry", field="telemetry"
        )
    try:
        return Recorder(option, base_url)
    except ImportError:
        raise InvalidRequestError(
            "telemetry needs OpenTelemetry: pip install 'flexiti-async[otel]'",
            field="telemetry",
        ) from None
