"""bounded_map (`_fanout`): limits, order, errors, cancellation, memory.

Every async test runs under asyncio and trio. No wall-clock assertions: concurrency is
measured with high-water counters, interleavings come from Events and checkpoints.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from flexiti_async.concurrency import Outcome, bounded_map
from flexiti_async.errors import NotFoundError, ServerError
from tests._paging import settle, wait_until

KEYS = ("authorizations", "data")


class Probe:
    """An async function that counts concurrent calls (high-water mark) and cancellations."""

    def __init__(self, *, rounds: int = 10, fail: set[int] | None = None) -> None:
        self.rounds = rounds
        self.fail = fail or set()
        self.active = 0
        self.max_active = 0
        self.started: list[int] = []
        self.finished: list[int] = []
        self.cancelled = 0

    async def __call__(self, x: int) -> int:
        self.started.append(x)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            # Checkpoints, not sleeps: enough for every worker to get a call in flight.
            for _ in range(self.rounds):
                await anyio.lowlevel.checkpoint()
            if x in self.fail:
                raise NotFoundError(f"no item {x}", status_code=404, reference_id=f"ref-{x}")
            self.finished.append(x)
            return x * 10
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.active -= 1


# --------------------------------------------------------------------------- bounded_map


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [1, 3, 8])
async def test_never_exceeds_limit_and_keeps_input_order(limit: int) -> None:
    probe = Probe(rounds=20)
    async with bounded_map(probe, range(60), limit=limit) as results:
        got = [r async for r in results]
    assert got == [x * 10 for x in range(60)]
    assert probe.max_active == limit
    assert probe.active == 0


@pytest.mark.anyio
async def test_unordered_yields_in_completion_order() -> None:
    gate = anyio.Event()

    async def fn(x: int) -> int:
        if x == 0:
            await gate.wait()  # the head of line finishes last
        else:
            await anyio.lowlevel.checkpoint()
        return x

    async with bounded_map(fn, range(4), limit=4, ordered=False) as results:
        got: list[int] = []
        async for r in results:
            got.append(r)
            if len(got) == 3:
                gate.set()
    assert got[-1] == 0
    assert sorted(got) == [0, 1, 2, 3]


@pytest.mark.anyio
async def test_ordered_waits_for_the_head_of_line() -> None:
    gate = anyio.Event()

    async def fn(x: int) -> int:
        if x == 0:
            await gate.wait()
        elif x == 3:
            gate.set()  # only once 1..3 ran does 0 finish
        await anyio.lowlevel.checkpoint()
        return x

    async with bounded_map(fn, range(10), limit=4) as results:
        assert [r async for r in results] == list(range(10))


@pytest.mark.anyio
@pytest.mark.parametrize("ordered", [True, False])
async def test_raise_policy_cancels_the_rest_and_raises_the_error_itself(ordered: bool) -> None:
    probe = Probe(rounds=5, fail={20})
    got: list[int] = []

    async def consume() -> None:
        async with bounded_map(probe, range(1000), limit=5, ordered=ordered) as results:
            async for r in results:
                got.append(r)

    with pytest.raises(NotFoundError) as info:
        await consume()
    assert type(info.value) is NotFoundError  # not an ExceptionGroup
    assert info.value.reference_id == "ref-20"
    assert probe.active == 0
    assert probe.cancelled >= 1
    assert len(probe.started) < 100  # the rest never started
    if ordered:
        assert got == [x * 10 for x in range(len(got))]


@pytest.mark.anyio
@pytest.mark.parametrize("ordered", [True, False])
async def test_collect_policy_reports_every_input(ordered: bool) -> None:
    probe = Probe(fail={3, 7})
    async with bounded_map(
        probe, range(10), limit=3, ordered=ordered, on_error="collect"
    ) as results:
        outcomes = [o async for o in results]
    assert all(isinstance(o, Outcome) for o in outcomes)
    if ordered:
        assert [o.input for o in outcomes] == list(range(10))
        assert [o.index for o in outcomes] == list(range(10))
    by_input = {o.input: o for o in outcomes}
    assert sorted(by_input) == list(range(10))
    assert [x for x, o in by_input.items() if not o.ok] == [3, 7]
    assert isinstance(by_input[3].error, NotFoundError)
    assert by_input[4].value == 40
    assert by_input[4].unwrap() == 40
    with pytest.raises(NotFoundError):
        by_input[7].unwrap()


@pytest.mark.anyio
async def test_cancelling_the_consumer_leaves_nothing_running() -> None:
    probe = Probe(rounds=1000)
    with anyio.CancelScope() as scope:
        async with bounded_map(probe, range(100), limit=6) as results:
            await wait_until(lambda: probe.active == 6)
            scope.cancel()
            async for _ in results:
                pass
    assert scope.cancelled_caught
    assert probe.active == 0
    assert probe.cancelled == 6


@pytest.mark.anyio
@pytest.mark.parametrize("ordered", [True, False])
async def test_break_leaves_nothing_running_and_reads_inputs_lazily(ordered: bool) -> None:
    pulled = 0

    def huge() -> Iterator[int]:
        nonlocal pulled
        for x in itertools.count():
            pulled += 1
            yield x

    probe = Probe()
    async with bounded_map(probe, huge(), limit=4, ordered=ordered) as results:
        async for r in results:
            if r >= 100:
                break
    assert probe.active == 0
    # At most limit + buffer (= 8) inputs taken beyond those consumed.
    assert pulled <= 11 + 8 + 1


@pytest.mark.anyio
@pytest.mark.parametrize("ordered", [True, False])
async def test_slow_consumer_bounds_the_results_waiting(ordered: bool) -> None:
    probe = Probe(rounds=1)
    consumed = 0
    high_water = 0
    async with bounded_map(probe, range(60), limit=4, buffer=2, ordered=ordered) as results:
        async for _ in results:
            consumed += 1
            await settle(30)  # slow consumer: workers run as far ahead as they may
            high_water = max(high_water, len(probe.started) - consumed)
    assert high_water <= 4 + 2
    assert high_water == 6


@pytest.mark.anyio
async def test_async_iterable_inputs() -> None:
    async def inputs() -> AsyncIterator[int]:
        for x in range(50):
            await anyio.lowlevel.checkpoint()
            yield x

    probe = Probe(rounds=20)
    async with bounded_map(probe, inputs(), limit=5) as results:
        assert [r async for r in results] == [x * 10 for x in range(50)]
    assert probe.max_active == 5


@pytest.mark.anyio
async def test_empty_inputs_and_a_broken_input_iterable() -> None:
    async with bounded_map(Probe(), [], limit=3) as results:
        assert [r async for r in results] == []

    def broken() -> Iterator[int]:
        yield 1
        raise ServerError("source broke", status_code=500)

    async def consume() -> None:
        async with bounded_map(Probe(), broken(), limit=3, on_error="collect") as results:
            async for _ in results:
                pass

    with pytest.raises(ServerError, match="source broke"):
        await consume()


@pytest.mark.anyio
async def test_errors_in_the_body_propagate_unwrapped() -> None:
    async def consume() -> None:
        async with bounded_map(Probe(), range(100), limit=3) as results:
            async for _ in results:
                raise KeyError("mine")

    with pytest.raises(KeyError):
        await consume()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "kwargs",
    [{"limit": 0}, {"limit": 2, "on_error": "ignore"}, {"limit": 2, "buffer": -1}],
)
async def test_bounded_map_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        bounded_map(Probe(), range(3), **kwargs)


@pytest.mark.anyio
async def test_server_side_concurrency_over_loopback() -> None:
    from flexiti_async.testing import FlexitiSandbox

    sandbox = FlexitiSandbox(seed=1)
    gate = sandbox.faults.hold("terms")  # requests wait in the sandbox: they surely overlap
    async with sandbox.serve() as base_url:
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        async with httpx.AsyncClient(base_url=base_url, limits=limits) as http:
            form = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
            granted = await http.post(
                "/v2.5/oauth/token", data=form, headers={"x-reference-id": "ref-0"}
            )
            headers = {
                "authorization": f"Bearer {granted.json()['access_token']}",
                "x-reference-id": "ref-1",
            }
            path = f"/v2.5/client-id/{sandbox.client_id}/terms-and-conditions"

            async def get(n: int) -> int:
                response = await http.get(path, headers=headers)
                assert response.status_code == 200
                return n

            async with bounded_map(get, range(1, 61), limit=5) as results:
                await gate.wait_for(5)
                assert gate.arrived == 5  # the limit keeps the sixth call back
                gate.release()
                got = [r async for r in results]
    assert got == list(range(1, 61))
    assert sandbox.stats.count("terms", 200) == 60
    assert sandbox.stats.max_in_flight == 5
