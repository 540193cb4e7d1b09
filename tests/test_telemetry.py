"""OpenTelemetry over loopback: span trees and metrics of real calls against the sandbox.

Every test serves the sandbox on 127.0.0.1 and reads what the client emitted through the
SDK's in-memory span exporter and metric reader (per-client providers, so tests do not
share global state). Faults come from the sandbox's fault plan; counts, never timings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import anyio
import pytest

from flexiti_async import FlexitiClient, RetryPolicy, errors, reference_id
from flexiti_async.concurrency import bounded_map, iterate_windows
from flexiti_async.models import FinancingOption, TransactionType
from tests._otel import Otel, in_memory_otel

pytestmark = [pytest.mark.anyio, pytest.mark.needs_service("uvicorn", "opentelemetry-sdk")]


@pytest.fixture
def otel() -> Iterator[Otel]:
    yield from in_memory_otel()


@asynccontextmanager
async def served(otel: Otel, **options: Any) -> AsyncIterator[tuple[Any, FlexitiClient]]:
    pytest.importorskip("uvicorn")
    from flexiti_async.testing import FlexitiSandbox

    sandbox = FlexitiSandbox(seed=3)
    async with sandbox.serve() as base_url:
        async with FlexitiClient(
            sandbox.client_id,
            sandbox.client_secret,
            base_url=base_url,
            retry_policy=RetryPolicy(backoff_base=0.0),
            telemetry=otel.telemetry,
            **options,
        ) as client:
            yield sandbox, client


def attempts(span: Any) -> list[Any]:
    return [
        e.attributes.get("http.response.status_code", e.attributes.get("error.type"))
        for e in span.events
        if e.name == "flexiti.attempt"
    ]


def child_of(span: Any, parent: Any) -> bool:
    return span.parent is not None and span.parent.span_id == parent.context.span_id


async def test_a_lookup_is_one_client_span_with_its_token_grant_inside(otel: Otel) -> None:
    from opentelemetry.trace import SpanKind

    async with served(otel) as (sandbox, client):
        account = sandbox.find_account(status="N")
        async with reference_id("telemetry-lookup-1"):
            await client.customers.lookup(account_number=account.account_number)

    (lookup,) = otel.spans("flexiti customers.lookup")
    (grant,) = otel.spans("flexiti oauth.token")
    assert lookup.kind is SpanKind.CLIENT
    assert lookup.parent is None
    assert child_of(grant, lookup)
    assert lookup.attributes["http.request.method"] == "GET"
    assert lookup.attributes["url.template"] == "customers/lookup"
    assert lookup.attributes["server.address"] == "127.0.0.1"
    assert lookup.attributes["http.response.status_code"] == 200
    assert lookup.attributes["flexiti.reference_id"] == "telemetry-lookup-1"
    assert lookup.attributes["flexiti.retries"] == 0
    assert lookup.attributes["flexiti.outcome"] == "ok"
    assert "error.type" not in lookup.attributes
    assert attempts(lookup) == []  # one successful attempt: the span says it all
    assert grant.attributes["flexiti.grant_type"] == "client_credentials"
    assert otel.total("flexiti.client.token.grants") == sandbox.stats.token_grants.total() == 1
    lookups = {"flexiti.operation": "customers.lookup", "flexiti.outcome": "ok"}
    assert otel.total("flexiti.client.request.duration", **lookups) == 1
    assert otel.total("flexiti.client.active_requests") == 0


async def test_a_retried_get_has_one_span_and_an_event_per_attempt(otel: Otel) -> None:
    from flexiti_async.testing import Fault

    async with served(otel) as (sandbox, client):
        account = sandbox.find_account(status="N")
        await client.customers.lookup(account_number=account.account_number)  # warm
        otel.exporter.clear()
        sandbox.faults.add(route="lookup", fault=Fault.status(503), times=2)
        await client.customers.lookup(account_number=account.account_number)

    (lookup,) = otel.spans()  # warm token: no grant span
    assert attempts(lookup) == [503, 503, 200]
    assert [e.attributes.get("http.request.resend_count") for e in lookup.events] == [None, 1, 2]
    assert lookup.attributes["flexiti.retries"] == 2
    assert lookup.attributes["flexiti.outcome"] == "ok"
    assert otel.total("flexiti.client.retries") == 2
    assert sandbox.stats.count("lookup", 503) == 2


async def test_a_401_replay_nests_the_new_grant_and_is_not_a_retry(otel: Otel) -> None:
    from flexiti_async.testing import Fault

    async with served(otel) as (sandbox, client):
        account = sandbox.find_account(status="N")
        await client.customers.lookup(account_number=account.account_number)
        otel.exporter.clear()
        sandbox.faults.add(route="lookup", fault=Fault.revoke_tokens(), times=1)
        await client.customers.lookup(account_number=account.account_number)

    (lookup,) = otel.spans("flexiti customers.lookup")
    grants = otel.spans("flexiti oauth.token")
    assert attempts(lookup) == [401, 200]
    assert lookup.attributes["flexiti.retries"] == 0
    assert len(grants) == 1
    assert child_of(grants[0], lookup)
    assert otel.total("flexiti.client.token.grants") == 2  # the cold one and the new one
    assert sandbox.stats.token_grants.total() == 2


async def test_an_outcome_unknown_capture_is_recorded_as_such(otel: Otel) -> None:
    from opentelemetry.trace import StatusCode

    from flexiti_async.testing import Fault

    async with served(otel) as (sandbox, client):
        account = sandbox.find_account(status="N")
        shopper = client.with_options(scope="customer")
        await shopper.widget.init(flow="purchase", account_number=account.account_number)
        auth = await shopper.authorizations.create(
            account_number=account.account_number,
            amount=Decimal("80.00"),
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
        )
        sandbox.faults.add(route="capture", fault=Fault.drop_after(), times=1)
        with pytest.raises(errors.OutcomeUnknownError) as caught:
            await client.authorizations.capture(auth.authorization_id, amount=Decimal("80.00"))
        assert sandbox.ledger.count(kind="capture") == 1

    (capture,) = otel.spans("flexiti authorizations.capture")
    assert capture.attributes["url.template"] == "authorization/{authorization_id}/capture"
    assert capture.attributes["http.request.method"] == "POST"
    assert capture.attributes["flexiti.outcome"] == "outcome_unknown"
    assert capture.attributes["error.type"] == "OutcomeUnknownError"
    assert capture.attributes["flexiti.reference_id"] == caught.value.reference_id
    assert "http.response.status_code" not in capture.attributes
    assert capture.status.status_code is StatusCode.ERROR
    (attempt,) = capture.events  # not resent
    assert "error.type" in attempt.attributes
    assert otel.total("flexiti.client.request.duration", **{"flexiti.outcome": "outcome_unknown"})


async def test_an_unreadable_answer_to_a_capture_is_its_outcome(otel: Otel) -> None:
    from flexiti_async.testing import Fault

    async with served(otel) as (sandbox, client):
        account = sandbox.find_account(status="N")
        shopper = client.with_options(scope="customer")
        await shopper.widget.init(flow="purchase", account_number=account.account_number)
        auth = await shopper.authorizations.create(
            account_number=account.account_number,
            amount=Decimal("40.00"),
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
        )
        sandbox.faults.add(route="capture", fault=Fault.malformed_json(), times=1)
        with pytest.raises(errors.ResponseValidationError):
            await client.authorizations.capture(auth.authorization_id, amount=Decimal("40.00"))

    (capture,) = otel.spans("flexiti authorizations.capture")
    assert capture.attributes["flexiti.outcome"] == "ResponseValidationError"
    assert capture.attributes["error.type"] == "ResponseValidationError"
    assert capture.attributes["http.response.status_code"] == 200  # applied: do not resend
    assert capture.attributes["flexiti.retries"] == 0
    assert attempts(capture) == [200]


async def test_a_paged_listing_is_one_span_per_page_under_the_callers_span(otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("tests")
    async with served(otel) as (sandbox, client):
        sandbox.seed_history(days=5, stores=2, per_day=5, start=date(2024, 1, 1), seed=1)
        await client.customers.lookup(account_number=sandbox.find_account().account_number)
        otel.exporter.clear()
        sandbox.reset_stats()
        with tracer.start_as_current_span("nightly job") as job:
            seen = 0
            async for _ in client.authorizations.list(
                creation_date_from=date(2024, 1, 1), page_size=10
            ):
                seen += 1
        pages = sandbox.stats.count("list_authorizations")

    assert seen == 50
    spans = otel.spans("flexiti authorizations.list")
    assert len(spans) == pages >= 5
    (parent,) = otel.spans("nightly job")
    assert all(child_of(span, parent) for span in spans)  # prefetched pages too
    assert {span.attributes["url.template"] for span in spans} == {"authorizations"}
    assert job.get_span_context().trace_id == spans[0].context.trace_id


async def test_fan_out_tasks_carry_the_callers_span(otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("tests")
    async with served(otel) as (sandbox, client):
        sandbox.seed_history(days=4, stores=1, per_day=3, start=date(2024, 2, 1), seed=2)
        account = sandbox.find_account(status="N")

        async def lookup(_: int) -> object:
            return await client.customers.lookup(account_number=account.account_number)

        with tracer.start_as_current_span("fan-out"):
            async with bounded_map(lookup, range(12), limit=4) as results:
                looked_up = [r async for r in results]
            async with iterate_windows(
                lambda a, b: client.authorizations.list(creation_date_from=a, creation_date_to=b),
                date(2024, 2, 1),
                date(2024, 2, 4),
                days=1,
                limit=3,
            ) as items:
                listed = [item async for item in items]

    assert len(looked_up) == 12
    assert len(listed) == 12
    (parent,) = otel.spans("fan-out")
    lookups = otel.spans("flexiti customers.lookup")
    windows = otel.spans("flexiti authorizations.list")
    assert len(lookups) == 12
    assert len(windows) >= 4
    assert all(child_of(span, parent) for span in lookups + windows)
    (grant,) = otel.spans("flexiti oauth.token")  # one grant for the whole fan-out
    assert any(child_of(grant, span) for span in lookups)


async def test_admission_wait_and_the_in_flight_gauge(otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("tests")
    async with served(otel, max_concurrency=1) as (sandbox, client):
        account = sandbox.find_account(status="N")
        await client.customers.lookup(account_number=account.account_number)  # warm
        otel.exporter.clear()
        gate = sandbox.faults.hold("lookup")
        number = account.account_number
        with tracer.start_as_current_span("checkout burst"):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(lambda: client.customers.lookup(account_number=number))
                await gate.wait_for(1)  # one inside the sandbox, two waiting for admission
                in_flight = otel.total("flexiti.client.active_requests")
                gate.release()

    assert in_flight == 3
    # The two that queued for admission kept the caller's context through the queue.
    (parent,) = otel.spans("checkout burst")
    lookups = otel.spans("flexiti customers.lookup")
    assert len(lookups) == 3
    assert all(child_of(span, parent) for span in lookups)
    assert otel.total("flexiti.client.active_requests") == 0
    # The two requests that queued behind the held one (none of the others waited).
    assert otel.total("flexiti.client.admission.wait_time") == 2
    assert sandbox.stats.max_in_flight == 1


async def test_telemetry_true_uses_the_global_providers_without_failing() -> None:
    pytest.importorskip("opentelemetry.trace")
    pytest.importorskip("uvicorn")
    from flexiti_async.testing import FlexitiSandbox

    sandbox = FlexitiSandbox(seed=4)
    async with sandbox.serve() as base_url:
        async with FlexitiClient(
            sandbox.client_id, sandbox.client_secret, base_url=base_url, telemetry=True
        ) as client:
            profile = await client.customers.lookup(
                account_number=sandbox.find_account().account_number
            )
    assert profile.account_number


async def test_a_card_number_lookup_leaves_no_card_in_any_span(otel: Otel) -> None:
    async with served(otel) as (sandbox, client):
        account = sandbox.find_account(status="N")
        card = account.vccs[0]
        await client.customers.lookup(vcc_number=card)
    texts = [repr(dict(span.attributes)) for span in otel.spans()]
    texts += [repr(dict(e.attributes)) for span in otel.spans() for e in span.events]
    texts += [span.name for span in otel.spans()]
    assert texts
    assert not [text for text in texts if card in text or card[-10:] in text]
