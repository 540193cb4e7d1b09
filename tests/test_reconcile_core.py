"""The engine-agnostic core: plan -> run_shard -> merge, over the loopback sandbox and pure."""

from __future__ import annotations

import pickle
import random
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from flexiti_async.errors import InvalidRequestError
from flexiti_async.reconcile import (
    AuthState,
    CaptureState,
    LedgerRow,
    MergeError,
    Partial,
    RefState,
    Shard,
    merge,
    plan,
    reconcile,
    run_shard,
)

START, END = date(2024, 3, 1), date(2024, 3, 10)


def test_plan_is_deterministic_small_and_picklable() -> None:
    shards = plan(START, END, as_of=END + timedelta(days=3), window_days=2)
    assert shards == plan(START, END, as_of=END + timedelta(days=3), window_days=2)
    assert pickle.loads(pickle.dumps(shards)) == shards
    assert [s.index for s in shards] == list(range(len(shards)))
    both = [s for s in shards if s.listings == ("authorizations", "captures")]
    tail = [s for s in shards if s.listings == ("captures",)]
    # Range plus one day of tolerance each side, in 2-day windows; then captures to as_of.
    assert (both[0].first, both[-1].last) == (START - timedelta(days=1), END + timedelta(days=1))
    assert (tail[0].first, tail[-1].last) == (END + timedelta(days=2), END + timedelta(days=3))
    days = [s.first + timedelta(days=i) for s in both for i in range((s.last - s.first).days + 1)]
    assert len(days) == len(set(days)) == 12  # no gap, no overlap
    assert len(pickle.dumps(shards[0])) < 400
    # A long way to as_of costs a listing per week, not per day.
    late = plan(START, END, as_of=END + timedelta(days=30), tolerance_days=0)
    tail_late = [s for s in late if s.listings == ("captures",)]
    assert len(tail_late) == 5
    assert (tail_late[0].first, tail_late[-1].last) == (END + timedelta(1), END + timedelta(30))


def test_plan_in_a_time_zone_lists_the_utc_days_local_days_touch() -> None:
    shards = plan(START, START, tz="America/Toronto", tolerance_days=0)
    # Toronto is UTC-5 in early March: its March 1 runs to 05:00 UTC on March 2.
    assert [(s.first, s.last) for s in shards] == [(START, START), (START + timedelta(1),) * 2]
    tokyo = plan(START, START, tz="Asia/Tokyo", tolerance_days=0)
    assert [(s.first, s.last) for s in tokyo] == [(START - timedelta(1),) * 2, (START, START)]


def test_plan_by_store_groups_and_bad_arguments() -> None:
    shards = plan(START, START, tolerance_days=0, stores=["S3", "S1", "S2"], stores_per_shard=2)
    assert [s.stores for s in shards] == [("S1", "S2"), ("S3",)]
    with pytest.raises(InvalidRequestError, match="time zone"):
        plan(START, END, tz="Mars/Olympus")
    with pytest.raises(InvalidRequestError, match="after"):
        plan(END, START)
    with pytest.raises(InvalidRequestError, match="window_days"):
        plan(START, END, window_days=0)


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), timezone.utc)


def auth(auth_id: int, ref: str, amount: str, day: date, hour: int = 12) -> AuthState:
    money = Decimal(amount)
    return AuthState(auth_id, ref, "S1", money, money, Decimal(0), Decimal(0), False, at(day, hour))


def capture(cid: int, auth_id: int, ref: str, amount: str, day: date) -> CaptureState:
    return CaptureState(cid, auth_id, ref, "S1", Decimal(amount), Decimal(0), at(day))


def partial(shard: Shard, *auths: AuthState, captures: tuple[CaptureState, ...] = ()) -> Partial:
    refs: dict[str | None, RefState] = {}
    for a in auths:
        old = refs.get(a.reference, RefState())
        refs[a.reference] = RefState((*old.authorizations, a), old.captures)
    for c in captures:
        old = refs.get(c.reference, RefState())
        refs[c.reference] = RefState(old.authorizations, (*old.captures, c))
    return Partial(shard=shard, references=refs)


def sale(ref: str, amount: str, day: date, line: int) -> LedgerRow:
    return LedgerRow(reference=ref, store="S1", amount=Decimal(amount), date=day, line=line)


def test_a_reference_split_over_shards_merges_as_one_and_order_does_not_matter() -> None:
    shards = plan(START, END, as_of=END + timedelta(days=5), window_days=3)
    last_day = END + timedelta(days=5)
    tail = next(s for s in shards if s.first <= last_day <= s.last)
    first_shard = next(s for s in shards if s.first <= START <= s.last)
    # Authorized in range, captured twice: once in range, once after the range end.
    parts = {shard.index: Partial(shard=shard) for shard in shards}
    parts[first_shard.index] = partial(
        first_shard,
        auth(1, "A", "30.00", START),
        captures=(capture(10, 1, "A", "10.00", START),),
    )
    parts[tail.index] = partial(tail, captures=(capture(11, 1, "A", "20.00", last_day),))
    ledger = [sale("A", "30.00", START, 2)]
    items = list(parts.values())
    first = merge(items, ledger, start=START, end=END, as_of=last_day, plan=shards)
    random.Random(3).shuffle(items)
    again = merge(items, ledger, start=START, end=END, as_of=last_day, plan=shards)
    assert first.clean
    assert again.clean
    assert first.to_dict() == again.to_dict()
    assert first.matched_lines == (2,)
    assert first.matched_authorizations == (1,)
    # Without the capture after the range end, the sale looks under-captured.
    early = merge(items, ledger, start=START, end=END, as_of=END, plan=None)
    assert [d.kind.value for d in early.discrepancies] == ["amount_mismatch"]


def test_merging_the_same_partial_twice_is_refused() -> None:
    (shard, *_) = plan(START, START, tolerance_days=0)
    one = partial(shard, auth(1, "A", "5.00", START))
    with pytest.raises(MergeError, match="merged twice"):
        merge([one, one], [], start=START, end=START, as_of=START)
    copy = pickle.loads(pickle.dumps(one))
    with pytest.raises(MergeError, match="merged twice"):
        merge([one, copy], [], start=START, end=START, as_of=START)


def test_overlapping_shards_are_refused() -> None:
    whole = Shard(0, START, START + timedelta(days=1))
    store = Shard(1, START + timedelta(days=1), START + timedelta(days=1), ("S1",))
    with pytest.raises(MergeError, match="overlap"):
        merge([Partial(shard=whole), Partial(shard=store)], [], start=START, end=START)


def test_a_partial_merge_leaves_unlisted_days_unchecked() -> None:
    shards = plan(START, END, as_of=END, tolerance_days=0)
    done = [partial(shards[0], auth(1, "A", "5.00", START))]
    ledger = [sale("A", "5.00", START, 2), sale("B", "7.00", END, 3)]
    report = merge(done, ledger, start=START, end=END, as_of=END, plan=shards, tolerance_days=0)
    assert report.partial
    assert not report.clean
    assert report.matched_lines == (2,)
    assert report.unchecked_lines == (3,)  # not "missing in Flexiti": its day was not listed
    assert report.to_dict()["windows_done"] == [
        {"listing": "authorizations", "first": "2024-03-01", "last": "2024-03-01"},
        {"listing": "captures", "first": "2024-03-01", "last": "2024-03-01"},
    ]


@pytest.mark.anyio
async def test_run_shard_over_loopback_gives_compact_picklable_state() -> None:
    from flexiti_async import FlexitiClient
    from flexiti_async.testing import FlexitiSandbox

    sandbox = FlexitiSandbox(seed=5)
    records = sandbox.seed_history(days=3, stores=2, per_day=4, start=START, seed=5)
    async with sandbox.serve() as base_url:
        async with FlexitiClient(
            sandbox.client_id, sandbox.client_secret, base_url=base_url
        ) as client:
            shards = plan(START, START + timedelta(days=2), as_of=START + timedelta(days=2))
            partials = [await run_shard(client, s, page_size=3) for s in shards]
    assert sum(p.authorizations for p in partials) == len(records)
    blob = pickle.dumps(partials)
    assert pickle.loads(blob)[1].references == partials[1].references
    # A few hundred bytes per reference, not the raw JSON of each item.
    refs = sum(len(p.references) for p in partials)
    assert len(blob) / refs < 600


@pytest.mark.anyio
async def test_reconcile_uses_the_core_and_reports_the_same_as_a_manual_merge() -> None:
    from flexiti_async.cli._sandbox_world import build_world

    world = build_world(seed=11, stores=3, days=6, per_day=3)
    got: list[Partial] = []
    async with world.sandbox.client() as client:
        report = await reconcile(
            client,
            world.ledger,
            start=world.start,
            end=world.end,
            as_of=world.as_of,
            stale_days=world.stale_days,
            on_partial=got.append,
        )
    shards = plan(world.start, world.end, as_of=world.as_of)
    assert sorted(p.shard.index for p in got) == [s.index for s in shards]
    manual = merge(
        reversed(got),
        world.ledger,
        start=world.start,
        end=world.end,
        as_of=world.as_of,
        stale_days=world.stale_days,
        plan=shards,
    )
    assert manual.keys() == report.keys() == world.planted
    assert manual.matched == report.matched


def test_paused_gc_restores_the_collector_as_it_was() -> None:
    import gc

    from flexiti_async.reconcile._gc import paused_gc

    assert gc.isenabled()
    seen = []

    def fail() -> None:
        with paused_gc():
            seen.append(gc.isenabled())
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off: left off
    finally:
        gc.enable()


def test_store_groups_that_share_a_store_overlap_but_disjoint_groups_do_not() -> None:
    day = START
    a = Shard(0, day, day, ("S1", "S2"))
    b = Shard(1, day, day, ("S2", "S3"))
    with pytest.raises(MergeError, match="overlap"):
        merge([Partial(shard=a), Partial(shard=b)], [], start=day, end=day, as_of=day)
    c = Shard(2, day, day, ("S3", "S4"))
    later = Shard(3, day + timedelta(1), day + timedelta(1), ("S2", "S3"))
    report = merge([Partial(shard=s) for s in (a, c, later)], [], start=day, end=day, as_of=day)
    assert report.stats["shards"] == 3
    # Within one group: a window that reaches into the next one.
    wide = Shard(4, day, day + timedelta(2), ("S1", "S2"))
    with pytest.raises(MergeError, match="overlap"):
        merge([Partial(shard=wide), Partial(shard=later)], [], start=day, end=day, as_of=day)


def test_a_large_store_sharded_plan_merges() -> None:
    stores = [f"S{i:04d}" for i in range(2000)]
    shards = plan(START, END, stores=stores, stores_per_shard=100, tolerance_days=0, as_of=END)
    assert len(shards) == 10 * 20
    report = merge(
        [Partial(shard=s) for s in shards], [], start=START, end=END, as_of=END, plan=shards
    )
    assert not report.partial
    assert report.stats["shards"] == 200


def test_a_partial_run_missing_late_captures_leaves_those_sales_unchecked() -> None:
    shards = plan(START, END, as_of=END + timedelta(days=10), tolerance_days=0)
    main = [s for s in shards if "authorizations" in s.listings]
    first = next(s for s in main if s.first == START)
    # A captured 30.00 in two parts, the second after the range (its shard never finished);
    # B captured in full inside the range.
    a = auth(1, "A", "30.00", START)
    b = auth(2, "B", "5.00", START)
    done = [Partial(shard=s) for s in main if s is not first]
    done.append(
        partial(
            first,
            a,
            b,
            captures=(capture(10, 1, "A", "10.00", START), capture(11, 2, "B", "5.00", START)),
        )
    )
    ledger = [sale("A", "30.00", START, 2), sale("B", "5.00", START, 3)]
    report = merge(done, ledger, start=START, end=END, as_of=END + timedelta(days=10),
                   plan=shards, tolerance_days=0)  # fmt: skip
    assert report.partial
    assert report.discrepancies == ()  # not a false amount mismatch for A
    assert report.unchecked_lines == (2,)
    assert report.matched_lines == (3,)


def test_a_partial_store_sharded_run_checks_the_days_every_group_finished() -> None:
    shards = plan(START, START + timedelta(1), stores=["S1", "S2"], stores_per_shard=1,
                  tolerance_days=0, as_of=START + timedelta(1))  # fmt: skip
    done = [partial(shards[0], auth(1, "A", "5.00", START)), Partial(shard=shards[1])]
    ledger = [sale("A", "5.00", START, 2), sale("B", "7.00", START + timedelta(1), 3)]
    report = merge(done, ledger, start=START, end=START + timedelta(1), tolerance_days=0,
                   as_of=START + timedelta(1), plan=shards)  # fmt: skip
    assert report.partial
    assert report.matched_lines == (2,)
    assert report.unchecked_lines == (3,)
