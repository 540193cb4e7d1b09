"""The telemetry recorder on its own: names, templates, attributes and metrics, no network.

The span and metric data come from the OpenTelemetry SDK's in-memory exporter and reader;
the request path's use of the recorder is tested over loopback in test_telemetry.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import flexiti_async.resources
from flexiti_async import errors
from flexiti_async._telemetry import operation_for, path_template, recorder_for
from tests._otel import Otel, in_memory_otel

pytestmark = pytest.mark.needs_service("opentelemetry-sdk")


@pytest.fixture
def otel() -> Iterator[Otel]:
    yield from in_memory_otel()


@pytest.mark.parametrize(
    ("method", "path", "operation", "template"),
    [
        ("GET", "customers/lookup", "customers.lookup", "customers/lookup"),
        ("POST", "account/100000001/verify", "accounts.verify", "account/{account_number}/verify"),
        (
            "POST",
            "accounts/100000001/calculate-interest",
            "accounts.calculate_interest",
            "accounts/{account_number}/calculate-interest",
        ),
        ("POST", "authorization", "authorizations.create", "authorization"),
        (
            "GET",
            "authorization/42",
            "authorizations.retrieve",
            "authorization/{authorization_id}",
        ),
        (
            "POST",
            "authorization/42/capture/7/return",
            "authorizations.return_capture",
            "authorization/{authorization_id}/capture/{capture_id}/return",
        ),
        ("GET", "authorizations", "authorizations.list", "authorizations"),
        ("GET", "i18n", "content.i18n", "i18n"),
        ("GET", "authorization/7", "authorizations.retrieve", "authorization/{authorization_id}"),
        ("POST", "oauth/token", "oauth.token", "oauth/token"),
        # The escape hatch: a path the client does not wrap, identifiers still hidden.
        ("GET", "cards/4111111111111111/limits", "request", "cards/{id}/limits"),
    ],
)
def test_operation_names_and_templates(
    method: str, path: str, operation: str, template: str
) -> None:
    assert operation_for(method, path) == (operation, template)


def test_every_endpoint_the_resources_call_has_an_operation_name() -> None:
    # Read the resource modules' calls (method, path literal with its f-string parts) so a
    # new endpoint without a name in the table fails here rather than showing as "request".
    call = re.compile(r'_request\(\s*"(GET|POST)",\s*((?:f?"[^"]*"\s*)+)')
    found = []
    for source in sorted(Path(flexiti_async.resources.__file__).parent.glob("*.py")):
        for match in call.finditer(source.read_text(encoding="utf-8")):
            path = "".join(re.findall(r'f?"([^"]*)"', match.group(2)))
            path = re.sub(r"\{[^}]*\}", "100000001", path)  # an interpolated identifier
            found.append((match.group(1), path, operation_for(match.group(1), path)[0]))
    assert len(found) >= 18
    assert [f for f in found if f[2] == "request"] == []


def test_a_template_never_carries_the_query_string() -> None:
    assert path_template("customers/lookup?vcc_number=4111111111111111") == "customers/lookup"


def test_off_is_none_and_bad_values_are_refused() -> None:
    assert recorder_for(False, "https://example.test") is None
    assert recorder_for(None, "https://example.test") is None
    with pytest.raises(errors.InvalidRequestError, match="telemetry must be"):
        recorder_for("yes", "https://example.test")  # type: ignore[arg-type]


def test_asking_for_telemetry_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails
    with pytest.raises(errors.InvalidRequestError, match=r"flexiti-async\[otel\]"):
        recorder_for(True, "https://example.test")


def test_the_package_does_not_import_opentelemetry_when_telemetry_is_off() -> None:
    code = (
        "import sys, flexiti_async\n"
        "c = flexiti_async.FlexitiClient('id', 'secret', base_url='http://127.0.0.1:9')\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_call_is_one_client_span_with_an_event_per_attempt(otel: Otel) -> None:
    from opentelemetry.trace import SpanKind, StatusCode

    recorder = recorder_for(otel.telemetry, "https://pos.example.test/flexiti/pos-api")
    assert recorder is not None
    with recorder.start("GET", "authorization/42", reference_id="ref-1") as call:
        call.attempt(1, httpx.Response(503))
        call.retried()
        call.attempt(2, httpx.Response(200))

    (span,) = otel.spans()
    assert span.name == "flexiti authorizations.retrieve"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes) == {
        "http.request.method": "GET",
        "url.template": "authorization/{authorization_id}",
        "server.address": "pos.example.test",
        "server.port": 443,
        "flexiti.reference_id": "ref-1",
        "flexiti.retries": 1,
        "flexiti.outcome": "ok",
        "http.response.status_code": 200,
    }
    assert [dict(e.attributes) for e in span.events] == [
        {"flexiti.attempt": 1, "http.response.status_code": 503},
        {"flexiti.attempt": 2, "http.request.resend_count": 1, "http.response.status_code": 200},
    ]
    (duration,) = otel.points("flexiti.client.request.duration")
    assert duration.count == 1
    assert dict(duration.attributes) == {
        "flexiti.operation": "authorizations.retrieve",
        "server.address": "pos.example.test",
        "flexiti.outcome": "ok",
        "http.response.status_code": 200,
    }
    (retries,) = otel.points("flexiti.client.retries")
    assert retries.value == 1
    (active,) = otel.points("flexiti.client.active_requests")
    assert active.value == 0  # +1 at the start, -1 at the end


def test_a_first_attempt_success_writes_no_event(otel: Otel) -> None:
    recorder = recorder_for(otel.telemetry, "https://pos.example.test")
    assert recorder is not None
    with recorder.start("GET", "customers/lookup", reference_id="r") as call:
        call.attempt(1, httpx.Response(200))
    (span,) = otel.spans()
    assert span.events == ()
    assert span.attributes["http.response.status_code"] == 200


def test_attempt_events_keep_the_time_each_attempt_ended(otel: Otel) -> None:
    recorder = recorder_for(otel.telemetry, "https://pos.example.test")
    assert recorder is not None
    with recorder.start("GET", "customers/lookup", reference_id="r") as call:
        call.attempt(1, httpx.ConnectError("refused"))
        call.retried()
        call.attempt(2, httpx.Response(200))
    (span,) = otel.spans()
    first, second = span.events
    assert span.start_time <= first.timestamp <= second.timestamp <= span.end_time
    assert first.attributes["error.type"] == "ConnectError"


def test_errors_set_the_outcome_error_type_and_status(otel: Otel) -> None:
    from opentelemetry.trace import StatusCode

    recorder = recorder_for(otel.telemetry, "http://127.0.0.1:8000")
    assert recorder is not None
    unknown = errors.OutcomeUnknownError(
        "no answer", reference_id="r", method="POST", path="authorization/1/capture"
    )
    missing = errors.NotFoundError("not found", status_code=404, reference_id="s")

    def fail(method: str, path: str, got: Any, error: Exception) -> None:
        with recorder.start(method, path, reference_id="r") as call:
            call.attempt(1, got)
            raise error

    with pytest.raises(errors.OutcomeUnknownError):
        fail("POST", "authorization/1/capture", httpx.RemoteProtocolError("dropped"), unknown)
    with pytest.raises(errors.NotFoundError):
        fail("GET", "authorization/2", httpx.Response(404), missing)

    first, second = otel.spans()
    assert first.attributes["flexiti.outcome"] == "outcome_unknown"
    assert first.attributes["error.type"] == "OutcomeUnknownError"
    assert first.status.status_code is StatusCode.ERROR
    assert first.events[0].attributes["error.type"] == "RemoteProtocolError"
    assert "http.response.status_code" not in first.attributes
    assert first.attributes["server.port"] == 8000
    assert second.attributes["flexiti.outcome"] == "NotFoundError"
    assert second.attributes["error.type"] == "404"  # semconv: the status code
    assert second.attributes["http.response.status_code"] == 404
    assert not otel.points("flexiti.client.retries")


def test_a_call_is_current_while_it_runs_so_a_token_grant_nests_under_it(otel: Otel) -> None:
    from opentelemetry import trace

    recorder = recorder_for(otel.telemetry, "https://pos.example.test")
    assert recorder is not None
    before = trace.get_current_span()
    with recorder.start("GET", "customers/lookup", reference_id="r"):
        with recorder.start(
            "POST", "oauth/token", reference_id=None, grant_type="client_credentials"
        ) as grant:
            grant.attempt(1, httpx.Response(200))
    assert trace.get_current_span() is before  # detached again

    token, lookup = otel.spans()
    assert token.name == "flexiti oauth.token"
    assert token.parent is not None
    assert token.parent.span_id == lookup.context.span_id
    assert token.attributes["flexiti.grant_type"] == "client_credentials"
    assert "flexiti.reference_id" not in token.attributes
    (grants,) = otel.points("flexiti.client.token.grants")
    assert grants.value == 1
    assert grants.attributes["flexiti.grant_type"] == "client_credentials"


def test_admission_wait_is_a_histogram(otel: Otel) -> None:
    recorder = recorder_for(otel.telemetry, "https://pos.example.test")
    assert recorder is not None
    recorder.admission_wait(0.125)
    recorder.admission_wait(0.25)
    (point,) = otel.points("flexiti.client.admission.wait_time")
    assert point.count == 2
    assert point.sum == pytest.approx(0.375)


def test_calls_in_progress_are_observed_at_collection(otel: Otel) -> None:
    recorder = recorder_for(otel.telemetry, "https://pos.example.test")
    assert recorder is not None
    with recorder.start("GET", "customers/lookup", reference_id="a"):
        with recorder.start("GET", "authorizations", reference_id="b"):
            (point,) = otel.points("flexiti.client.active_requests")
            assert point.value == 2
            assert dict(point.attributes) == {"server.address": "pos.example.test"}
    (point,) = otel.points("flexiti.client.active_requests")
    assert point.value == 0


def test_attribute_sets_built_once_never_carry_one_calls_values_into_another(
    otel: Otel,
) -> None:
    # The recorder reuses attribute dicts across calls: a call's reference id, status and
    # outcome must still be its own.
    recorder = recorder_for(otel.telemetry, "https://pos.example.test")
    assert recorder is not None
    for reference, status in (("ref-1", 200), (None, 200), ("ref-3", 200), ("ref-4", 503)):
        with recorder.start("GET", "customers/lookup", reference_id=reference) as call:
            call.attempt(1, httpx.Response(status))
    spans = otel.spans()
    assert [s.attributes.get("flexiti.reference_id") for s in spans] == [
        "ref-1",
        None,
        "ref-3",
        "ref-4",
    ]
    assert [s.attributes["http.response.status_code"] for s in spans] == [200, 200, 200, 503]
    points = {
        p.attributes["http.response.status_code"]: p.count
        for p in otel.points("flexiti.client.request.duration")
    }
    assert points == {200: 3, 503: 1}
