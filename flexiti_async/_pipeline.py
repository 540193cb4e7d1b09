"""The request pipeline: every API call and every token grant goes through one attempt loop.

One way through::

    Pipeline.request          a logical API call: headers, body, URL          (once)
      Pipeline._attempts      the attempt loop                                (once)
        Pipeline._attempt     admission -> token -> send -> decode a 2xx body (per attempt)
        RetryPolicy.decide    return, retry, replay the 401, or raise         (per attempt)
        _error_mapping        the exception for the outcome, scrubbed once    (at most once)
      converter.structure     decoded JSON -> model                           (once)

A token grant (`Pipeline.grant`, the `TokenManager`'s fetch callback) is one more logical
call through the same loop, without admission or a bearer token. The loop is bounded: at most
``max_retries`` retries plus one 401 replay.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from . import _converter
from ._config import clean_params
from ._error_mapping import (
    error_from_response,
    no_answer_error,
    shape_error,
    transport_error,
    undecodable_error,
)
from ._redact import SecretRegistry
from ._reference import current_reference_id, new_reference_id
from ._retry import (
    Action,
    Delivery,
    Outcome,
    RetryPolicy,
    classify_transport_error,
    parse_retry_after,
)
from .errors import ClientClosedError, FlexitiError, ResponseValidationError

if TYPE_CHECKING:
    from ._auth import AccessToken, TokenManager
    from ._telemetry import CallSpan, Recorder
    from ._transports import Sender

__all__ = ["Call", "Pipeline"]

logger = logging.getLogger("flexiti_async")

_FORM = "application/x-www-form-urlencoded"
_UNOBSERVED = contextlib.nullcontext()  # reusable: telemetry off costs one `with`


class Call:
    """One logical call, ready to send: what every attempt of it shares."""

    __slots__ = (
        "content",
        "headers",
        "idempotent",
        "manager",
        "method",
        "path",
        "policy",
        "reference",
        "span",
        "timeout",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: httpx.URL,
        path: str,
        *,
        headers: dict[str, str],
        content: bytes | None,
        idempotent: bool,
        manager: TokenManager | None,
        timeout: httpx.Timeout | None,
        policy: RetryPolicy,
    ) -> None:
        self.method = method
        self.url = url  # parsed once, not per attempt: httpx validates it char by char
        self.path = path  # for messages and logs: never the query (it can hold card numbers)
        self.headers = headers
        self.content = content
        self.idempotent = idempotent
        self.manager = manager  # None: a token grant (no admission, no bearer token)
        self.timeout = timeout
        self.policy = policy
        # One reference id for every attempt, so Flexiti support can trace the call.
        self.reference = current_reference_id() or new_reference_id()
        headers["x-reference-id"] = self.reference
        self.span: CallSpan | None = None  # its telemetry, when the client has it on


# What one attempt produced: the decoded body (on success), the outcome to decide on (None
# on success), what came back (a response or an httpx error) and the token it carried.
_Result = tuple[Any, "Outcome | None", "httpx.Response | httpx.HTTPError", "AccessToken | None"]


class Pipeline:
    """The request machinery one client family shares: sender, admission limiter, secrets."""

    def __init__(
        self,
        sender: Sender,
        *,
        max_concurrency: int,
        secrets: SecretRegistry,
        token_url: str,
        user_agent: str,
    ) -> None:
        self.sender = sender
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self.secrets = secrets
        self.token_url = httpx.URL(token_url)
        self.user_agent = user_agent
        self.closed = False
        #: OpenTelemetry spans and metrics (`_telemetry`); None when off, at no cost.
        self.recorder: Recorder | None = None

    # ------------------------------------------------------------------ logical calls

    async def request(
        self,
        method: str,
        url: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        manager: TokenManager,
        attempt_timeout: httpx.Timeout | None,
        policy: RetryPolicy,
        cast_to: type[Any] | None,
    ) -> Any:
        """One API call: send it through the attempt loop, then structure the body.

        Returns the decoded JSON (``cast_to`` None) or a ``cast_to`` instance.
        """
        request_headers = {"accept": "application/json", "user-agent": self.user_agent}
        content: bytes | None = None
        if json is not None:
            content = _converter.dumps(json)
            request_headers["content-type"] = "application/json"
        if headers:
            request_headers.update(headers)
        query = clean_params(params)
        target = httpx.URL(f"{url}?{httpx.QueryParams(query)}" if query else url)
        call = Call(
            method,
            target,
            path,
            headers=request_headers,
            content=content,
            idempotent=idempotent,
            manager=manager,
            timeout=attempt_timeout,
            policy=policy,
        )
        with self._observe(call):  # the call's span covers structuring errors too
            body = await self._attempts(call)
            if cast_to is None:
                return body
            try:
                return _converter.structure(body, cast_to)
            except Exception as exc:  # cattrs raises several types; all mean "does not fit"
                raise shape_error(
                    exc,
                    what=f"{method} {path}: the response",
                    cls=cast_to,
                    reference_id=call.reference,
                    body=body,
                ) from None

    async def grant(
        self, form: Mapping[str, str], *, attempt_timeout: httpx.Timeout | None, policy: RetryPolicy
    ) -> Mapping[str, Any]:
        """POST a token form (never in the query string): the `TokenManager`'s fetch.

        Retried like a GET (a grant changes nothing that a second grant would not).
        """
        call = Call(
            "POST",
            self.token_url,
            "oauth/token",
            headers={
                "content-type": _FORM,
                "accept": "application/json",
                "user-agent": self.user_agent,
            },
            content=urllib.parse.urlencode(form).encode(),
            idempotent=True,
            manager=None,
            timeout=attempt_timeout,
            policy=policy,
        )
        with self._observe(call, grant_type=form.get("grant_type")):
            body = await self._attempts(call)
            if not isinstance(body, Mapping):
                raise ResponseValidationError(
                    "the token endpoint did not answer with a JSON object",
                    reference_id=None,
                    status_code=200,
                )
            return body

    def _observe(
        self, call: Call, *, grant_type: str | None = None
    ) -> contextlib.AbstractContextManager[object]:
        """The call's telemetry span (current while the call runs), or a no-op."""
        if self.recorder is None:
            return _UNOBSERVED
        call.span = self.recorder.start(
            call.method, call.path, reference_id=call.reference, grant_type=grant_type
        )
        return call.span

    # ------------------------------------------------------------------ the attempt loop

    async def _attempts(self, call: Call) -> Any:
        """Attempt ``call`` until `RetryPolicy.decide` says return or raise."""
        policy = call.policy
        retries = 0
        replayed = False
        for attempt in range(1, policy.max_retries + 3):  # retries + the one 401 replay
            started = time.perf_counter()
            body, outcome, got, token = await self._attempt(call)
            if call.span is not None:
                call.span.attempt(attempt, got)
            if logger.isEnabledFor(logging.DEBUG):
                _log(call, got, started, attempt)
            if outcome is None:
                return body  # a 2xx with a usable body: nothing to decide
            decision = policy.decide(
                outcome, idempotent=call.idempotent, retries=retries, replayed=replayed
            )
            if decision.action is Action.REPLAY:
                assert call.manager is not None  # outcome.authorized: a bearer was sent
                assert token is not None
                replayed = True
                await call.manager.invalidate(token)  # compare-and-invalidate
            elif decision.action is Action.RETRY:
                retries += 1
                if call.span is not None:
                    call.span.retried()
                await anyio.sleep(decision.delay)
            elif decision.action is Action.RETURN:
                return body
            else:
                error = self._error(call, outcome, got)
                if isinstance(got, httpx.HTTPError):
                    # Kept for debugging (its request already scrubbed), as if raised in an
                    # ``except`` block; ``from None`` keeps it out of the traceback text.
                    error.__context__ = got
                raise error from None
        raise AssertionError("unreachable: the attempt loop always returns or raises")

    async def _attempt(self, call: Call) -> _Result:
        """One attempt: admission, token, send, and decoding a 2xx body."""
        request = self.sender.build_request(
            call.method, call.url, call.headers, call.content, call.timeout
        )
        try:
            response, token = await self._send(call, request)
        except httpx.TransportError as exc:
            delivery = classify_transport_error(exc)
            return None, Outcome(delivery=delivery, closed=self.closed), exc, None
        except httpx.DecodingError as exc:
            # The answer came but its body could not be decoded (a broken Content-Encoding
            # from a proxy): like a 2xx whose body is not JSON.
            return None, Outcome(broken_body=True), exc, None
        except httpx.HTTPError as exc:
            # Anything else httpx raises without a usable answer (TooManyRedirects from an
            # injected client that follows redirects): resending cannot help.
            return None, Outcome(delivery=Delivery.FATAL), exc, None
        status = response.status_code
        if status < 300:
            try:
                body = _converter.loads(response.content) if response.content else None
            except ValueError:
                return None, Outcome(status=status, broken_body=True), response, token
            return body, None, response, token
        outcome = Outcome(
            status=status,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            authorized=token is not None,
        )
        return None, outcome, response, token

    async def _send(
        self, call: Call, request: httpx.Request
    ) -> tuple[httpx.Response, AccessToken | None]:
        """Admit the request, put the bearer token on it and send it."""
        self._check_not_closed(request, waited=False)
        manager = call.manager
        if manager is None:
            # Token grants bypass the limiter (their own connections, TOKEN_LANES), so a
            # refresh is never stuck behind the callers waiting for it: no deadlock.
            return await self.sender.send(request), None
        borrower = object()  # unique, so one task may hold several slots (e.g. prefetch)
        started = time.perf_counter()
        if await self._admit(borrower, call.timeout) and self.recorder is not None:
            self.recorder.admission_wait(time.perf_counter() - started)
        try:
            # Closed while this request waited for admission: without this check httpx
            # raises a bare RuntimeError ("the client has been closed") from send().
            self._check_not_closed(request, waited=True)
            # The token is taken after admission, not before: a request that waited in line
            # while the token was revoked or replaced would otherwise go out with the stale
            # one and spend its single 401 replay on it.
            token = await manager.token()
            request.headers["authorization"] = "Bearer " + token.value
            return await self.sender.send(request), token
        finally:
            self.limiter.release_on_behalf_of(borrower)

    async def _admit(self, borrower: object, attempt_timeout: httpx.Timeout | None) -> bool:
        """Take an admission slot; returns whether the request had to wait for one."""
        limiter = self.limiter
        try:
            # A free slot and nobody queued (FIFO is kept: this refuses if anyone waits):
            # the awaiting acquire would cost a task switch on every request.
            limiter.acquire_on_behalf_of_nowait(borrower)
            return False
        except anyio.WouldBlock:
            pass
        pool_timeout = attempt_timeout.pool if attempt_timeout is not None else None
        if pool_timeout is None:
            await limiter.acquire_on_behalf_of(borrower)
            return True
        with anyio.move_on_after(pool_timeout) as scope:
            await limiter.acquire_on_behalf_of(borrower)
        if scope.cancelled_caught:
            raise httpx.PoolTimeout(f"waited {pool_timeout} s for admission to the pool")
        return True

    def _check_not_closed(self, request: httpx.Request, *, waited: bool) -> None:
        if not self.closed:
            return
        what = f"{request.method} {request.url.path}"
        if waited:
            raise ClientClosedError(
                f"the FlexitiClient was closed while {what} waited for a connection; "
                "it was not sent"
            )
        raise ClientClosedError(f"this FlexitiClient is closed; {what} was not sent")

    def _error(
        self, call: Call, outcome: Outcome, got: httpx.Response | httpx.HTTPError
    ) -> FlexitiError:
        """The exception for a final outcome, built (and scrubbed) once."""
        secrets = self.secrets.values
        method, path, reference = call.method, call.path, call.reference
        if isinstance(got, httpx.TransportError):
            assert outcome.delivery is not None
            return transport_error(
                got,
                delivery=outcome.delivery,
                idempotent=call.idempotent,
                method=method,
                path=path,
                reference_id=reference,
                secrets=secrets,
                closed=outcome.closed,
            )
        if isinstance(got, httpx.HTTPError) and not isinstance(got, httpx.DecodingError):
            return no_answer_error(
                got,
                idempotent=call.idempotent,
                method=method,
                path=path,
                reference_id=reference,
                secrets=secrets,
            )
        if isinstance(got, httpx.DecodingError) or outcome.broken_body:
            return undecodable_error(
                got if isinstance(got, httpx.DecodingError) else None,
                status=got.status_code if isinstance(got, httpx.Response) else 0,
                method=method,
                path=path,
                reference_id=reference,
                secrets=secrets,
            )
        return error_from_response(
            got, reference_id=call.reference, secrets=secrets, retry_after=outcome.retry_after
        )


def _log(call: Call, got: httpx.Response | httpx.HTTPError, started: float, attempt: int) -> None:
    elapsed = (time.perf_counter() - started) * 1000
    outcome = str(got.status_code) if isinstance(got, httpx.Response) else type(got).__name__
    # Only the path: query strings can hold card numbers (customers/lookup?vcc_number=).
    logger.debug(
        "%s %s -> %s in %.1f ms (attempt %d, reference id %s)",
        call.method,
        call.path,
        outcome,
        elapsed,
        attempt,
        call.reference,
    )
