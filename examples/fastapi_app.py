"""A FastAPI shop backend that takes payments with Flexiti.

One `FlexitiClient` for the whole process: created in the lifespan (so its connection pool,
token and admission limit are shared by every request), handed to routes through dependency
injection, and closed on shutdown. Configured from the environment:

* ``FLEXITI_CLIENT_ID``, ``FLEXITI_CLIENT_SECRET`` (required)
* ``FLEXITI_BASE_URL`` or ``FLEXITI_ENVIRONMENT`` (training | production | mi)

Run it against the bundled sandbox::

    flexiti sandbox serve            # prints a client id, secret and base URL
    export FLEXITI_CLIENT_ID=... FLEXITI_CLIENT_SECRET=... FLEXITI_BASE_URL=...
    uvicorn examples.fastapi_app:app

Routes:

* ``POST /checkout`` ``{"account_number": 1, "amount": "49.99", "order_id": "A-1"}``:
  authorizes a regular purchase (online, after the Flexiti widget verified the shopper).
* ``POST /orders/{authorization_id}/capture`` ``{"amount": "49.99", "order_id": "A-1"}``:
  captures when the order ships.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from flexiti_async import FlexitiClient, errors
from flexiti_async.models import FinancingOption, TransactionType

__all__ = ["app", "create_app", "get_flexiti"]


class CheckoutIn(BaseModel):
    account_number: int = Field(gt=0)
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    order_id: str = Field(min_length=1, max_length=40)


class CheckoutOut(BaseModel):
    authorization_id: int
    amount: Decimal
    order_id: str


class CaptureIn(BaseModel):
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    order_id: str = Field(min_length=1, max_length=40)


class CaptureOut(BaseModel):
    authorization_id: int
    capture_id: int
    amount: Decimal


def get_flexiti(request: Request) -> FlexitiClient:
    """The process-wide client the lifespan created (dependency)."""
    client: FlexitiClient = request.app.state.flexiti
    return client


Flexiti = Annotated[FlexitiClient, Depends(get_flexiti)]


def _problem(status: int, exc: errors.FlexitiError, **extra: Any) -> JSONResponse:
    # Flexiti's exception text is redacted (no card numbers, PINs or tokens): safe to
    # return. The reference id is what Flexiti support asks for.
    body = {"error": type(exc).__name__, "detail": str(exc), "reference_id": exc.reference_id}
    return JSONResponse({**body, **extra}, status_code=status)


async def _flexiti_error(request: Request, exc: Exception) -> JSONResponse:
    """Map the client's exceptions to HTTP answers for the shop's frontend."""
    assert isinstance(exc, errors.FlexitiError)
    if isinstance(exc, errors.InvalidRequestError):
        return _problem(422, exc, field=exc.field)
    if isinstance(exc, errors.OutcomeUnknownError):
        # The payment may have happened: never retry blindly. The order is "pending
        # check": look it up by reference (authorizations.list) or run `flexiti reconcile`.
        return _problem(502, exc, outcome="unknown")
    if isinstance(exc, errors.ConflictError):
        code = exc.code.value if isinstance(exc.code, errors.ErrorCode) else exc.code
        return _problem(409, exc, code=code)
    if isinstance(exc, (errors.NotFoundError,)):
        return _problem(404, exc)
    if isinstance(exc, (errors.APIConnectionError, errors.RateLimitError, errors.ServerError)):
        return _problem(503, exc)
    return _problem(502, exc)  # our credentials or configuration: an operator problem


def create_app(environ: Mapping[str, str] | None = None, **client_options: Any) -> FastAPI:
    """Build the app; the client is configured from ``environ`` (default ``os.environ``)
    plus ``client_options`` (e.g. ``max_concurrency=64``) when the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with FlexitiClient.from_env(environ, **client_options) as flexiti:
            app.state.flexiti = flexiti
            yield
        # Leaving the block closed the pool; requests still in flight were drained first
        # by the server's graceful shutdown.

    app = FastAPI(title="Shop payments (Flexiti)", lifespan=lifespan)
    app.add_exception_handler(errors.FlexitiError, _flexiti_error)

    @app.post("/checkout", response_model=CheckoutOut)
    async def checkout(order: CheckoutIn, flexiti: Flexiti) -> CheckoutOut:
        auth = await flexiti.authorizations.create(
            account_number=order.account_number,
            amount=order.amount,
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
            reference=order.order_id,
        )
        return CheckoutOut(
            authorization_id=auth.authorization_id,
            amount=auth.amount if auth.amount is not None else order.amount,
            order_id=order.order_id,
        )

    @app.post("/orders/{authorization_id}/capture", response_model=CaptureOut)
    async def capture(authorization_id: int, body: CaptureIn, flexiti: Flexiti) -> CaptureOut:
        done = await flexiti.authorizations.capture(
            authorization_id, amount=body.amount, reference=body.order_id
        )
        return CaptureOut(
            authorization_id=authorization_id,
            capture_id=done.capture_id,
            amount=done.amount if done.amount is not None else body.amount,
        )

    @app.get("/healthz")
    async def healthz(flexiti: Flexiti) -> dict[str, object]:
        return {"flexiti": "closed" if flexiti.is_closed else "open"}

    return app


#: For ``uvicorn examples.fastapi_app:app`` (reads the environment at startup).
app = create_app()
