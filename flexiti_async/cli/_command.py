"""What ``flexiti reconcile`` does once its options are parsed: check everything that can be
checked before any network work, run, print, write, and choose the exit code."""

from __future__ import annotations

import functools
import gc
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone, tzinfo
from typing import Any

import anyio
import attrs
import click

from ..errors import FlexitiError, InvalidRequestError
from ..reconcile import (
    LedgerError,
    LedgerRow,
    Progress,
    Report,
    check_ledger_dates,
    check_output_path,
    load_ledger,
    resolve_tz,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["EXIT_CODES", "Args", "fail", "reconcile_real", "reconcile_sandbox", "zone_of"]

EXIT_CLEAN, EXIT_DISCREPANCIES, EXIT_FAILURE = 0, 1, 2
#: 128 + the signal number, as shells report a process stopped by a signal.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
# Rows named when a derived range is refused (the message stays readable).
_STRETCH_SHOWN = 10


@attrs.frozen(kw_only=True)
class Args:
    """The parsed options of one ``flexiti reconcile`` run."""

    concurrency: int
    stale_days: int
    window_days: int
    page_size: int
    as_of: date | None
    tz: tzinfo
    tolerance_days: int
    max_range_days: int
    outputs: tuple[str, ...]
    quiet: bool
    verbose: bool
    backend: str
    #: Where the shards run: a ``DaskArgs`` (``--workers`` / ``--scheduler``), else here.
    dask: Any = None


def fail(message: str) -> click.exceptions.Exit:
    """Print ``flexiti: error: ...`` and return the exit-2 exception to raise."""
    click.echo(f"flexiti: error: {message}", err=True)
    return click.exceptions.Exit(EXIT_FAILURE)


def zone_of(value: str) -> tzinfo:
    """``--tz``: an IANA name (or UTC)."""
    try:
        return resolve_tz(value)
    except InvalidRequestError as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None


def check_outputs(outputs: Sequence[str], ledger: str | None = None) -> None:
    """Every ``--out`` path is usable, checked before any network work."""
    for path in outputs:
        try:
            check_output_path(path)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--out") from None
        if ledger is not None and os.path.abspath(path) == os.path.abspath(ledger):
            raise click.BadParameter("would overwrite the ledger itself", param_hint="--out")


def _today(tz: tzinfo) -> date:
    return datetime.now(timezone.utc).astimezone(tz).date()


def _unwrap(exc: BaseException) -> BaseException:
    """The single exception inside nested exception groups, if that is all there is."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class Terminated(BaseException):
    """SIGTERM outside the engine's own signal watch, raised the way Ctrl-C raises."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _signal_exit(exc: BaseException) -> int | None:
    """The exit code for an interrupt (Ctrl-C or SIGTERM), None for anything else."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_CODES[signal.SIGINT]
    if isinstance(exc, Terminated):
        return EXIT_CODES[signal.SIGTERM]
    return None


@contextmanager
def interrupts_exit_cleanly() -> Iterator[None]:
    """Ctrl-C or SIGTERM before or after the run (reading the ledger, seeding, writing)
    ends the command with the same message as during it, and exit 130 or 143."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except (KeyboardInterrupt, Terminated) as exc:
        click.echo("\nflexiti: interrupted before any listing finished; no report was written.",
                   err=True)  # fmt: skip
        raise click.exceptions.Exit(_signal_exit(exc) or EXIT_FAILURE) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_async(fn: Callable[[], Any], backend: str, progress: Progress) -> Any:
    """Run the job; turn an interrupt outside the engine and failures into exit codes."""
    try:
        return anyio.run(fn, backend=backend)
    except BaseException as group:
        exc = _unwrap(group)
        code = _signal_exit(exc)
        if code is not None:
            _interrupted_message(progress, None)
            raise click.exceptions.Exit(code) from None
        if isinstance(exc, (FlexitiError, LedgerError, OSError)):
            raise fail(str(exc)) from None
        if isinstance(exc, Exception):
            click.echo("flexiti: internal error (please report it):", err=True)
            click.echo("".join(traceback.format_exception(exc)), err=True)
            raise click.exceptions.Exit(EXIT_FAILURE) from None
        raise


def _interrupted_message(progress: Progress, written: Sequence[str] | None) -> None:
    """One message for SIGINT and SIGTERM alike."""
    if written:
        tail = f"Partial report written to {', '.join(written)}."
    elif written is None:
        tail = "No report was written."
    else:
        tail = "No report was written (give --out to keep a partial report)."
    click.echo(
        f"flexiti: interrupted; {progress.windows_done} of {progress.windows_total} "
        f"listings had finished ({progress.pages} pages, {progress.items} items). {tail}",
        err=True,
    )


def _stretching(rows: Sequence[LedgerRow], days: int) -> list[LedgerRow]:
    """The rows outside the densest ``days``-day span: the ones that stretch the range."""
    ordered = sorted(rows, key=lambda r: r.date)
    best, best_lo, lo = 0, 0, 0
    for hi, row in enumerate(ordered):  # a sliding window over the sorted dates
        while (row.date - ordered[lo].date).days >= days:
            lo += 1
        if hi - lo + 1 > best:
            best, best_lo = hi - lo + 1, lo
    return ordered[:best_lo] + ordered[best_lo + best :]


def derive_range(
    rows: Sequence[LedgerRow], start: date | None, end: date | None, limit: int
) -> tuple[date, date]:
    """``--from``/``--to``, else the ledger's first and last dates (sales and returns)."""
    if (start is None or end is None) and not rows:
        raise fail("the ledger has no rows; give --from and --to")
    first = start if start is not None else min(row.date for row in rows)
    last = end if end is not None else max(row.date for row in rows)
    if first > last:
        raise fail(f"--from ({first}) is after --to ({last})")
    span = (last - first).days + 1
    if (start is None or end is None) and span > limit:
        far = _stretching(rows, limit)
        named = ", ".join(f"line {row.line} ({row.date})" for row in far[:_STRETCH_SHOWN]) + (
            f" and {len(far) - _STRETCH_SHOWN} more" if len(far) > _STRETCH_SHOWN else ""
        )
        raise fail(
            f"the ledger's dates span {first}..{last}, {span:,} days, more than "
            f"--max-range-days {limit}; the rows that stretch it: {named}. Correct them, "
            "or give --from and --to (rows outside are then listed as outside the range)"
        )
    return first, last


def reconcile_real(
    ledger: str,
    *,
    start: date | None,
    end: date | None,
    environment: str | None,
    base_url: str | None,
    args: Args,
) -> None:
    """The real run: everything local is checked before the first request."""
    from ._job import run_real
    from ._output import Display, make_consoles, verbose_logging

    check_outputs(args.outputs, ledger)
    try:
        loaded = load_ledger(ledger)
    except (LedgerError, OSError) as exc:
        raise fail(str(exc)) from None
    as_of = args.as_of if args.as_of is not None else _today(args.tz)
    try:
        check_ledger_dates(loaded.rows, as_of=as_of, path=ledger)
    except LedgerError as exc:
        raise fail(f"{exc}\n(give --as-of if the ledger is meant to run later)") from None
    first, last = derive_range(loaded.rows, start, end, args.max_range_days)
    if last > as_of:
        raise fail(f"--to ({last}) is after the as-of day ({as_of})")
    out, err = make_consoles()
    display = Display(out, err, quiet=args.quiet, unit="shards" if args.dask else "windows")
    display.note(
        f"Read {len(loaded.rows):,} ledger rows from {ledger} "
        f"({loaded.delimiter_name}-separated, {loaded.encoding.upper()})"
    )
    options = _options(args, as_of)
    progress = Progress()
    # The ledger lives until the end: keep the cyclic collector from re-walking its rows on
    # every collection the run triggers (the command owns the process; undone afterwards).
    gc.freeze()

    run: Any = run_real
    if args.dask is not None:
        from ._dask_job import run_real_on_dask

        run = functools.partial(run_real_on_dask, dask=args.dask, on_session=_on_session(display))

    async def job() -> Any:
        with verbose_logging(progress, verbose=args.verbose):
            with display.running(f"Reconciling {first}..{last}"):
                return await run(
                    loaded.rows,
                    start=first,
                    end=last,
                    environment=environment,
                    base_url=base_url,
                    options=options,
                    progress=progress,
                    on_progress=display.update,
                )

    try:
        outcome = run_async(job, args.backend, progress)
    finally:
        gc.unfreeze()
    _finish(outcome.report, outcome.stopped_by, progress, args, out, display)
    raise click.exceptions.Exit(EXIT_CLEAN if outcome.report.clean else EXIT_DISCREPANCIES)


def _options(args: Args, as_of: date) -> Any:
    from ._job import Options

    return Options(
        concurrency=args.concurrency,
        stale_days=args.stale_days,
        window_days=args.window_days,
        page_size=args.page_size,
        as_of=as_of,
        tz=args.tz,
        tolerance_days=args.tolerance_days,
    )


def _finish(
    report: Report, stopped_by: int | None, progress: Progress, args: Args, out: Any, display: Any
) -> None:
    """Summary, reports; on a signal, the interrupted message and its exit code."""
    from ._output import print_summary

    print_summary(out, report, progress, quiet=args.quiet)
    written = _write(report, args.outputs, display)
    if stopped_by is not None:
        _interrupted_message(progress, written)
        raise click.exceptions.Exit(EXIT_CODES.get(signal.Signals(stopped_by), 130))


def _write(report: Report, outputs: Sequence[str], display: Any) -> list[str]:
    written = []
    for path in outputs:
        try:
            report.write(path)
        except (OSError, ValueError) as exc:
            raise fail(f"could not write {path}: {exc}") from None
        written.append(path)
        display.note(f"Report written to {path}" + (" (partial)" if report.partial else ""))
    return written


def reconcile_sandbox(*, seed: int, faults: bool, args: Args) -> None:
    """The sandbox demo: planted discrepancies, found over real sockets."""
    from ._job import SandboxOutcome, prepare_world, run_sandbox
    from ._output import Display, make_consoles, verbose_logging

    check_outputs(args.outputs)
    out, err = make_consoles()
    display = Display(out, err, quiet=args.quiet, unit="shards" if args.dask else "windows")
    progress = Progress()
    display.note(f"Seeding the sandbox world (seed {seed})" + (", with faults" if faults else ""))
    try:
        prepared = prepare_world(seed=seed, stale_days=args.stale_days, faults=faults)
    except KeyboardInterrupt:
        click.echo("\nflexiti: interrupted while seeding; nothing was listed.", err=True)
        raise click.exceptions.Exit(EXIT_CODES[signal.SIGINT]) from None
    except OSError as exc:
        raise fail(f"could not write the sandbox ledger: {exc}") from None
    world = prepared.world
    options = attrs.evolve(_options(args, world.as_of), stale_days=world.stale_days)

    def ready(base_url: str) -> None:
        display.note(f"Sandbox serving {base_url}; ledger of {len(prepared.rows):,} rows")

    run: Callable[..., Awaitable[SandboxOutcome]] = run_sandbox
    if args.dask is not None:
        from ._dask_job import run_sandbox_on_dask

        run = functools.partial(
            run_sandbox_on_dask, dask=args.dask, on_session=_on_session(display)
        )

    async def job() -> SandboxOutcome:
        with verbose_logging(progress, verbose=args.verbose):
            with display.running("Reconciling the sandbox world"):
                return await run(
                    prepared,
                    seed=seed,
                    options=options,
                    progress=progress,
                    on_progress=display.update,
                    on_ready=ready,
                )

    outcome: SandboxOutcome = run_async(job, args.backend, progress)
    report = outcome.report
    _finish(report, outcome.stopped_by, progress, args, out, display)
    _compare_planted(out, outcome, faults)


def _on_session(display: Any) -> Callable[[Any], None]:
    """Say where the shards run once the Dask workers are ready (and where to watch)."""

    def note(session: Any) -> None:
        where = "local" if session.local else "cluster"
        link = session.dashboard_link or "n/a"
        display.note(f"Dask: {session.workers} {where} workers; dashboard {link}")

    return note


def _compare_planted(out: Any, outcome: Any, faults: bool) -> None:
    found = outcome.report.keys()
    agree = found == outcome.planted
    faults_text = f"; {outcome.faults_fired} faults injected" if faults else ""
    out.print(
        f"Planted {len(outcome.planted)} discrepancies, found {len(found)}: "
        + ("all agree" if agree else "MISMATCH")
        + f" ({outcome.authorizations:,} authorizations{faults_text})",
        highlight=False,
        soft_wrap=True,
    )
    if not agree:
        for key in sorted(outcome.planted - found):
            out.print(f"  planted, not found: {key}", highlight=False, markup=False)
        for key in sorted(found - outcome.planted):
            out.print(f"  found, not planted: {key}", highlight=False, markup=False)
        raise click.exceptions.Exit(EXIT_FAILURE)
    raise click.exceptions.Exit(EXIT_CLEAN)
