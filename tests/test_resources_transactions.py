"""transactions.create: idempotency headers, context hash, retries, validation, errors."""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from flexiti_async import _converter, errors
from flexiti_async.models import TransactionType
from flexiti_async.resources.transactions import context_hash
from tests._mock_api import CARD
from tests._resources import (
    GLOBAL_ERRORS,
    IN_STORE,
    api_with,
    assert_wire,
    check_error,
    fixture_bytes,
    only_request,
    refused,
)

pytestmark = pytest.mark.anyio

BODY = (
    b'{"account_number":100000001,"amount":10.00,"external_employee_id":"E-1",'
    b'"external_location_id":"00-00000","request_id":"req-1","transaction_type":"deposit",'
    b'"verification_code":1234}'
)


async def test_create_wire_headers_and_parsing() -> None:
    api = api_with(fixture_bytes("transaction.json"))
    async with api.client(lang="fr") as flexiti:
        txn = await flexiti.transactions.create(
            transaction_type=TransactionType.DEPOSIT,
            amount=Decimal("10"),
            account_number=100000001,
            idempotency_key="deposit-ORDER-1",
            **IN_STORE,
        )
    request = only_request(api)
    assert_wire(request, "POST", "transactions", params={"lang": "fr"}, body=BODY)
    assert request.headers["x-idempotency-key"] == "deposit-ORDER-1"
    assert request.headers["x-context-hash"] == hashlib.sha256(BODY).hexdigest()
    assert txn.transaction_id == "100000"
    assert txn.amount == Decimal("10.00")
    assert txn.transaction_type is TransactionType.DEPOSIT
    assert txn.verified is True


async def test_context_hash_is_sha256_of_the_canonical_body() -> None:
    body = {"b": Decimal("1"), "a": "x"}
    assert context_hash(body) == hashlib.sha256(_converter.dumps(body)).hexdigest()
    assert context_hash(body) == hashlib.sha256(b'{"a":"x","b":1.00}').hexdigest()


async def test_legacy_response_parses() -> None:
    api = api_with(fixture_bytes("transaction_legacy.json"))
    async with api.client() as flexiti:
        txn = await flexiti.transactions.create(
            transaction_type="tradein", amount=Decimal("120"), vcc_number=CARD, **IN_STORE
        )
    assert txn.total_amount == Decimal("120.00000")
    body = json.loads(only_request(api).content)
    assert body["vcc_number"] == CARD
    assert "account_number" not in body


async def test_generated_key_is_stable_across_retries() -> None:
    api = api_with(fixture_bytes("transaction.json"))
    api.script = [httpx.ReadTimeout("lost"), httpx.Response(503)]
    async with api.client() as flexiti:
        await flexiti.transactions.create(
            transaction_type="instore_payment",
            amount=Decimal("10"),
            customer_id="100000-2",
            **IN_STORE,
        )
    assert len(api.api_requests) == 3  # idempotent: retried like a GET
    keys = {r.headers["x-idempotency-key"] for r in api.api_requests}
    hashes = {r.headers["x-context-hash"] for r in api.api_requests}
    bodies = {r.content for r in api.api_requests}
    (key,) = keys
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert len(hashes) == 1
    assert len(bodies) == 1
    assert hashes == {hashlib.sha256(bodies.pop()).hexdigest()}


async def test_each_call_gets_its_own_generated_key() -> None:
    api = api_with(fixture_bytes("transaction.json"))
    async with api.client() as flexiti:
        for _ in range(2):
            await flexiti.transactions.create(
                transaction_type="deposit", amount=Decimal("1"), account_number=1, **IN_STORE
            )
    first, second = api.api_requests
    assert first.headers["x-idempotency-key"] != second.headers["x-idempotency-key"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"transaction_type": "promotional_purchase"}, "transaction_type"),
        ({"transaction_type": TransactionType.REGULAR_PURCHASE}, "transaction_type"),
        ({"transaction_type": "refund"}, "transaction_type"),
        ({"amount": Decimal("0")}, "amount"),
        ({"amount": 10.0}, "amount"),
        ({"account_number": None}, "account_number"),  # no identifier
        ({"vcc_number": CARD}, "account_number"),  # two identifiers
        ({"request_id": None}, "request_id"),  # the in-store quartet is required
        ({"external_location_id": None}, "external_location_id"),
        ({"external_employee_id": None}, "external_employee_id"),
        ({"verification_code": "12 34"}, "verification_code"),
        ({"verification_code": True}, "verification_code"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"idempotency_key": "clé"}, "idempotency_key"),
        ({"lang": "de"}, "lang"),
    ],
)
async def test_create_validation_sends_nothing(change: dict[str, Any], field: str) -> None:
    kwargs: dict[str, Any] = {
        "transaction_type": "deposit",
        "amount": Decimal("10"),
        "account_number": 1,
        **IN_STORE,
        **change,
    }
    exc = await refused(lambda f: f.transactions.create(**kwargs))
    assert exc.field == field
    assert "1234" not in str(exc)
    assert CARD not in str(exc)


TRANSACTION_ERRORS = [
    (404, "not_found", errors.NotFoundError),
    (409, "invalid_transaction_type", errors.InputValidationError),
    (409, "wrong_verification_code", errors.VerificationError),
    (409, "verification_code_required", errors.VerificationError),
    (409, "user_not_active", errors.AccountStatusError),
    (409, "user_not_able_to_purchase", errors.AccountStatusError),
    (409, "limit_payment_amount_24", errors.AmountExceededError),
    (409, "not_enough_credit", errors.InsufficientCreditError),
    (409, "not_verified", errors.VerificationError),
    (409, "external_location_id_not_found", errors.NotPermittedError),
    (409, "account_type_not_permitted", errors.NotPermittedError),
    (409, "vcc_account_mismatch", errors.InputValidationError),
    *GLOBAL_ERRORS,
]


@pytest.mark.parametrize(("status", "code", "cls"), TRANSACTION_ERRORS)
async def test_create_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(
        lambda f: f.transactions.create(
            transaction_type="deposit", amount=Decimal("1"), account_number=1, **IN_STORE
        ),
        status,
        code,
        cls,
    )


async def test_reused_key_with_another_body_is_a_conflict() -> None:
    # Undocumented by Flexiti; the sandbox's code maps like any unknown 409.
    api = api_with({"code": 409, "error": "idempotency_key_reused"}, 409)
    async with api.client() as flexiti:
        with pytest.raises(errors.ConflictError) as caught:
            await flexiti.transactions.create(
                transaction_type="deposit", amount=Decimal("1"), account_number=1, **IN_STORE
            )
    assert type(caught.value) is errors.ConflictError
    assert caught.value.code == "idempotency_key_reused"
