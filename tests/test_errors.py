"""The pure mapping from what came back to the exception raised (`_error_mapping`)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from flexiti_async import errors
from flexiti_async._error_mapping import (
    describe,
    error_class,
    error_from_response,
    no_answer_error,
    parse_error_body,
    shape_error,
    transport_error,
    undecodable_error,
)
from flexiti_async._retry import Delivery
from flexiti_async.errors import ErrorCode

CARD = "4111111111114444"
TOKEN = "tok-abcdefghijklmnop"
SECRET = "client-secret-xyz123"
URL = f"https://h/v2.5/client-id/c/customers/lookup?vcc_number={CARD}&lang=en"


def _request(content: bytes = b"") -> httpx.Request:
    return httpx.Request("POST", URL, headers={"authorization": f"Bearer {TOKEN}"}, content=content)


def _response(status: int, body: Any = None, *, content: bytes | None = None) -> httpx.Response:
    raw = content if content is not None else json.dumps(body).encode()
    return httpx.Response(status, content=raw, request=_request(b'{"pin": "1234"}'))


# ------------------------------------------------------------------ status and code -> class


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, None, errors.BadRequestError),
        (401, None, errors.AuthenticationError),
        (403, None, errors.PermissionDeniedError),
        (404, None, errors.NotFoundError),
        (409, None, errors.ConflictError),
        (429, None, errors.RateLimitError),
        (465, None, errors.BlockedError),
        (500, None, errors.ServerError),
        (599, None, errors.ServerError),
        (418, None, errors.APIStatusError),
        (409, ErrorCode.WRONG_INPUTS, errors.InputValidationError),
        (409, ErrorCode.CREDIT_EXCEEDED, errors.InsufficientCreditError),
        (409, "a_code_from_the_future", errors.ConflictError),
        # A 409 family on another status: the status decides.
        (400, ErrorCode.CREDIT_EXCEEDED, errors.BadRequestError),
        # These codes name the failure whatever the status.
        (400, ErrorCode.INVALID_CLIENT, errors.AuthenticationError),
        (400, ErrorCode.INSUFFICIENT_SCOPE, errors.PermissionDeniedError),
    ],
)
def test_error_class(status: int, code: ErrorCode | str | None, cls: type[Exception]) -> None:
    assert error_class(status, code) is cls


def test_error_class_is_still_importable_from_errors() -> None:
    assert errors.error_class is error_class  # type: ignore[attr-defined]
    assert errors.error_from_response is error_from_response  # type: ignore[attr-defined]


# ------------------------------------------------------------------ error bodies


def test_documented_code_shape() -> None:
    body = json.dumps({"error": "generic_error", "error_description": "Oops"}).encode()
    parsed = parse_error_body(500, body)
    assert parsed.code is ErrorCode.GENERAL_ERROR
    assert parsed.raw_code == "generic_error"
    assert parsed.description == "Oops"


def test_wrong_inputs_shape_gives_field_errors() -> None:
    body = {"error": "wrong_inputs", "field_errors": [{"param": "amount", "msg": "too big"}]}
    parsed = parse_error_body(409, json.dumps(body).encode())
    assert parsed.code is ErrorCode.WRONG_INPUTS
    assert [(f.param, f.msg) for f in parsed.field_errors] == [("amount", "too big")]


def test_403_message_shape_names_insufficient_scope() -> None:
    parsed = parse_error_body(403, b'{"message": "Insufficient scope for this resource"}')
    assert parsed.code is ErrorCode.INSUFFICIENT_SCOPE


@pytest.mark.parametrize(
    ("content", "description"),
    [
        (
            b"<html><body>502   Bad\n Gateway</body></html>",
            "<html><body>502 Bad Gateway</body></html>",
        ),
        (b"", None),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
        (b"[1, 2]", None),
    ],
)
def test_any_other_body_never_raises(content: bytes, description: str | None) -> None:
    parsed = parse_error_body(502, content)
    assert parsed.code is None
    assert parsed.description == description


# ------------------------------------------------------------------ the one scrub


def test_error_from_response_redacts_text_body_and_request() -> None:
    body = {
        "error": "wrong_inputs",
        "message": f"card {CARD} token {TOKEN}",
        "field_errors": [{"param": "vcc_number", "msg": "invalid", "value": CARD}],
    }
    exc = error_from_response(_response(409, body), reference_id="ref", secrets=(TOKEN,))
    assert isinstance(exc, errors.InputValidationError)
    assert exc.reference_id == "ref"
    text = f"{exc} {exc.description} {exc.body}"
    assert CARD not in text
    assert TOKEN not in text
    assert exc.response is not None
    request = exc.response.request
    assert request.headers["authorization"] == "Bearer <redacted>"
    assert CARD not in str(request.url)
    assert request.content == b""  # the body (a PIN here) is gone


def test_a_429_carries_retry_after() -> None:
    exc = error_from_response(_response(429, {"error": "x"}), reference_id=None, retry_after=2.5)
    assert isinstance(exc, errors.RateLimitError)
    assert exc.retry_after == 2.5


def test_a_response_without_a_request_is_mapped() -> None:
    exc = error_from_response(httpx.Response(404, content=b"{}"), reference_id=None)
    assert isinstance(exc, errors.NotFoundError)


# ------------------------------------------------------------------ no usable answer


def _failure(cls: type[httpx.TransportError], message: str = "boom") -> httpx.TransportError:
    return cls(message, request=_request())


@pytest.mark.parametrize(
    ("exc", "delivery", "idempotent", "cls"),
    [
        (_failure(httpx.ConnectError), Delivery.NEVER_SENT, False, errors.APIConnectionError),
        (_failure(httpx.ReadTimeout), Delivery.MAYBE_SENT, True, errors.APITimeoutError),
        (_failure(httpx.ReadError), Delivery.MAYBE_SENT, False, errors.OutcomeUnknownError),
        (_failure(httpx.ProxyError), Delivery.FATAL, True, errors.APIConnectionError),
    ],
)
def test_transport_error_by_delivery(
    exc: httpx.TransportError, delivery: Delivery, idempotent: bool, cls: type[Exception]
) -> None:
    error = transport_error(
        exc, delivery=delivery, idempotent=idempotent, method="POST", path="p", reference_id="r"
    )
    assert type(error) is cls
    assert error.reference_id == "r"
    assert exc.request.headers["authorization"] == "Bearer <redacted>"  # scrubbed
    assert CARD not in str(exc.request.url)


@pytest.mark.parametrize(
    ("delivery", "cls"),
    [
        (Delivery.MAYBE_SENT, errors.OutcomeUnknownError),
        (Delivery.NEVER_SENT, errors.ClientClosedError),
    ],
)
def test_transport_error_after_close(delivery: Delivery, cls: type[Exception]) -> None:
    error = transport_error(
        _failure(httpx.ReadError),
        delivery=delivery,
        idempotent=False,
        method="POST",
        path="p",
        reference_id="r",
        closed=True,
    )
    assert type(error) is cls
    assert "closed" in str(error)


def test_describe_takes_the_message_from_the_cause_chain_and_redacts_it() -> None:
    exc = httpx.ConnectError("", request=_request())
    exc.__cause__ = OSError(f"handshake failed for {SECRET}")
    assert describe(exc, (SECRET,)) == "ConnectError: handshake failed for <redacted>"


@pytest.mark.parametrize(
    ("idempotent", "cls"), [(True, errors.APIConnectionError), (False, errors.OutcomeUnknownError)]
)
def test_no_answer_error(idempotent: bool, cls: type[Exception]) -> None:
    exc = httpx.TooManyRedirects("redirects", request=_request())
    error = no_answer_error(exc, idempotent=idempotent, method="POST", path="p", reference_id="r")
    assert type(error) is cls
    assert exc.request.headers["authorization"] == "Bearer <redacted>"


def test_undecodable_and_shape_errors() -> None:
    not_json = undecodable_error(None, status=200, method="GET", path="p", reference_id="r")
    assert not_json.status_code == 200
    assert "not JSON" in str(not_json)
    bad_encoding = undecodable_error(
        httpx.DecodingError("bad gzip", request=_request()),
        status=0,
        method="GET",
        path="p",
        reference_id="r",
    )
    assert "could not be decoded" in str(bad_encoding)
    shaped = shape_error(
        TypeError("x"), what="GET p: the response", cls=int, reference_id="r", body={"a": 1}
    )
    assert str(shaped).startswith("GET p: the response did not fit int (TypeError)")
    assert shaped.body == {"a": 1}
