"""Reconcile on Dask: a real LocalCluster of worker processes, the sandbox on 127.0.0.1.

The driver (the test) runs asyncio, as Dask's client does (a trio test checks the clear
error); the workers run their own asyncio loops. Every assertion is on counts and
contents (reports, token grants, requests, processes), never on wall time.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import attrs
import httpx
import psutil
import pytest

from flexiti_async import FlexitiClient
from flexiti_async.cli._sandbox_world import PlantedWorld, build_world
from flexiti_async.errors import InvalidRequestError
from flexiti_async.reconcile import Partial, Report, merge, plan, reconcile
from flexiti_async.testing import Fault, FlexitiSandbox
from tests._services import redis_server  # noqa: F401 - a fixture

pytestmark = [pytest.mark.anyio, pytest.mark.needs_service("dask")]

#: The generated world: 20 stores x 40 days x 25 a day, plus the planted discrepancies.
WORLD_20K = {"seed": 7, "stores": 20, "days": 40, "per_day": 25}
#: Report fields that depend on time rather than on the data (none today; kept explicit).
TIMING_FIELDS = ("seconds", "elapsed_seconds", "started_at", "finished_at")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Dask's client (tornado) runs on asyncio only


@pytest.fixture
def dask() -> SimpleNamespace:
    """The Dask adapter (skipped, or failed under CI, without the ``dask`` extra)."""
    pytest.importorskip("distributed")
    from flexiti_async.reconcile import _dask

    return SimpleNamespace(**{name: getattr(_dask, name) for name in _dask.__all__})


def comparable(report: Report) -> dict[str, Any]:
    """The JSON report, timing fields aside."""
    data: dict[str, Any] = json.loads(report.to_json())
    for name in TIMING_FIELDS:
        data.pop(name, None)
        data["stats"].pop(name, None)
    return data


def span(world: PlantedWorld) -> dict[str, Any]:
    return {
        "start": world.start,
        "end": world.end,
        "as_of": world.as_of,
        "stale_days": world.stale_days,
    }


def grants(sandbox: FlexitiSandbox) -> int:
    return sandbox.stats.token_grants["client_credentials"]


async def single_process(sandbox: FlexitiSandbox, base_url: str, ledger: Any, **kw: Any) -> Report:
    async with FlexitiClient(sandbox.client_id, sandbox.client_secret, base_url=base_url) as client:
        return await reconcile(client, ledger, **kw)


def factory_for(dask: SimpleNamespace, sandbox: FlexitiSandbox, base_url: str) -> Any:
    return dask.ClientFactory(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        options={"base_url": base_url},
    )


def cluster_processes() -> set[int]:
    """PIDs of this process's spawned children: the LocalCluster's nannies and workers
    (not multiprocessing's resource tracker, which lives as long as this process)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def wait_gone(pids: set[int]) -> list[int]:
    """The PIDs still alive after waiting (bounded) for them to exit."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=60)
    return [proc.pid for proc in alive]


# --------------------------------------------------------------------------- same report


async def check_worker_counts(dask: SimpleNamespace, worlds: list[PlantedWorld]) -> None:
    """1, 2 and 4 workers give the single-process JSON report; one token grant per run."""
    async with AsyncExitStack() as stack:
        served = [await stack.enter_async_context(world.sandbox.serve()) for world in worlds]
        baselines = []
        for world, base_url in zip(worlds, served, strict=True):
            report = await single_process(world.sandbox, base_url, world.ledger, **span(world))
            assert report.keys() == world.planted
            baselines.append(comparable(report))
        for workers in (1, 2, 4):
            async with dask.local_cluster(workers) as dask_client:
                assert len(set((await dask_client.run(os.getpid)).values())) == workers
                for world, base_url, baseline in zip(worlds, served, baselines, strict=True):
                    world.sandbox.reset_stats()
                    report = await dask.reconcile_on_dask(
                        factory_for(dask, world.sandbox, base_url),
                        world.ledger,
                        dask_client=dask_client,
                        **span(world),
                    )
                    assert comparable(report) == baseline, f"{workers} workers"
                    assert grants(world.sandbox) == 1, f"{workers} workers"


async def test_1_2_and_4_workers_give_the_single_process_report(dask: SimpleNamespace) -> None:
    """The planted sandbox world and a generated world of 20,000 authorizations."""
    worlds = [build_world(seed=2024), build_world(**WORLD_20K)]
    assert worlds[1].authorizations > 20000
    await check_worker_counts(dask, worlds)


async def test_workers_option_starts_and_closes_its_own_cluster(dask: SimpleNamespace) -> None:
    world = build_world(seed=2024)
    before = cluster_processes()
    seen: list[Any] = []
    threads: list[int] = []

    def on_session(session: Any) -> None:
        seen.append(session)
        specs = session.dask_client.cluster.worker_spec.values()
        threads.extend(spec["options"]["nthreads"] for spec in specs)

    async with world.sandbox.serve() as base_url:
        report = await dask.reconcile_on_dask(
            factory_for(dask, world.sandbox, base_url),
            world.ledger,
            workers=2,
            shards_per_worker=2,
            on_session=on_session,
            **span(world),
        )
    assert threads == [2, 2]  # two workers, each listing two shards at once
    assert report.keys() == world.planted
    assert not report.partial
    assert grants(world.sandbox) == 1  # two workers, one token through the file store
    (session,) = seen
    assert session.local
    assert session.dashboard_link.startswith("http://127.0.0.1:")
    assert not wait_gone(cluster_processes() - before)


# --------------------------------------------------------------------------- faults


@attrs.frozen
class HoldOnce:
    """A client factory whose worker stops before its ``after``-th listing request, once
    per cluster (a marker file says who), and writes its PID there: the test then kills
    that process in the middle of a shard. Count-based, so "mid-run" is deterministic."""

    client_id: str
    client_secret: str = attrs.field(repr=False)
    base_url: str
    token_file: str
    marker: str
    after: int

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[FlexitiClient]:
        from flexiti_async import FileTokenStore

        seen = 0

        async def hook(request: httpx.Request) -> None:
            nonlocal seen
            if not request.url.path.endswith(("/authorizations", "/captures")):
                return
            seen += 1
            if seen != self.after:
                return
            try:  # the first worker to get here claims the hold, for good
                os.close(os.open(self.marker + ".claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return  # another worker, or the replacement one: carry on
            Path(self.marker + ".tmp").write_text(str(os.getpid()))
            os.replace(self.marker + ".tmp", self.marker)  # the test sees the PID whole
            await anyio.sleep_forever()  # until killed

        async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
            async with FlexitiClient(
                self.client_id,
                self.client_secret,
                base_url=self.base_url,
                http_client=http,
                token_store=FileTokenStore(self.token_file),
            ) as client:
                yield client


async def test_killing_a_worker_mid_shard_changes_nothing(
    dask: SimpleNamespace, tmp_path: Path
) -> None:
    world = build_world(seed=2024)
    marker = tmp_path / "held.pid"
    async with world.sandbox.serve() as base_url:
        kw = {**span(world), "page_size": 50}
        baseline = await single_process(world.sandbox, base_url, world.ledger, **kw)
        world.sandbox.reset_stats()
        factory = HoldOnce(
            world.sandbox.client_id,
            world.sandbox.client_secret,
            base_url,
            str(tmp_path / "tokens.json"),
            str(marker),
            after=7,
        )
        async with dask.local_cluster(2) as dask_client:
            pids = set((await dask_client.run(os.getpid)).values())
            killed: list[int] = []

            async def kill_the_held_worker() -> None:
                for _ in range(6000):  # bounded: the worker reaches the hold within seconds
                    if marker.exists():
                        break
                    await anyio.sleep(0.01)
                pid = int(marker.read_text())
                assert pid in pids  # one of the cluster's worker processes
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

            results: list[Report] = []

            async def run() -> None:
                results.append(
                    await dask.reconcile_on_dask(
                        factory, world.ledger, dask_client=dask_client, **kw
                    )
                )

            async with anyio.create_task_group() as group:
                group.start_soon(kill_the_held_worker)
                group.start_soon(run)
            after = set((await dask_client.run(os.getpid)).values())
    (report,) = results
    assert killed
    assert killed[0] not in after
    assert comparable(report) == comparable(baseline)
    assert report.keys() == world.planted
    assert grants(world.sandbox) == 1  # the replacement worker found the token in the file


def one_day_sandbox() -> tuple[FlexitiSandbox, dict[str, Any]]:
    sandbox = FlexitiSandbox(seed=3)
    day = date(2024, 5, 2)
    sandbox.seed_history(days=1, stores=3, per_day=4, start=day, seed=3)
    # One shard: one UTC day, no tolerance, nothing to look up after it.
    return sandbox, {"start": day, "end": day, "as_of": day, "tolerance_days": 0}


async def test_a_shard_failing_once_is_retried(dask: SimpleNamespace) -> None:
    sandbox, kw = one_day_sandbox()
    async with sandbox.serve() as base_url:
        baseline = await single_process(sandbox, base_url, [], **kw)
        sandbox.faults.add(route="list_authorizations", fault=Fault.status(400), times=1)
        sessions: list[Any] = []
        report = await dask.reconcile_on_dask(
            factory_for(dask, sandbox, base_url), [], workers=1, on_session=sessions.append, **kw
        )
    assert comparable(report) == comparable(baseline)
    assert sessions[0].retried_shards == 1
    assert sandbox.stats.count("list_authorizations", 400) == 1


async def test_a_shard_failing_beyond_the_budget_fails_the_run_naming_it(
    dask: SimpleNamespace,
) -> None:
    sandbox, kw = one_day_sandbox()
    (shard,) = plan(kw["start"], kw["end"], as_of=kw["as_of"], tolerance_days=0)
    sandbox.faults.add(route="list_authorizations", fault=Fault.status(400))
    async with sandbox.serve() as base_url:
        with pytest.raises(dask.ShardFailedError) as caught:
            await dask.reconcile_on_dask(
                factory_for(dask, sandbox, base_url), [], workers=1, shard_retries=2, **kw
            )
    error = caught.value
    assert error.shard == shard.describe()
    assert shard.describe() in str(error)
    assert error.attempts == 3
    assert error.error_type == "BadRequestError"
    assert sandbox.stats.count("list_authorizations", 400) == 3  # 1 + 2 retries, no more


async def test_cancelling_cancels_the_futures_closes_the_cluster_and_merges_what_finished(
    dask: SimpleNamespace,
) -> None:
    world = build_world(seed=2024)
    kw = span(world)
    shards = plan(world.start, world.end, as_of=world.as_of)
    before = cluster_processes()
    partials: list[Partial] = []
    during: set[int] = set()
    async with world.sandbox.serve() as base_url:
        with anyio.CancelScope() as scope:

            def on_partial(partial: Partial) -> None:
                partials.append(partial)
                during.update(cluster_processes() - before)
                if len(partials) == 5:
                    scope.cancel()  # as the CLI does on SIGINT

            await dask.reconcile_on_dask(
                factory_for(dask, world.sandbox, base_url),
                world.ledger,
                workers=2,
                on_partial=on_partial,
                **kw,
            )
    assert scope.cancelled_caught
    assert len(partials) == 5 < len(shards)
    assert during
    assert not wait_gone(during)  # the cluster's processes are gone
    report = merge(partials, world.ledger, plan=shards, tolerance_days=1, **kw)
    assert report.partial
    assert len({p.shard.index for p in partials}) == 5
    assert report.keys() <= world.planted  # nothing misreported from the unlisted days


# --------------------------------------------------------------------------- tokens, API


async def test_a_remote_style_cluster_shares_one_token_through_redis(
    dask: SimpleNamespace,
    redis_server: Any,  # noqa: F811 - the fixture imported above
) -> None:
    """``scheduler=`` (an existing cluster) and a Redis token store named by URL."""
    world = build_world(seed=2024)
    async with world.sandbox.serve() as base_url:
        async with dask.local_cluster(2) as owner:
            address = owner.cluster.scheduler_address
            factory = attrs.evolve(
                factory_for(dask, world.sandbox, base_url), token_store=redis_server.url
            )
            report = await dask.reconcile_on_dask(
                factory, world.ledger, scheduler=address, **span(world)
            )
    assert report.keys() == world.planted
    assert grants(world.sandbox) == 1


async def test_the_worker_plugin_closes_its_clients_when_the_session_ends(
    dask: SimpleNamespace,
) -> None:
    sandbox, _ = one_day_sandbox()
    async with sandbox.serve() as base_url, dask.local_cluster(2) as dask_client:
        async with dask.dask_session(
            factory_for(dask, sandbox, base_url), dask_client=dask_client
        ) as session:

            def opened(dask_worker: Any, name: str = session.plugin) -> bool:
                return dask_worker.plugins[name].client.is_closed is False

            states = await dask_client.run(opened)
            assert list(states.values()) == [True, True]
            name = session.plugin
        left = await dask_client.run(lambda dask_worker: name in dask_worker.plugins)
        assert list(left.values()) == [False, False]


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_under_trio_it_says_asyncio_only(dask: SimpleNamespace) -> None:
    factory = dask.ClientFactory(client_id="cid", client_secret="secret")
    with pytest.raises(InvalidRequestError, match="asyncio only"):
        await dask.reconcile_on_dask(
            factory, [], start=date(2024, 1, 1), end=date(2024, 1, 1), as_of=date(2024, 1, 1)
        )


def test_client_factory_is_picklable_and_keeps_the_secret_out_of_its_repr(
    dask: SimpleNamespace,
) -> None:
    factory = dask.ClientFactory(
        client_id="cid", client_secret="s3cr3t-value", options={"max_concurrency": 4}
    )
    assert "s3cr3t-value" not in repr(factory)
    assert pickle.loads(pickle.dumps(factory)) == factory
    with pytest.raises(InvalidRequestError, match="both"):
        dask.ClientFactory(client_id="cid")
    with pytest.raises(InvalidRequestError, match="token_store="):
        dask.ClientFactory(options={"token_store": object()})


def test_token_store_urls_and_paths(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from flexiti_async import FileTokenStore, RedisTokenStore
    from flexiti_async.reconcile._dask_worker import open_token_store

    assert isinstance(open_token_store(str(tmp_path / "t.json")), FileTokenStore)
    assert isinstance(open_token_store(f"file:{tmp_path / 't.json'}"), FileTokenStore)
    assert isinstance(open_token_store("redis://127.0.0.1:6379/0"), RedisTokenStore)
    with pytest.raises(InvalidRequestError):
        open_token_store("file:")


# --------------------------------------------------------------------------- the CLI


def invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    from click.testing import CliRunner

    from flexiti_async.cli._app import cli

    no_credentials = {"FLEXITI_CLIENT_ID": "", "FLEXITI_CLIENT_SECRET": ""}
    return CliRunner().invoke(cli, args, env=env if env is not None else no_credentials)


def keys_of_json(path: Path) -> set[tuple[str, str, str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {(d["kind"], d["reference"], d["entry"]) for d in data["discrepancies"]}


def test_cli_sandbox_with_2_workers_finds_every_planted_discrepancy(
    dask: SimpleNamespace, tmp_path: Path
) -> None:
    planted = build_world(seed=2024).planted
    out = tmp_path / "report.json"
    result = invoke(["reconcile", "--sandbox", "--workers", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Planted {len(planted)} discrepancies, found {len(planted)}: all agree" in (
        result.output
    )
    assert "Dask: 2 local workers; dashboard http://127.0.0.1:" in result.output
    assert keys_of_json(out) == planted


def test_cli_real_ledger_with_2_workers_equals_1_worker(
    dask: SimpleNamespace, tmp_path: Path
) -> None:
    from flexiti_async.reconcile import ledger_csv
    from tests._services import sandbox_in_thread

    world = build_world(seed=11, stores=4, days=12, per_day=5)
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(ledger_csv(world.ledger), encoding="utf-8")
    reports = {}
    with sandbox_in_thread(world.sandbox) as base_url:
        env = {
            "FLEXITI_CLIENT_ID": world.sandbox.client_id,
            "FLEXITI_CLIENT_SECRET": world.sandbox.client_secret,
        }
        for workers in ("1", "2"):
            world.sandbox.reset_stats()
            out = tmp_path / f"report-{workers}.json"
            args = ["reconcile", "--ledger", str(ledger), "--base-url", base_url]
            args += ["--from", str(world.start), "--to", str(world.end)]
            args += ["--as-of", str(world.as_of), "--workers", workers, "--out", str(out)]
            result = invoke(args, env)
            assert result.exit_code == 1, result.output  # discrepancies found
            assert grants(world.sandbox) == 1
            reports[workers] = json.loads(out.read_text(encoding="utf-8"))
    assert reports["1"] == reports["2"]
    found = {(d["kind"], d["reference"], d["entry"]) for d in reports["2"]["discrepancies"]}
    assert found == world.planted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "not both"),
        (["--token-store", "redis://127.0.0.1:6379/0"], "works with --workers"),
        (["--workers", "2", "--backend", "trio"], "asyncio only"),
        (["--workers", "0"], "0 is not in the range"),
    ],
)
def test_cli_dask_options_are_checked_before_any_work(
    dask: SimpleNamespace, args: list[str], message: str
) -> None:
    result = invoke(["reconcile", "--sandbox", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_the_core_never_imports_dask() -> None:
    code = (
        "import sys; import flexiti_async.reconcile, flexiti_async.cli; "
        "assert 'distributed' not in sys.modules and 'dask' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_ctrl_c_to_the_process_group_writes_the_partial_report_and_leaves_no_process(
    dask: SimpleNamespace, tmp_path: Path
) -> None:
    """Ctrl-C in a terminal signals the whole process group, the workers included."""
    out = tmp_path / "partial.json"
    command = [sys.executable, "-m", "flexiti_async.cli", "reconcile", "--sandbox"]
    command += ["--workers", "2", "--out", str(out)]
    env = {**os.environ, "FLEXITI_CLIENT_ID": "", "FLEXITI_CLIENT_SECRET": ""}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # one line per finished listing: interrupt after the sixth
        seen.append(line)
        if line.startswith("[6/"):
            os.killpg(proc.pid, signal.SIGINT)
            break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + err
    assert "interrupted" in err
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["partial"] is True
    assert data["windows_done"]
    left = [p.pid for p in psutil.process_iter(["pid"]) if _group_of(p.pid) == proc.pid]
    assert not wait_gone(set(left))


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_the_progress_bar_of_a_dask_run_counts_shards() -> None:
    import io

    from rich.console import Console

    from flexiti_async.cli._output import Display
    from flexiti_async.reconcile import Progress

    screen = io.StringIO()
    out = Console(file=screen, force_terminal=True, width=120)
    display = Display(out, Console(file=io.StringIO()), quiet=False, unit="shards")
    progress = Progress(shards_total=37, shards_done=5, windows_total=74, windows_done=10)
    with display.running("Reconciling on Dask"):
        display.update(progress)
    text = screen.getvalue()
    assert "5/37" in text
    assert "shards" in text
    assert "10/74" not in text


def failing_factory() -> Any:
    raise ValueError("no client for you")


async def test_workers_that_cannot_build_a_client_stop_the_run_with_a_clear_error(
    dask: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEXITI_CLIENT_ID", raising=False)  # the workers inherit this
    monkeypatch.delenv("FLEXITI_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("FLEXITI_TOKEN_STORE", raising=False)
    kw = {"start": date(2024, 1, 1), "end": date(2024, 1, 1), "as_of": date(2024, 1, 1)}
    async with dask.local_cluster(1) as dask_client:
        with pytest.raises(InvalidRequestError, match="FLEXITI_CLIENT_ID"):
            await dask.reconcile_on_dask(dask.ClientFactory(), [], dask_client=dask_client, **kw)
        with pytest.raises(dask.WorkerSetupError, match="ValueError: no client for you"):
            await dask.reconcile_on_dask(failing_factory, [], dask_client=dask_client, **kw)


def test_cli_scheduler_runs_on_an_existing_cluster_with_a_redis_token_store(
    dask: SimpleNamespace,
    tmp_path: Path,
    redis_server: Any,  # noqa: F811 - the fixture imported above
) -> None:
    """``--scheduler`` ships this environment's credentials and FLEXITI_BASE_URL to the
    workers, which share one token through ``--token-store``."""
    from distributed import LocalCluster

    from flexiti_async.reconcile import ledger_csv
    from tests._services import sandbox_in_thread

    world = build_world(seed=11, stores=4, days=12, per_day=5)
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(ledger_csv(world.ledger), encoding="utf-8")
    out = tmp_path / "report.json"
    cluster_options = {"n_workers": 2, "threads_per_worker": 1, "host": "127.0.0.1"}
    with (
        sandbox_in_thread(world.sandbox) as base_url,
        LocalCluster(**cluster_options, dashboard_address="127.0.0.1:0") as cluster,
    ):
        env = {
            "FLEXITI_CLIENT_ID": world.sandbox.client_id,
            "FLEXITI_CLIENT_SECRET": world.sandbox.client_secret,
            "FLEXITI_BASE_URL": base_url,
        }
        args = ["reconcile", "--ledger", str(ledger), "--from", str(world.start)]
        args += ["--to", str(world.end), "--as-of", str(world.as_of), "--out", str(out)]
        args += ["--scheduler", cluster.scheduler_address, "--token-store", redis_server.url]
        result = invoke(args, env)
    assert result.exit_code == 1, result.output  # discrepancies found
    assert "Dask: 2 cluster workers" in result.output
    assert keys_of_json(out) == world.planted
    assert grants(world.sandbox) == 1
