"""Reference ids (``x-reference-id``): one per flow inside `reference_id`, fresh outside."""

from __future__ import annotations

import anyio
import httpx
import pytest

import flexiti_async
from flexiti_async import errors
from flexiti_async._reference import current_reference_id, new_reference_id, reference_id
from tests._mock_api import MockAPI

pytestmark = pytest.mark.anyio


def test_new_ids_are_32_hex_characters_and_distinct() -> None:
    ids = {new_reference_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_the_block_sets_and_restores_the_current_id() -> None:
    assert current_reference_id() is None
    with reference_id("flow-1") as outer:
        assert current_reference_id() == outer == "flow-1"
        with reference_id() as inner:
            assert current_reference_id() == inner != outer
        assert current_reference_id() == "flow-1"
    assert current_reference_id() is None


@pytest.mark.parametrize("value", ["", "x" * 33, "naïve", "a b", "a/b", 42])
def test_a_bad_id_is_refused_before_any_request(value: object) -> None:
    with pytest.raises(errors.InvalidRequestError):
        reference_id(value)  # type: ignore[arg-type]


async def test_ids_are_task_local() -> None:
    seen: dict[str, str | None] = {}

    async def flow(name: str) -> None:
        async with reference_id(name):
            await anyio.sleep(0)
            seen[name] = current_reference_id()

    async with anyio.create_task_group() as tg:
        tg.start_soon(flow, "a")
        tg.start_soon(flow, "b")
    assert seen == {"a": "a", "b": "b"}


async def test_reference_id_context_is_shared_inside_and_fresh_outside() -> None:
    api = MockAPI()
    async with api.client() as flexiti:
        async with flexiti_async.reference_id() as ref:
            await flexiti.customers.lookup(account_number=1)
            await flexiti.customers.lookup(account_number=2)
        await flexiti.customers.lookup(account_number=3)
        await flexiti.customers.lookup(account_number=4)
    ids = [r.headers["x-reference-id"] for r in api.api_requests]
    assert ids[0] == ids[1] == ref
    assert len({ids[1], ids[2], ids[3]}) == 3


async def test_every_retry_and_the_error_carry_the_same_id() -> None:
    api = MockAPI()
    api.default = lambda request: httpx.Response(503, json={"error": "x"})
    async with api.client() as flexiti:
        with reference_id("retried-flow"):
            with pytest.raises(errors.ServerError) as caught:
                await flexiti.request("GET", "anything")
    assert caught.value.reference_id == "retried-flow"
    assert len(api.api_requests) >= 2
    assert {r.headers["x-reference-id"] for r in api.api_requests} == {"retried-flow"}
