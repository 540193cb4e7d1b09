"""From what came back (an error response, a transport failure) to the exception raised.

Pure functions: no I/O, no retries. Each builder scrubs what the exception carries once,
here, with `_redact.scrub_request` and the family's known secrets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ._redact import redact_json, redact_text, scrub_request
from ._retry import Delivery
from .errors import (
    AccountStatusError,
    AmountExceededError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ApplicationError,
    AuthenticationError,
    BadRequestError,
    BlockedError,
    ClientClosedError,
    ConflictError,
    ErrorCode,
    FieldError,
    FlexitiError,
    InputValidationError,
    InsufficientCreditError,
    NotFoundError,
    NotPermittedError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransactionStateError,
    VerificationError,
)

__all__ = [
    "ErrorBody",
    "describe",
    "error_class",
    "error_from_response",
    "no_answer_error",
    "parse_error_body",
    "shape_error",
    "transport_error",
    "undecodable_error",
]


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    465: BlockedError,
    466: BlockedError,
    467: BlockedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}

_FAMILIES: dict[type[APIStatusError], tuple[ErrorCode, ...]] = {
    VerificationError: (
        ErrorCode.WRONG_VERIFICATION_CODE,
        ErrorCode.VERIFICATION_CODE_REQUIRED,
        ErrorCode.NOT_VERIFIED,
        ErrorCode.SECRET_ANSWER_MISMATCH,
        ErrorCode.PIW_MISMATCH,
        ErrorCode.TRIES_EXCEED,
    ),
    InsufficientCreditError: (ErrorCode.CREDIT_EXCEEDED, ErrorCode.NOT_ENOUGH_CREDIT),
    AccountStatusError: (ErrorCode.USER_NOT_ABLE_TO_PURCHASE, ErrorCode.USER_NOT_ACTIVE),
    AmountExceededError: (
        ErrorCode.AUTH_AMOUNT_EXCEEDED,
        ErrorCode.CAPTURE_AMOUNT_EXCEEDED,
        ErrorCode.LIMIT_PAYMENT_AMOUNT_24,
        ErrorCode.REFUNDS_LIMIT_EXCEEDED_AMOUNT,
    ),
    TransactionStateError: (
        ErrorCode.AUTHORIZATION_ENDED,
        ErrorCode.RETURN_DATE_EXCEEDED,
        ErrorCode.WRONG_TRANSACTION_TYPE,
    ),
    NotPermittedError: (
        ErrorCode.INVALID_ROLE,
        ErrorCode.NOT_PERMITTED,
        ErrorCode.AUTH_NOT_ALLOWED,
        ErrorCode.PLAN_TERM_NOT_SET,
        ErrorCode.PLAN_TERM_NOT_AVAILABLE,
        ErrorCode.ACCOUNT_TYPE_NOT_PERMITTED,
        ErrorCode.MERCHANT_OVERRIDE_IS_NOT_ALLOWED,
        ErrorCode.REGULAR_PURCHASE_BYPASS_IS_NOT_ALLOWED,
        ErrorCode.EXTERNAL_LOCATION_ID_NOT_FOUND,
        ErrorCode.AUTHENTICATION_FAILURE,
    ),
    ApplicationError: (
        ErrorCode.APPLICATION_CREATE_ERROR,
        ErrorCode.TOS_AGREEMENT_REQUIRED,
        ErrorCode.CUSTOMER_ALREADY_EXISTS,
        ErrorCode.APPLICATION_DECLINED,
        ErrorCode.APPLICATION_DECLINED_2,
        ErrorCode.APPLICATION_DECLINED_3,
        ErrorCode.APPLICATION_MARKED_PENDING_1,
        ErrorCode.APPLICATION_MARKED_PENDING_2,
        ErrorCode.CREDITAPP_ID_NOT_FOUND,
    ),
    InputValidationError: (
        ErrorCode.WRONG_INPUTS,
        ErrorCode.INVALID_TRANSACTION_TYPE,
        ErrorCode.VCC_ACCOUNT_MISMATCH,
    ),
}
_BY_CODE: dict[ErrorCode | str, type[APIStatusError]] = {
    code: cls for cls, codes in _FAMILIES.items() for code in codes
}
# These name the failure whatever the status Flexiti pairs them with.
_BY_CODE[ErrorCode.INVALID_CLIENT] = AuthenticationError
_BY_CODE[ErrorCode.INVALID_TOKEN] = AuthenticationError
_BY_CODE[ErrorCode.INSUFFICIENT_SCOPE] = PermissionDeniedError


def _status_class(status: int) -> type[APIStatusError]:
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    return APIStatusError


def error_class(status: int, code: ErrorCode | str | None) -> type[APIStatusError]:
    """The exception class for an error status and (normalised) code.

    A code family is used when it refines the status class (all families sit under
    `ConflictError`, so they apply to 409s); otherwise the status decides. A few codes name
    the failure regardless of status (``invalid_client`` -> `AuthenticationError`).
    """
    by_status = _status_class(status)
    by_code = _BY_CODE.get(code) if code is not None else None
    if by_code is None:
        return by_status
    if by_code in (AuthenticationError, PermissionDeniedError) or issubclass(by_code, by_status):
        return by_code
    return by_status


class ErrorBody:
    """What `parse_error_body` extracts from any documented (or undocumented) error body."""

    __slots__ = ("body", "code", "description", "field_errors", "raw_code")

    def __init__(
        self,
        raw_code: str | None,
        description: str | None,
        field_errors: tuple[FieldError, ...],
        body: Any,
    ) -> None:
        self.raw_code = raw_code
        self.code = ErrorCode.parse(raw_code)
        self.description = description
        self.field_errors = field_errors
        self.body = body


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def parse_error_body(status: int, content: bytes) -> ErrorBody:
    """Extract code, description and field errors from an error response body.

    Handles the three documented shapes (``{code, error, error_description}``, the
    ``wrong_inputs`` shape with ``field_errors``, and the 403 ``{message}``) plus anything
    else: non-JSON (an HTML proxy page), empty bodies, JSON that is not an object. Never raises.
    """
    try:
        body: Any = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, Mapping):
        description = None
        if content and body is None:
            snippet = content[:200].decode("utf-8", "replace").strip()
            description = " ".join(snippet.split()) or None
        return ErrorBody(None, description, (), body)

    raw_code = body.get("error")
    if not isinstance(raw_code, str):
        raw_code = _text(raw_code)
    description = _text(body.get("error_description") or body.get("message"))
    if raw_code is None and description and "insufficient scope" in description.lower():
        raw_code = "insufficient_scope"
    field_errors: list[FieldError] = []
    raw_fields = body.get("field_errors") or body.get("errors")
    if isinstance(raw_fields, list):
        for item in raw_fields:
            if isinstance(item, Mapping):
                field_errors.append(
                    FieldError(
                        _text(item.get("param") or item.get("field")),
                        _text(item.get("msg") or item.get("message")),
                        item.get("value"),
                        _text(item.get("type")),
                    )
                )
    return ErrorBody(raw_code, description, tuple(field_errors), body)


def error_from_response(
    response: httpx.Response,
    *,
    reference_id: str | None,
    secrets: Iterable[str] = (),
    retry_after: float | None = None,
) -> APIStatusError:
    """Build the `APIStatusError` subclass for an error response (body already read)."""
    secrets = tuple(secrets)
    parsed = parse_error_body(response.status_code, response.content)
    cls = error_class(response.status_code, parsed.code)
    label = parsed.raw_code or response.reason_phrase or "error"
    message = f"HTTP {response.status_code} {label}"
    if parsed.description and parsed.description != parsed.raw_code:
        message += f": {parsed.description}"
    if parsed.field_errors:
        message += " (" + ", ".join(f"{f.param}: {f.msg}" for f in parsed.field_errors) + ")"
    scrub_request(response, secrets)
    exc = cls(
        redact_text(message, secrets),
        status_code=response.status_code,
        code=parsed.code,
        raw_code=parsed.raw_code,
        description=redact_text(parsed.description, secrets) if parsed.description else None,
        reference_id=reference_id,
        response=response,
        # Error bodies can echo what was sent (field_errors[].value): keep a redacted copy.
        body=redact_json(parsed.body, secrets),
        field_errors=parsed.field_errors,
    )
    if isinstance(exc, RateLimitError):
        exc.retry_after = retry_after
    return exc


def describe(exc: httpx.HTTPError, secrets: Iterable[str] = ()) -> str:
    """``Type: message`` for an httpx error, redacted.

    Some errors (TLS failures under trio) have an empty message: take the first non-empty
    one down the cause chain.
    """
    text = str(exc)
    cause: BaseException | None = exc.__cause__ or exc.__context__
    for _ in range(8):  # bounded walk down the chain
        if text or cause is None:
            break
        text = str(cause)
        cause = cause.__cause__ or cause.__context__
    return redact_text(f"{type(exc).__name__}: {text}", secrets)


def transport_error(
    exc: httpx.TransportError,
    *,
    delivery: Delivery,
    idempotent: bool,
    method: str,
    path: str,
    reference_id: str,
    secrets: Iterable[str] = (),
    closed: bool = False,
) -> FlexitiError:
    """The error for a request that got no answer; ``closed``: because aclose() ran."""
    secrets = tuple(secrets)
    # The httpx error stays reachable (as __context__) for debugging: scrub its request.
    scrub_request(exc, secrets)
    what = describe(exc, secrets)
    request = f"{method} {path}"
    if closed:
        request = f"the FlexitiClient was closed while {request} was in flight"
    if delivery is Delivery.MAYBE_SENT and not idempotent:
        message = (
            f"{request} ({what}): it may have reached Flexiti and was not resent."
            if closed
            else f"{request} may have reached Flexiti but no answer came back ({what}); "
            "it was not resent."
        )
        return OutcomeUnknownError(
            f"{message} Check its outcome before retrying.",
            reference_id=reference_id,
            method=method,
            path=path,
        )
    if closed:
        return ClientClosedError(
            f"{request} ({what}); it was not retried", reference_id=reference_id
        )
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(f"{request} failed: {what}", reference_id=reference_id)


def no_answer_error(
    exc: httpx.HTTPError,
    *,
    idempotent: bool,
    method: str,
    path: str,
    reference_id: str,
    secrets: Iterable[str] = (),
) -> FlexitiError:
    """Anything else httpx raises without a usable answer (e.g. TooManyRedirects from an
    injected client): the server did answer, so a state-changing POST's outcome is unknown."""
    secrets = tuple(secrets)
    scrub_request(exc, secrets)
    what = describe(exc, secrets)
    if idempotent:
        return APIConnectionError(f"{method} {path} failed: {what}", reference_id=reference_id)
    return OutcomeUnknownError(
        f"{method} {path} got no usable answer ({what}); it was not resent. "
        "Check its outcome before retrying.",
        reference_id=reference_id,
        method=method,
        path=path,
    )


def undecodable_error(
    exc: httpx.DecodingError | None,
    *,
    status: int,
    method: str,
    path: str,
    reference_id: str,
    secrets: Iterable[str] = (),
) -> ResponseValidationError:
    """An answer whose body could not be decoded: a broken Content-Encoding (``exc``) or a
    2xx body that is not JSON."""
    if exc is None:
        return ResponseValidationError(
            f"{method} {path}: HTTP {status} with a body that is not JSON",
            reference_id=reference_id,
            status_code=status,
        )
    secrets = tuple(secrets)
    scrub_request(exc, secrets)
    return ResponseValidationError(
        f"{method} {path}: the response body could not be decoded ({describe(exc, secrets)})",
        reference_id=reference_id,
        status_code=0,
    )


def shape_error(
    exc: Exception, *, what: str, cls: type[Any], reference_id: str | None, body: Any
) -> ResponseValidationError:
    """A 2xx body that did not fit the model ``cls`` (``what``: e.g. ``"GET path: the
    response"``). cattrs raises several exception types; all mean "does not fit"."""
    return ResponseValidationError(
        f"{what} did not fit {cls.__name__} ({type(exc).__name__})",
        reference_id=reference_id,
        status_code=200,
        body=body,
    )
