"""``python -m benchmarks [scenario ...] [--quick]``: run benchmarks, print tables, save JSON.

Scenarios run in the order given (default: all but ``reconcile``). Those that need the
network share one loopback server process, started here and always killed at the end.
Results are merged into ``benchmarks/results/latest.json`` (one entry per scenario, with
the machine and versions it ran on).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from ._harness import Context
from ._server import ServerProcess

SCENARIOS = {
    "import": "bench_import",
    "decoding": "bench_decoding",
    "server": "bench_server",
    "overhead": "bench_overhead",
    "tokens": "bench_tokens",
    "token_stores": "bench_token_stores",
    "throughput": "bench_throughput",
    "paging": "bench_paging",
    "fanout": "bench_fanout",
    "profile": "bench_profile",
    "telemetry": "bench_telemetry",
    "reconcile": "bench_reconcile",  # another helper's module; only run when asked for
    "reconcile_dask": "bench_reconcile_dask",  # Dask LocalCluster, 1 vs 2 workers; when asked
}
DEFAULT = [name for name in SCENARIOS if name not in ("reconcile", "reconcile_dask")]
OFFLINE = {"import", "decoding"}
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
PACKAGES = (
    "flexiti-async",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "attrs",
    "cattrs",
    "aiohttp",
    "httpx-aiohttp",
    "pydantic",
    "pydantic-core",
    "uvicorn",
    "httptools",
    "uvloop",
    "opentelemetry-api",
    "opentelemetry-sdk",
)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory = f"{int(first.split()[1]) / 1024 / 1024:.1f} GiB"
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory": memory,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def _module(name: str) -> Any | None:
    module_name = f"{__package__}.{SCENARIOS[name]}"
    if importlib.util.find_spec(module_name) is None:
        return None
    return importlib.import_module(module_name)


async def _run_script(name: str, ctx: Context) -> dict[str, Any]:
    """A scenario module with its own ``main()`` CLI (e.g. bench_reconcile): run it as is."""
    command = [sys.executable, "-m", f"{__package__}.{SCENARIOS[name]}"]
    if ctx.quick and name == "reconcile":
        command += ["--per-day", "20"]
    if ctx.quick and name == "reconcile_dask":
        command += ["--per-day", "20", "--rounds", "1"]
    proc = await anyio.run_process(
        command, check=False, stdout=None, stderr=None, cwd=Path(__file__).resolve().parent.parent
    )
    return {
        "title": f"{name} (python -m {__package__}.{SCENARIOS[name]})",
        "text": f"exit code {proc.returncode}; its output is above",
        "returncode": proc.returncode,
    }


async def _run_all(names: list[str], ctx: Context, args: argparse.Namespace) -> None:
    needs_server = any(name not in OFFLINE for name in names)
    server_cpu = None
    if args.pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        cpus = sorted(os.sched_getaffinity(0))
        server_cpu = cpus[-1]
        os.sched_setaffinity(0, set(cpus[:-1]))
    with contextlib.ExitStack() as stack:
        server = (
            stack.enter_context(ServerProcess(args.server, cpu=server_cpu))
            if needs_server
            else None
        )
        if server is not None:
            print(f"server: {args.server}, pid {server.pid}, {server.base_url}\n", flush=True)
        for name in names:
            module = _module(name)
            print(f"== {name} " + "=" * max(0, 70 - len(name)), flush=True)
            if module is None:
                print(f"  skipped: benchmarks/{SCENARIOS[name]}.py is not there (yet)\n")
                continue
            started = time.perf_counter()
            if hasattr(module, "run"):
                result = await module.run(ctx, server)
            else:
                result = await _run_script(name, ctx)
            result["seconds"] = round(time.perf_counter() - started, 1)
            result["quick"] = ctx.quick
            result["ran_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            ctx.results[name] = result
            title = result.get("title", name)
            print(f"\n### {title}\n\n{result.get('text', '')}\n")
            print(f"({name}: {result['seconds']} s)\n", flush=True)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="flexiti-async benchmarks (loopback only)"
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="scenario",
        help=f"any of: {', '.join(SCENARIOS)} (default: all but reconcile)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--rounds", type=int, default=None, help="override every round count")
    parser.add_argument("--server", choices=("raw", "uvicorn"), default="raw")
    parser.add_argument(
        "--pin", action="store_true", help="pin the server to the last CPU, us to the others"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON to update")
    parser.add_argument("--no-save", action="store_true", help="do not write the results JSON")
    args = parser.parse_args(argv)
    names = args.scenarios or DEFAULT
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; choose from {list(SCENARIOS)}")
    ctx = Context(quick=args.quick, server_kind=args.server, rounds=args.rounds)
    signal.signal(signal.SIGTERM, _terminate)  # unwind (and stop the server) on SIGTERM
    info = machine()
    started = time.perf_counter()
    print(
        f"flexiti-async benchmarks: {', '.join(names)}{' (quick)' if args.quick else ''}\n"
        f"machine: {info['cpu']}, {info['cpus']} CPUs, {info['memory']}, Python "
        f"{info['python']}, load {info.get('loadavg_at_start')}\n",
        flush=True,
    )
    try:
        anyio.run(_run_all, names, ctx, args, backend="asyncio")
    finally:
        total = time.perf_counter() - started
        if hasattr(os, "getloadavg"):
            info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print(f"total: {total:.0f} s", flush=True)
        if ctx.results and not args.no_save:
            data = _load(args.output)
            data.setdefault("scenarios", {}).update(ctx.results)
            data["last_run"] = {
                "scenarios": list(ctx.results),
                "quick": args.quick,
                "seconds": round(total, 1),
                "server": args.server,
                "pinned": args.pin,
                "machine": info,
                "versions": versions(),
                "argv": sys.argv[1:] if argv is None else argv,
            }
            for result in ctx.results.values():
                result["machine"] = info
                result["versions"] = data["last_run"]["versions"]
            _save(args.output, data)
            print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
