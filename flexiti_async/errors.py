"""Exceptions raised by flexiti_async, `ErrorCode`, and the code -> class table.

Building an exception from a response or a transport failure is `_error_mapping`'s job.

The tree::

    FlexitiError                      every exception the library raises
    ├── InvalidRequestError           bad arguments, raised before any I/O (also a ValueError)
    ├── ClientClosedError             the client was closed (also a RuntimeError)
    ├── APIConnectionError            the request provably got no answer and may be retried
    │   └── APITimeoutError           ... because a timeout expired
    ├── OutcomeUnknownError           a state-changing POST may have reached Flexiti, no answer
    ├── ResponseValidationError       a 2xx answer we could not decode or structure
    ├── PaginationError               the server's paging contract broke (e.g. a repeated page)
    └── APIStatusError                Flexiti answered with an error status
        ├── BadRequestError           400
        ├── AuthenticationError       401, or invalid_client on the token endpoint
        ├── PermissionDeniedError     403 (e.g. insufficient scope)
        │   └── BlockedError              465/466/467: blocked at Flexiti's edge, never retried
        ├── NotFoundError             404
        ├── ConflictError             409: Flexiti's "request rejected", by family of code:
        │   ├── VerificationError         wrong/missing PIN, not verified, wrong answer, tries
        │   ├── InsufficientCreditError   credit_exceeded, not_enough_credit
        │   ├── AccountStatusError        account not normal or not active
        │   ├── AmountExceededError       capture/return/payment/refund over the limit
        │   ├── TransactionStateError     authorization ended, return too late, wrong type
        │   ├── NotPermittedError         role, permission, merchant configuration, plan/term
        │   ├── ApplicationError          credit application outcomes
        │   └── InputValidationError      wrong_inputs, with `field_errors`
        ├── RateLimitError            429 (with `retry_after`)
        └── ServerError               5xx, including HTML error pages

`OutcomeUnknownError` is deliberately *not* an `APIConnectionError`: code that retries on
connection errors must not resend a capture that may already have been applied. Resolve it by
looking the operation up (list the account's recent authorizations and match on ``reference``,
or run the reconciliation job) before trying again.

Every exception carries the ``reference_id`` (the ``x-reference-id`` header) it was sent with,
so it can be quoted to Flexiti support. Exception text never contains secrets.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from ._redact import (
    REDACTED,
    SENSITIVE_KEYS,
    mask_last4,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AccountStatusError",
    "AmountExceededError",
    "ApplicationError",
    "AuthenticationError",
    "BadRequestError",
    "BlockedError",
    "ClientClosedError",
    "ConflictError",
    "ErrorCode",
    "FieldError",
    "FlexitiError",
    "InputValidationError",
    "InsufficientCreditError",
    "InvalidRequestError",
    "NotFoundError",
    "NotPermittedError",
    "OutcomeUnknownError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "ServerError",
    "TransactionStateError",
    "VerificationError",
]


class ErrorCode(str, enum.Enum):
    """Every error code in the Flexiti POS API v2.5 reference (the ``error`` field).

    Aliases are normalised: ``generic_error`` is `GENERAL_ERROR`, ``wrong_input`` is
    `WRONG_INPUTS`. `APIStatusError.raw_code` keeps the spelling the server sent.
    Unknown codes are not errors: `APIStatusError.code` is then the plain string.
    """

    # OAuth / global
    INVALID_CLIENT = "invalid_client"
    INVALID_REQUEST = "invalid_request"
    INVALID_GRANT = "invalid_grant"
    INVALID_TOKEN = "invalid_token"
    INVALID_ROLE = "invalid_role"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    WRONG_INPUTS = "wrong_inputs"
    GENERAL_ERROR = "general_error"
    NOT_FOUND = "not_found"
    # customers / accounts
    USER_NOT_ABLE_TO_PURCHASE = "user_not_able_to_purchase"
    USER_NOT_ACTIVE = "user_not_active"
    SMS_NOT_VALID_PHONE = "sms_not_valid_phone"
    MERCHANT_OVERRIDE_IS_NOT_ALLOWED = "merchant_override_is_not_allowed"
    REGULAR_PURCHASE_BYPASS_IS_NOT_ALLOWED = "regular_purchase_bypass_is_not_allowed"
    PIW_MISMATCH = "piw_mismatch"
    SECRET_ANSWER_MISMATCH = "secret_answer_mismatch"
    TRIES_EXCEED = "tries_exceed"
    # applications
    APPLICATION_CREATE_ERROR = "application_create_error"
    TOS_AGREEMENT_REQUIRED = "tos_agreement_required"
    CUSTOMER_ALREADY_EXISTS = "customer_already_exists"
    APPLICATION_DECLINED = "application_declined"
    APPLICATION_DECLINED_2 = "application_declined_2"
    APPLICATION_DECLINED_3 = "application_declined_3"
    APPLICATION_MARKED_PENDING_1 = "application_marked_pending_1"
    APPLICATION_MARKED_PENDING_2 = "application_marked_pending_2"
    CREDITAPP_ID_NOT_FOUND = "creditapp_id_not_found"
    # in-store / online correlation
    NOT_VERIFIED = "not_verified"
    EXTERNAL_LOCATION_ID_NOT_FOUND = "external_location_id_not_found"
    ACCOUNT_TYPE_NOT_PERMITTED = "account_type_not_permitted"
    VCC_ACCOUNT_MISMATCH = "vcc_account_mismatch"
    CUSTOMER_IDENTITY_NOT_FOUND = "customer_identity_not_found"
    # transactions
    INVALID_TRANSACTION_TYPE = "invalid_transaction_type"
    WRONG_VERIFICATION_CODE = "wrong_verification_code"
    VERIFICATION_CODE_REQUIRED = "verification_code_required"
    LIMIT_PAYMENT_AMOUNT_24 = "limit_payment_amount_24"
    NOT_ENOUGH_CREDIT = "not_enough_credit"
    # authorizations, captures, releases, returns, refunds
    CREDIT_EXCEEDED = "credit_exceeded"
    NOT_PERMITTED = "not_permitted"
    AUTH_NOT_ALLOWED = "auth_not_allowed"
    PLAN_TERM_NOT_SET = "plan_term_not_set"
    PLAN_TERM_NOT_AVAILABLE = "plan_term_not_available"
    AUTHORIZATION_ENDED = "authorization_ended"
    AUTH_AMOUNT_EXCEEDED = "auth_amount_exceeded"
    CAPTURE_AMOUNT_EXCEEDED = "capture_amount_exceeded"
    RETURN_DATE_EXCEEDED = "return_date_exceeded"
    WRONG_TRANSACTION_TYPE = "wrong_transaction_type"
    REFUNDS_LIMIT_EXCEEDED_AMOUNT = "refunds_limit_exceeded_amount"
    # merchants (deprecated login)
    AUTHENTICATION_FAILURE = "authentication_failure"

    @classmethod
    def parse(cls, raw: str | None) -> ErrorCode | str | None:
        """Normalise a raw ``error`` value: known codes (and aliases) to members, others kept."""
        if raw is None:
            return None
        key = raw.strip().lower()
        key = _ALIASES.get(key, key)
        try:
            return cls(key)
        except ValueError:
            return raw


_ALIASES = {
    "generic_error": "general_error",
    "wrong_input": "wrong_inputs",
    "insufficient scope": "insufficient_scope",
}


# --------------------------------------------------------------------------- exceptions


class FlexitiError(Exception):
    """Base of every exception raised by flexiti_async.

    ``reference_id`` is the ``x-reference-id`` the failing request carried (None when no
    request was sent). ``page_number`` is set when the failure happened while paging.
    """

    reference_id: str | None
    page_number: int | None

    def __init__(self, message: str, *, reference_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reference_id = reference_id
        self.page_number = None

    def __str__(self) -> str:
        if self.reference_id and self.reference_id not in self.message:
            return f"{self.message} [reference id {self.reference_id}]"
        return self.message


class InvalidRequestError(FlexitiError, ValueError):
    """An argument is invalid; raised before any request is sent.

    ``field`` names the offending argument.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ClientClosedError(FlexitiError, RuntimeError):
    """The client (or the pool it shares) was closed; create a new one."""


class APIConnectionError(FlexitiError):
    """No answer, and the request provably was not processed, or it is safe to resend (GET,
    idempotency key). Raised after the retries are spent."""


class APITimeoutError(APIConnectionError):
    """A timeout expired (connect, read, write, or waiting for admission to the pool)."""


class OutcomeUnknownError(FlexitiError):
    """A state-changing POST may have reached Flexiti, but no answer came back.

    The request was **not** resent: resending could move money twice. Find out what happened
    before retrying, e.g. list the account's authorizations and match on ``reference``, or run
    ``flexiti reconcile``. ``method`` and ``path`` say which call it was.
    """

    def __init__(self, message: str, *, reference_id: str | None, method: str, path: str) -> None:
        super().__init__(message, reference_id=reference_id)
        self.method = method
        self.path = path


class ResponseValidationError(FlexitiError):
    """Flexiti answered 2xx but the body could not be decoded or did not fit the model.

    ``status_code`` is the HTTP status; ``body`` the decoded JSON when there was any.
    """

    def __init__(
        self,
        message: str,
        *,
        reference_id: str | None,
        status_code: int,
        body: Any = None,
    ) -> None:
        super().__init__(message, reference_id=reference_id)
        self.status_code = status_code
        self.body = body


class PaginationError(FlexitiError):
    """The history listing broke its paging contract (e.g. the same page came back twice)."""


class FieldError:
    """One entry of a ``wrong_inputs`` body: ``param``, ``msg``, and the offending ``value``
    (masked when the parameter is a secret or a card number)."""

    __slots__ = ("msg", "param", "type", "value")

    def __init__(
        self, param: str | None, msg: str | None, value: Any = None, type: str | None = None
    ) -> None:
        self.param = param
        self.msg = msg
        self.type = type
        lowered = (param or "").lower()
        if lowered in ("vcc_number", "vcc") and value is not None:
            value = mask_last4(value)
        elif lowered in SENSITIVE_KEYS and value is not None:
            value = REDACTED
        self.value = value

    def __repr__(self) -> str:
        return f"FieldError(param={self.param!r}, msg={self.msg!r}, value={self.value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldError):
            return NotImplemented
        return (self.param, self.msg, self.value) == (other.param, other.msg, other.value)

    def __hash__(self) -> int:
        return hash((self.param, self.msg))


class APIStatusError(FlexitiError):
    """Flexiti answered with an error status.

    Attributes: ``status_code``; ``code`` (an `ErrorCode`, or the raw string for codes this
    version does not know, or None); ``raw_code`` (as sent); ``description``;
    ``reference_id``; ``response`` (the `httpx.Response`, its request's authorization
    header redacted); ``body`` (decoded JSON or None).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: ErrorCode | str | None = None,
        raw_code: str | None = None,
        description: str | None = None,
        reference_id: str | None = None,
        response: httpx.Response | None = None,
        body: Any = None,
        field_errors: tuple[FieldError, ...] = (),
    ) -> None:
        super().__init__(message, reference_id=reference_id)
        self.status_code = status_code
        self.code = code
        self.raw_code = raw_code
        self.description = description
        self.response = response
        self.body = body
        self.field_errors = field_errors


class BadRequestError(APIStatusError):
    """400: a malformed request (also some business errors, e.g. ``sms_not_valid_phone``)."""


class AuthenticationError(APIStatusError):
    """401, or ``invalid_client``: wrong credentials, or a token that keeps being refused."""


class PermissionDeniedError(APIStatusError):
    """403: e.g. a customer-scope token on a merchant-only endpoint."""


class BlockedError(PermissionDeniedError):
    """465, 466 or 467: Flexiti's edge blocked the request; treated like a 403.

    465: the request looked malicious to the firewall; 466: an ACL rule refused it;
    467: geo-blocked. ``status_code`` keeps which. The body may not be JSON (it comes from
    the edge, not the API). Never retried: sending it again gets the same answer.
    """


class NotFoundError(APIStatusError):
    """404: customer, account, card, authorization or capture not found."""


class ConflictError(APIStatusError):
    """409: Flexiti rejected the request (validation or a business rule)."""


class VerificationError(ConflictError):
    """The customer is not verified: wrong or missing PIN, request id mismatch, wrong answer."""


class InsufficientCreditError(ConflictError):
    """Not enough open-to-buy for the amount (``credit_exceeded``, ``not_enough_credit``)."""


class AccountStatusError(ConflictError):
    """The account cannot buy: status not normal, or not activated."""


class AmountExceededError(ConflictError):
    """An amount is over what remains (capture, return) or over a limit (payments, refunds)."""


class TransactionStateError(ConflictError):
    """The authorization or capture is not in a state that allows this (ended, too old)."""


class NotPermittedError(ConflictError):
    """The merchant, employee or credentials are not configured or allowed for this."""


class ApplicationError(ConflictError):
    """A credit application was not created (declined, pending, duplicate, terms not accepted)."""


class InputValidationError(ConflictError):
    """``wrong_inputs``: Flexiti rejected some fields; see ``field_errors``."""


class RateLimitError(APIStatusError):
    """429. ``retry_after`` is the server's requested wait in seconds, when it gave one."""

    retry_after: float | None = None


class ServerError(APIStatusError):
    """5xx, including non-JSON error pages from a proxy.

    On a state-changing POST a 5xx is not retried: Flexiti may or may not have applied it.
    """


def __getattr__(name: str) -> object:
    # The mapping from statuses, codes and responses to exceptions lives in _error_mapping
    # (which imports this module); these names stay importable from here.
    if name in ("error_class", "error_from_response", "parse_error_body"):
        from . import _error_mapping

        return getattr(_error_mapping, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
