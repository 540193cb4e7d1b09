"""Hypothesis fuzzing of what the server sends back: whatever the body and status, only
`FlexitiError` subclasses escape a call (never KeyError, TypeError, AttributeError,
JSONDecodeError, cattrs or httpx errors), and paging always ends.

Argument values are fuzzed in tests/test_resources_common.py; this file fuzzes responses.
Every client uses an injected ``httpx.AsyncClient`` on an ``httpx.MockTransport`` (no
sockets) and ``RetryPolicy(max_retries=0)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flexiti_async import FlexitiClient, RetryPolicy, errors
from tests._mock_api import BASE, CLIENT_ID, CLIENT_SECRET
from tests._resources import VALID_CALLS

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

FIXTURES = Path(__file__).parent / "fixtures"
STATUSES = (200, 201, 400, 401, 403, 404, 409, 429, 500, 502, 503)
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Keys that appear in real bodies (fixtures, error shapes, paging envelopes): dictionaries
# built from them get past "not an object" and reach the converter's field handling.
_KNOWN_KEYS = sorted(
    {
        key
        for path in FIXTURES.glob("*.json")
        for key in json.dumps(json.loads(path.read_text()))
        .replace('"', " ")
        .replace(":", " ")
        .split()
        if key.isidentifier()
    }
    | {
        "error",
        "error_description",
        "code",
        "message",
        "field_errors",
        "errors",
        "param",
        "field",
        "msg",
        "value",
        "authorizations",
        "captures",
        "data",
        "items",
        "results",
        "content",
        "total_count",
        "total",
        "total_pages",
        "page_number",
        "last",
        "has_more",
        "has_next",
        "next",
        "next_page",
        "access_token",
        "expires_in",
        "refresh_token",
        "token_type",
        "scope",
    }
)


def _json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        text,
        st.sampled_from(["", "0", "1.5", "12.345", "2024-01-31", "2024-13-45T99:00", "N"]),
    )
    return st.recursive(
        scalar,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.one_of(st.sampled_from(_KNOWN_KEYS), text), children, max_size=6),
        ),
        max_leaves=20,
    )


def _fixture_mutations(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Real bodies, truncated or with one value replaced."""
    bodies = [path.read_bytes() for path in sorted(FIXTURES.glob("*.json"))]
    truncated = st.builds(
        lambda body, cut: body[:cut], st.sampled_from(bodies), st.integers(0, 400)
    )

    def replace(body: bytes, key_index: int, value: Any) -> bytes:
        decoded = json.loads(body)
        if isinstance(decoded, dict) and decoded:
            key = sorted(decoded)[key_index % len(decoded)]
            decoded[key] = value
        return json.dumps(decoded).encode()

    replaced = st.builds(replace, st.sampled_from(bodies), st.integers(0, 50), values)
    return st.one_of(truncated, replaced)


def _bodies(text: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """Response bodies: arbitrary JSON, arbitrary bytes, and mutations of real bodies."""
    values = _json_values(text)
    return st.one_of(
        values.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=120),
        st.sampled_from([b"", b"null", b"NaN", b"[]", b"{}", b"<html>502</html>", b"\xff\xfe"]),
        _fixture_mutations(values),
    )


BODIES = _bodies(st.one_of(st.text(max_size=12), st.sampled_from(["\u00b2", "\u0663", "\uff11"])))
PAGE_BODIES = BODIES  # non-ASCII digits included (test_non_ascii_digits_in_a_paging_envelope)
HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


def _token_response() -> httpx.Response:
    return httpx.Response(
        200,
        json={"access_token": "a" * 40, "expires_in": 1200, "refresh_token": "r" * 40},
    )


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> FlexitiClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return FlexitiClient(
        CLIENT_ID,
        CLIENT_SECRET,
        base_url=BASE,
        http_client=http,
        retry_policy=RetryPolicy(max_retries=0, backoff_base=0.0),
    )


def check(exc: BaseException | None) -> None:
    """The contract: nothing but a FlexitiError, and its text renders."""
    if exc is None:
        return
    assert isinstance(exc, errors.FlexitiError), f"{type(exc).__name__} escaped: {exc!r}"
    assert isinstance(str(exc), str)
    assert isinstance(repr(exc), str)
    if isinstance(exc, errors.APIStatusError):
        assert exc.code is None or isinstance(exc.code, (errors.ErrorCode, str))


@pytest.mark.parametrize("name", sorted(VALID_CALLS))
@FUZZ
@given(
    status=st.sampled_from(STATUSES),
    body=BODIES,
    retry_after=st.one_of(st.none(), HEADER_VALUE),
    content_type=st.sampled_from(["application/json", "text/html", "application/x-garbage"]),
)
async def test_any_response_to_any_endpoint_raises_only_flexiti_errors(
    name: str, status: int, body: bytes, retry_after: str | None, content_type: str
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        if request.url.path.endswith("/oauth/token"):
            return _token_response()
        calls += 1
        headers = {"content-type": content_type}
        if retry_after is not None:
            headers["retry-after"] = retry_after
        return httpx.Response(status, content=body, headers=headers)

    outcome: BaseException | None = None
    async with client_for(handler) as flexiti:
        try:
            await VALID_CALLS[name](flexiti)
        except Exception as exc:
            outcome = exc
    check(outcome)
    # Bounded: one attempt, plus one replay after a 401.
    assert 1 <= calls <= 2
    if status >= 300:
        assert isinstance(outcome, errors.APIStatusError)
        assert outcome.status_code == status


@FUZZ
@given(status=st.sampled_from(STATUSES), body=BODIES)
async def test_any_token_endpoint_response_raises_only_flexiti_errors(
    status: int, body: bytes
) -> None:
    """The token endpoint answers anything: the call fails cleanly or gets a token."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(status, content=body)
        return httpx.Response(200, json={"account_number": 100000001})

    outcome: BaseException | None = None
    async with client_for(handler) as flexiti:
        try:
            await flexiti.customers.lookup(account_number=100000001)
        except Exception as exc:
            outcome = exc
    check(outcome)
    if outcome is not None:
        assert CLIENT_SECRET not in str(outcome)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("reset"),
        httpx.PoolTimeout("pool"),
        httpx.LocalProtocolError("bad header"),
        httpx.UnsupportedProtocol("gopher"),
    ],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("name", sorted(VALID_CALLS))
async def test_transport_errors_on_any_endpoint_raise_only_flexiti_errors(
    name: str, exc: Exception
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return _token_response()
        raise exc

    outcome: BaseException | None = None
    async with client_for(handler) as flexiti:
        try:
            await VALID_CALLS[name](flexiti)
        except Exception as caught:
            outcome = caught
    assert outcome is not None
    check(outcome)


@pytest.mark.parametrize("endpoint", ["authorizations", "captures"])
@pytest.mark.parametrize("prefetch", [0, 1, 2])
@FUZZ
@given(
    pages=st.lists(PAGE_BODIES, min_size=1, max_size=5),
    page_size=st.integers(1, 4),
    statuses=st.lists(st.sampled_from((200, 200, 200, 404, 429, 500)), min_size=5, max_size=5),
)
async def test_paginator_over_arbitrary_pages_ends_or_raises(
    endpoint: str, prefetch: int, pages: list[bytes], page_size: int, statuses: list[int]
) -> None:
    """Page n answers ``pages[n-1]`` (then an empty list): iteration ends, or raises a
    FlexitiError; the number of requests and items stays bounded."""
    requested: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return _token_response()
        number = int(request.url.params.get("page_number", "1"))
        requested.append(number)
        if number > len(pages):
            return httpx.Response(200, json=[])
        return httpx.Response(statuses[number - 1], content=pages[number - 1])

    items = 0
    outcome: BaseException | None = None
    async with client_for(handler) as flexiti:
        group = getattr(flexiti, endpoint)
        try:
            async for _ in group.list(page_size=page_size, prefetch=prefetch):
                items += 1
                assert items <= 4 * len(pages) + 4, "more items than the pages hold"
        except Exception as exc:
            outcome = exc
    check(outcome)
    # At most every scripted page, one past the end, and what prefetch asked ahead.
    assert len(requested) <= len(pages) + 1 + prefetch
    assert len(set(requested)) == len(requested), "a page was fetched twice"


@FUZZ
@given(pages=st.lists(PAGE_BODIES, min_size=1, max_size=4))
async def test_first_page_and_pages_over_arbitrary_bodies(pages: list[bytes]) -> None:
    """``await paginator`` and ``.pages()`` obey the same contract."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return _token_response()
        number = int(request.url.params.get("page_number", "1"))
        body = pages[number - 1] if number <= len(pages) else b"[]"
        return httpx.Response(200, content=body)

    async with client_for(handler) as flexiti:
        outcome: BaseException | None = None
        try:
            await flexiti.authorizations.list(page_size=2)
        except Exception as exc:
            outcome = exc
        check(outcome)
        outcome = None
        seen = 0
        try:
            async for page in flexiti.captures.list(page_size=2).pages():
                seen += 1
                assert seen <= len(pages) + 1
                assert len(page.items) <= page.raw_count
        except Exception as exc:
            outcome = exc
        check(outcome)


# ------------------------------------------------------------------ found by fuzzing

# httpx raises two RequestErrors that are not TransportErrors: DecodingError (the answer
# arrived but its body cannot be decoded: a ResponseValidationError, retried only when
# idempotent) and TooManyRedirects (an injected client with follow_redirects=True).


@pytest.mark.parametrize("name", ["customers.lookup", "authorizations.capture"])
async def test_corrupt_content_encoding_raises_a_flexiti_error(name: str) -> None:
    """A proxy answers ``Content-Encoding: gzip`` with a body that is not gzip."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return _token_response()
        return httpx.Response(200, content=b"not gzip at all", headers={"content-encoding": "gzip"})

    outcome: BaseException | None = None
    async with client_for(handler) as flexiti:
        try:
            await VALID_CALLS[name](flexiti)
        except Exception as exc:
            outcome = exc
    assert outcome is not None
    check(outcome)


async def test_redirect_loop_on_an_injected_client_raises_a_flexiti_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return _token_response()
        return httpx.Response(302, headers={"location": str(request.url)})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True)
    flexiti = FlexitiClient(
        CLIENT_ID, CLIENT_SECRET, base_url=BASE, http_client=http, max_retries=0
    )
    outcome: BaseException | None = None
    async with flexiti:
        try:
            await flexiti.customers.lookup(account_number=100000001)
        except Exception as exc:
            outcome = exc
    assert outcome is not None
    check(outcome)


@pytest.mark.parametrize("value", ["²", "١٢٣", "１２３", " ³ "])
async def test_non_ascii_digits_are_refused_before_any_io(value: str) -> None:
    """``str.isdigit()`` is true for '²' and Arabic-Indic digits; ``int('²')`` raises a
    plain ValueError. Ids and card numbers must be refused as InvalidRequestError."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return _token_response()

    async with client_for(handler) as flexiti:
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.accounts.close(value)
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.authorizations.retrieve(value)
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.customers.lookup(vcc_number=value.strip()[0] * 16)
        with pytest.raises(errors.InvalidRequestError):
            await flexiti.authorizations.capture(value, amount=Decimal("1.00"))
    assert sent == []


@pytest.mark.parametrize("key", ["total_count", "total_pages"])
async def test_non_ascii_digits_in_a_paging_envelope(key: str) -> None:
    """Found by fuzzing: ``"²".isdigit()`` is true but ``int("²")`` raises ValueError."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return _token_response()
        return httpx.Response(200, json={"authorizations": [], key: "\u00b2"})

    outcome: BaseException | None = None
    async with client_for(handler) as flexiti:
        try:
            async for _ in flexiti.authorizations.list(page_size=2):
                pass
        except Exception as exc:
            outcome = exc
    check(outcome)
