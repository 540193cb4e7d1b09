"""The click commands: ``flexiti reconcile`` and ``flexiti sandbox serve``.

Exit codes of ``reconcile``: 0 clean; 1 discrepancies found; 2 failure (bad ledger, bad
options, API or network error after retries); 130 interrupted (Ctrl-C). With ``--sandbox``
the discrepancies are planted on purpose, so the run exits 0 when what was found equals
what was planted, and 2 when it does not.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import anyio
import click

from .._version import __version__
from ..errors import FlexitiError
from ..reconcile import LedgerError, LedgerRow, Progress, Report, read_ledger

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["cli"]

EXIT_CLEAN, EXIT_DISCREPANCIES, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """Parse a ``YYYY-MM-DD`` option (a callback, so it works on every click 8 release)."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-01-31") from None


def _fail(message: str) -> click.exceptions.Exit:
    click.echo(f"flexiti: error: {message}", err=True)
    return click.exceptions.Exit(EXIT_FAILURE)


def _unwrap(exc: BaseException) -> BaseException:
    """The single exception inside nested exception groups, if that is all there is."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _run_async(fn: Callable[[], Any], backend: str, progress: Progress) -> Any:
    """Run the job; turn Ctrl-C and failures into exit codes with a clear message."""
    try:
        return anyio.run(fn, backend=backend)
    except KeyboardInterrupt:
        done = progress.done_by_listing()
        half = progress.windows_total // 2
        click.echo(
            f"\nflexiti: interrupted; {progress.windows_done} of {progress.windows_total} "
            f"listings had finished (authorizations {done['authorizations']}/{half} windows, "
            f"captures {done['captures']}/{half}; {progress.pages} pages, {progress.items} "
            "items). No report was written.",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except BaseException as group:
        exc = _unwrap(group)
        if isinstance(exc, KeyboardInterrupt):
            raise
        if isinstance(exc, (FlexitiError, LedgerError, OSError)):
            raise _fail(str(exc)) from None
        if isinstance(exc, Exception):
            click.echo("flexiti: internal error (please report it):", err=True)
            click.echo("".join(traceback.format_exception(exc)), err=True)
            raise click.exceptions.Exit(EXIT_FAILURE) from None
        raise


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flexiti")
def cli() -> None:
    """Flexiti POS API tools: reconcile a merchant ledger, run the sandbox."""


@cli.command()
@click.option(
    "--ledger",
    type=click.Path(exists=True, dir_okay=False),
    help="Ledger CSV: reference,store,amount,date,kind (kind: sale or return).",
)
@click.option(
    "--from",
    "start",
    callback=_date,
    metavar="YYYY-MM-DD",
    help="First day (default: first sale in the ledger).",
)
@click.option(
    "--to",
    "end",
    callback=_date,
    metavar="YYYY-MM-DD",
    help="Last day, inclusive (default: last sale).",
)
@click.option(
    "--env",
    "environment",
    type=click.Choice(["training", "production", "mi"]),
    help="Flexiti environment (default: FLEXITI_ENVIRONMENT, else training).",
)
@click.option("--base-url", help="API base URL (overrides --env; https unless loopback).")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Day windows listed at once.",
)
@click.option(
    "--stale-days",
    type=click.IntRange(0),
    default=7,
    show_default=True,
    help="Open authorizations older than this are release candidates (never released).",
)
@click.option("--window-days", type=click.IntRange(1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option(
    "--as-of",
    callback=_date,
    metavar="YYYY-MM-DD",
    help="Measure staleness from this day (default: today).",
)
@click.option(
    "--out",
    "outputs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Write the report: report.csv or report.json (repeatable).",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Reconcile a seeded world with planted discrepancies on a loopback emulator "
    "(the default when FLEXITI_CLIENT_ID/FLEXITI_CLIENT_SECRET are not set).",
)
@click.option(
    "--faults",
    is_flag=True,
    help="Sandbox only: drop connections and answer 429/503 at random; the run still completes.",
)
@click.option("--seed", type=int, default=2024, show_default=True, help="Sandbox world seed.")
@click.option("--quiet", "-q", is_flag=True, help="No progress; a one-line summary.")
@click.option("--backend", type=click.Choice(["asyncio", "trio"]), default="asyncio", hidden=True)
def reconcile(
    ledger: str | None,
    start: date | None,
    end: date | None,
    environment: str | None,
    base_url: str | None,
    concurrency: int,
    stale_days: int,
    window_days: int,
    page_size: int,
    as_of: date | None,
    outputs: tuple[str, ...],
    sandbox: bool,
    faults: bool,
    seed: int,
    quiet: bool,
    backend: str,
) -> None:
    """Reconcile a merchant ledger against Flexiti's authorizations and captures.

    Credentials come from FLEXITI_CLIENT_ID and FLEXITI_CLIENT_SECRET (never flags).
    Exit codes: 0 clean, 1 discrepancies found, 2 failure, 130 interrupted. With
    --sandbox: 0 when the findings equal the planted discrepancies, else 2.
    """
    for path in outputs:
        if os.path.splitext(path)[1].lower() not in (".csv", ".json"):
            raise click.BadParameter(f"{path!r} must end in .csv or .json", param_hint="--out")
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
                                ("--env", environment), ("--base-url", base_url))
            if value is not None
        ]  # fmt: skip
        if given:
            raise click.UsageError(
                f"{', '.join(given)} cannot be used with --sandbox "
                "(the sandbox brings its own world, range and ledger)"
            )
        _reconcile_sandbox(
            seed=seed,
            faults=faults,
            outputs=outputs,
            quiet=quiet,
            backend=backend,
            options=_options(concurrency, stale_days, window_days, page_size, as_of),
        )
        return
    if faults:
        raise click.UsageError("--faults works with --sandbox only")
    if not has_credentials:
        raise _fail("set FLEXITI_CLIENT_ID and FLEXITI_CLIENT_SECRET (or use --sandbox)")
    if ledger is None:
        raise click.UsageError("--ledger is required (or use --sandbox)")
    _reconcile_real(
        ledger,
        start=start,
        end=end,
        environment=environment,
        base_url=base_url,
        outputs=outputs,
        quiet=quiet,
        backend=backend,
        options=_options(concurrency, stale_days, window_days, page_size, as_of),
    )


def _options(
    concurrency: int, stale_days: int, window_days: int, page_size: int, as_of: date | None
) -> Any:
    from ._job import Options

    return Options(
        concurrency=concurrency,
        stale_days=stale_days,
        window_days=window_days,
        page_size=page_size,
        as_of=as_of,
    )


def _write(report: Report, outputs: tuple[str, ...], display: Any) -> None:
    for path in outputs:
        try:
            report.write(path)
        except OSError as exc:
            raise _fail(f"could not write {path}: {exc}") from None
        display.note(f"Report written to {path}")


def _range(rows: list[LedgerRow], start: date | None, end: date | None) -> tuple[date, date]:
    sales = [row.date for row in rows if row.kind.value == "sale"]
    if (start is None or end is None) and not sales:
        raise _fail("the ledger has no sales; give --from and --to")
    first = start if start is not None else min(sales)
    last = end if end is not None else max(sales)
    if first > last:
        raise _fail(f"--from ({first}) is after --to ({last})")
    return first, last


def _reconcile_real(
    ledger: str,
    *,
    start: date | None,
    end: date | None,
    environment: str | None,
    base_url: str | None,
    outputs: tuple[str, ...],
    quiet: bool,
    backend: str,
    options: Any,
) -> None:
    from ._job import run_real
    from ._output import Display, count_retries, make_consoles, print_summary

    try:
        rows = read_ledger(ledger)
    except (LedgerError, OSError) as exc:
        raise _fail(str(exc)) from None
    first, last = _range(rows, start, end)
    out, err = make_consoles()
    display = Display(out, err, quiet=quiet)
    progress = Progress()

    async def job() -> Report:
        with count_retries(progress), display.running(f"Reconciling {first}..{last}"):
            return await run_real(
                rows,
                start=first,
                end=last,
                environment=environment,
                base_url=base_url,
                options=options,
                progress=progress,
                on_progress=display.update,
            )

    report: Report = _run_async(job, backend, progress)
    print_summary(out, report, progress, quiet=quiet)
    _write(report, outputs, display)
    raise click.exceptions.Exit(EXIT_CLEAN if report.clean else EXIT_DISCREPANCIES)


def _reconcile_sandbox(
    *, seed: int, faults: bool, outputs: tuple[str, ...], quiet: bool, backend: str, options: Any
) -> None:
    from ._job import SandboxOutcome, prepare_world, run_sandbox
    from ._output import Display, count_retries, make_consoles, print_summary

    out, err = make_consoles()
    display = Display(out, err, quiet=quiet)
    progress = Progress()
    display.note(f"Seeding the sandbox world (seed {seed})" + (", with faults" if faults else ""))
    try:
        prepared = prepare_world(seed=seed, stale_days=options.stale_days, faults=faults)
    except KeyboardInterrupt:
        click.echo("\nflexiti: interrupted while seeding; nothing was listed.", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        raise _fail(f"could not write the sandbox ledger: {exc}") from None

    def ready(base_url: str) -> None:
        display.note(f"Sandbox serving {base_url}; ledger written to {prepared.ledger_path}")

    async def job() -> SandboxOutcome:
        with count_retries(progress), display.running("Reconciling the sandbox world"):
            return await run_sandbox(
                prepared,
                seed=seed,
                options=options,
                progress=progress,
                on_progress=display.update,
                on_ready=ready,
            )

    outcome: SandboxOutcome = _run_async(job, backend, progress)
    report = outcome.report
    print_summary(out, report, progress, quiet=quiet)
    _write(report, outputs, display)
    found = report.keys()
    agree = found == outcome.planted
    faults_text = f"; {outcome.faults_fired} faults injected" if faults else ""
    out.print(
        f"Planted {len(outcome.planted)} discrepancies, found {len(found)}: "
        + ("all agree" if agree else "MISMATCH")
        + f" ({outcome.authorizations} authorizations{faults_text})",
        highlight=False,
        soft_wrap=True,
    )
    if not agree:
        for key in sorted(outcome.planted - found):
            out.print(f"  planted, not found: {key}", highlight=False)
        for key in sorted(found - outcome.planted):
            out.print(f"  found, not planted: {key}", highlight=False)
        raise click.exceptions.Exit(EXIT_FAILURE)
    raise click.exceptions.Exit(EXIT_CLEAN)


@cli.group()
def sandbox() -> None:
    """The Flexiti POS API emulator (loopback only)."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
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
        click.echo("Press Ctrl-C to stop.")

    try:
        serve_forever(host, port, seed=seed, sandbox=box, on_ready=ready)
    except (ValueError, OSError) as exc:  # a non-loopback host, a port in use
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass
    click.echo("Sandbox stopped.", err=True)
