"""The click commands: ``flexiti reconcile`` and ``flexiti sandbox serve``.

Exit codes of ``reconcile``: 0 clean; 1 discrepancies found; 2 failure (bad ledger, bad
options, API or network error after retries); 130 interrupted (SIGINT, Ctrl-C) and 143
terminated (SIGTERM), after writing the partial report to every ``--out``. With
``--sandbox`` the discrepancies are planted on purpose, so the run exits 0 when what was
found equals what was planted, and 2 when it does not.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from typing import Any, TypeVar

import click

from .._version import __version__
from ._command import (
    Args,
    fail,
    interrupts_exit_cleanly,
    reconcile_real,
    reconcile_sandbox,
    zone_of,
)

__all__ = ["cli"]


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """Parse a ``YYYY-MM-DD`` option (a callback, so it works on every click 8 release)."""
    if value is None:
        return None
    if not value.isascii():
        raise click.BadParameter(f"{value!r} is not a date like 2024-01-31 (ASCII digits)")
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-01-31") from None


def _zone(ctx: click.Context, param: click.Parameter, value: str) -> tzinfo:
    return zone_of(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flexiti")
def cli() -> None:
    """Flexiti POS API tools: reconcile a merchant ledger, run the sandbox."""


# -- what to reconcile ---------------------------------------------------------------------
_LEDGER_OPTIONS = [
    click.option(
        "--ledger",
        type=click.Path(exists=True, dir_okay=False),
        help="Ledger CSV with the columns reference, store (optional), amount, date, kind "
        "(sale or return); comma, semicolon or tab; amounts like 1234.50, dates YYYY-MM-DD.",
    ),
    click.option(
        "--from",
        "start",
        callback=_date,
        metavar="YYYY-MM-DD",
        help="First day, in --tz (default: the ledger's first date).",
    ),
    click.option(
        "--to",
        "end",
        callback=_date,
        metavar="YYYY-MM-DD",
        help="Last day, inclusive, in --tz (default: the ledger's last date).",
    ),
    click.option(
        "--as-of",
        callback=_date,
        metavar="YYYY-MM-DD",
        help="The day the books are closed: staleness is measured from it, captures are "
        "looked up to it, later ledger dates are refused (default: today in --tz).",
    ),
    click.option(
        "--tz",
        default="UTC",
        show_default=True,
        callback=_zone,
        metavar="ZONE",
        help="The merchant's time zone (IANA name, e.g. America/Toronto): days are local "
        "days and Flexiti's timestamps are converted before matching.",
    ),
    click.option(
        "--tolerance-days",
        type=click.IntRange(0),
        default=1,
        show_default=True,
        help="A ledger date further than this from Flexiti's creation day is a date mismatch.",
    ),
    click.option(
        "--max-range-days",
        type=click.IntRange(1),
        default=400,
        show_default=True,
        help="Refuse a range derived from the ledger that spans more days (a date typo?); "
        "--from and --to override it.",
    ),
    click.option(
        "--stale-days",
        type=click.IntRange(0),
        default=7,
        show_default=True,
        help="Open authorizations older than this are release candidates (never released).",
    ),
]

# -- where and how to fetch ----------------------------------------------------------------
_FETCH_OPTIONS = [
    click.option(
        "--env",
        "environment",
        type=click.Choice(["training", "production", "mi"]),
        help="Flexiti environment (default: FLEXITI_ENVIRONMENT, else training).",
    ),
    click.option("--base-url", help="API base URL (overrides --env; https unless loopback)."),
    click.option(
        "--concurrency",
        type=click.IntRange(1, 64),
        default=8,
        show_default=True,
        help="Listings fetched at once.",
    ),
    click.option(
        "--window-days",
        type=click.IntRange(1),
        default=1,
        show_default=True,
        help="Days per listing window (one shard); larger windows mean fewer, longer listings.",
    ),
    click.option(
        "--page-size",
        type=click.IntRange(1, 500),
        default=100,
        show_default=True,
        help="Items per page requested from Flexiti (1-500).",
    ),
]

# -- beyond one process (Dask) -------------------------------------------------------------
_DASK_OPTIONS = [
    click.option(
        "--workers",
        type=click.IntRange(1, 256),
        help="Run the shards on a local Dask cluster of N worker processes (extra 'dask').",
    ),
    click.option(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="Run the shards on an existing Dask cluster (extra 'dask'); its workers need "
        "flexiti-async installed and must reach Flexiti.",
    ),
    click.option(
        "--token-store",
        metavar="URL",
        help="Where Dask workers share one token: redis://HOST:6379/0 (or a file path on "
        "one machine); default FLEXITI_TOKEN_STORE, else a private file with --workers.",
    ),
]

# -- output and the sandbox ----------------------------------------------------------------
_OUTPUT_OPTIONS = [
    click.option(
        "--out",
        "outputs",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Write the report to a .csv or .json file (repeatable); checked before the run.",
    ),
    click.option(
        "--sandbox",
        is_flag=True,
        help="Reconcile a seeded world with planted discrepancies on a loopback emulator "
        "(the default when FLEXITI_CLIENT_ID/FLEXITI_CLIENT_SECRET are not set).",
    ),
    click.option(
        "--faults",
        is_flag=True,
        help="Sandbox only: drop connections and answer 429/503 at random; the run still "
        "completes.",
    ),
    click.option("--seed", type=int, default=2024, show_default=True, help="Sandbox world seed."),
    click.option("--quiet", "-q", is_flag=True, help="No progress; a one-line summary."),
    click.option(
        "--verbose",
        "-v",
        is_flag=True,
        help="Show the client's DEBUG lines (secrets redacted) on stderr.",
    ),
    click.option(
        "--backend",
        type=click.Choice(["asyncio", "trio"]),
        default="asyncio",
        hidden=True,
        help="Event loop (for tests).",
    ),
]


F = TypeVar("F", bound=Callable[..., Any])


def _apply(options: list[Callable[[Any], Any]]) -> Callable[[F], F]:
    """Apply a list of click options (kept in named groups so the command reads well)."""

    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


@cli.command()
@_apply(_LEDGER_OPTIONS)
@_apply(_FETCH_OPTIONS)
@_apply(_DASK_OPTIONS)
@_apply(_OUTPUT_OPTIONS)
def reconcile(
    ledger: str | None,
    start: date | None,
    end: date | None,
    as_of: date | None,
    tz: tzinfo,
    tolerance_days: int,
    max_range_days: int,
    stale_days: int,
    environment: str | None,
    base_url: str | None,
    concurrency: int,
    window_days: int,
    page_size: int,
    workers: int | None,
    scheduler: str | None,
    token_store: str | None,
    outputs: tuple[str, ...],
    sandbox: bool,
    faults: bool,
    seed: int,
    quiet: bool,
    verbose: bool,
    backend: str,
) -> None:
    """Reconcile a merchant ledger against Flexiti's authorizations and captures.

    Credentials come from FLEXITI_CLIENT_ID and FLEXITI_CLIENT_SECRET (never flags).
    Exit codes: 0 clean, 1 discrepancies found, 2 failure, 130 interrupted (Ctrl-C),
    143 terminated (SIGTERM); an interrupted run writes a partial report to --out. With
    --sandbox: 0 when the findings equal the planted discrepancies, else 2.
    """
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose cannot be used together")
    args = Args(
        concurrency=concurrency,
        stale_days=stale_days,
        window_days=window_days,
        page_size=page_size,
        as_of=as_of,
        tz=tz,
        tolerance_days=tolerance_days,
        max_range_days=max_range_days,
        outputs=outputs,
        quiet=quiet,
        verbose=verbose,
        backend=backend,
        dask=_dask_args(workers, scheduler, token_store, backend),
    )
    has_credentials = bool(
        os.environ.get("FLEXITI_CLIENT_ID") and os.environ.get("FLEXITI_CLIENT_SECRET")
    )
    if not sandbox and not has_credentials and ledger is None:
        sandbox = True
        if not quiet:
            click.echo(
                "No FLEXITI_CLIENT_ID/FLEXITI_CLIENT_SECRET set: running the sandbox demo.",
                err=True,
            )
    if sandbox:
        given = [
            name
            for name, value in (("--ledger", ledger), ("--from", start), ("--to", end),
                                ("--as-of", as_of), ("--env", environment),
                                ("--base-url", base_url))
            if value is not None
        ] + (["--tz"] if getattr(tz, "key", "UTC") != "UTC" else [])  # fmt: skip
        if given:
            raise click.UsageError(
                f"{', '.join(given)} cannot be used with --sandbox "
                "(the sandbox brings its own world, range, time zone and ledger)"
            )
        with interrupts_exit_cleanly():
            reconcile_sandbox(seed=seed, faults=faults, args=args)
        return
    if faults:
        raise click.UsageError("--faults works with --sandbox only")
    if not has_credentials:
        raise fail("set FLEXITI_CLIENT_ID and FLEXITI_CLIENT_SECRET (or use --sandbox)")
    if ledger is None:
        raise click.UsageError("--ledger is required (or use --sandbox)")
    with interrupts_exit_cleanly():
        reconcile_real(ledger, start=start, end=end, environment=environment,
                       base_url=base_url, args=args)  # fmt: skip


def _dask_args(
    workers: int | None, scheduler: str | None, token_store: str | None, backend: str
) -> Any:
    """``--workers`` / ``--scheduler`` / ``--token-store``, checked; None: run here."""
    if workers is None and scheduler is None:
        if token_store is not None:
            raise click.UsageError("--token-store works with --workers or --scheduler")
        return None
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers (a local cluster) or --scheduler, not both")
    if backend != "asyncio":
        raise click.UsageError("--workers and --scheduler run under asyncio only")
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise fail("--workers and --scheduler need the 'dask' extra: "
                   "pip install 'flexiti-async[dask]'")  # fmt: skip
    from ._dask_job import DaskArgs

    store = token_store or os.environ.get("FLEXITI_TOKEN_STORE") or None
    return DaskArgs(workers=workers, scheduler=scheduler, token_store=store)


@cli.group()
def sandbox() -> None:
    """The Flexiti POS API emulator (loopback only)."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="TCP port (0: any free port).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the sandbox's ids and data."
)
@click.option(
    "--world",
    "world_ledger",
    type=click.Path(dir_okay=False),
    help="Seed the reconciliation demo world and write its ledger CSV here.",
)
def serve(host: str, port: int, seed: int, world_ledger: str | None) -> None:
    """Serve the sandbox until Ctrl-C and print the credentials to use with it."""
    from ..testing import serve_forever

    box: Any = None
    if world_ledger is not None:
        from ..reconcile import ledger_csv
        from ._sandbox_world import build_world

        world = build_world(seed=seed or 2024)
        with open(world_ledger, "w", encoding="utf-8", newline="") as handle:
            handle.write(ledger_csv(world.ledger))
        box = world.sandbox
        click.echo(
            f"Ledger for {world.start}..{world.end} written to {world_ledger} "
            f"(run with --from {world.start} --to {world.end} --as-of {world.as_of})"
        )

    def ready(sandbox: Any, base_url: str) -> None:
        click.echo(f"Flexiti sandbox listening on {base_url}")
        click.echo(f"export FLEXITI_BASE_URL={base_url}")
        click.echo(f"export FLEXITI_CLIENT_ID={sandbox.client_id}")
        click.echo(f"export FLEXITI_CLIENT_SECRET={sandbox.client_secret}")
        account = sandbox.find_account(status="N").account_number
        click.echo(f"# an account in good standing, for the README flows: {account}")
        click.echo("Press Ctrl-C to stop.")

    try:
        serve_forever(host, port, seed=seed, sandbox=box, on_ready=ready)
    except (ValueError, OSError) as exc:  # a non-loopback host, a port in use
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        pass
    click.echo("Sandbox stopped.", err=True)
