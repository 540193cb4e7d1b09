"""What the command shows: live progress (rich on a terminal, log lines otherwise), the summary."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from ..reconcile import Discrepancy, DiscrepancyKind, Report
from ..reconcile import Progress as RunProgress

__all__ = [
    "Display",
    "count_retries",
    "make_consoles",
    "plural",
    "print_summary",
    "safe",
    "verbose_logging",
]

# Rows of the discrepancy table printed on screen; the --out file has all of them.
_SHOWN = 25

_LABELS = {
    DiscrepancyKind.AMOUNT_MISMATCH: "amount mismatch",
    DiscrepancyKind.MISSING_IN_FLEXITI: "missing in Flexiti",
    DiscrepancyKind.MISSING_IN_LEDGER: "missing in ledger",
    DiscrepancyKind.DUPLICATE_REFERENCE: "duplicate reference",
    DiscrepancyKind.DATE_MISMATCH: "date mismatch",
    DiscrepancyKind.STALE_AUTHORIZATION: "stale open authorization",
}


def make_consoles() -> tuple[Console, Console]:
    """(stdout, stderr) consoles. Off a terminal, no colour codes and no wrapping: the
    summary is printed as plain lines there (see `print_summary`)."""
    out = Console(width=None if sys.stdout.isatty() else 10_000, soft_wrap=not sys.stdout.isatty())
    err = Console(
        stderr=True,
        width=None if sys.stderr.isatty() else 10_000,
        soft_wrap=not sys.stderr.isatty(),
    )
    return out, err


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 authorization``, ``2 authorizations``, ``1,204 discrepancies``."""
    word = noun if count == 1 else (plural_form or noun + "s")
    return f"{count:,} {word}"


def safe(text: str | None) -> str:
    """Text from Flexiti or the ledger made safe for a terminal: control characters escaped."""
    if text is None:
        return ""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


class Display:
    """Progress while the run goes: a rich bar on a terminal, plain lines otherwise.

    ``update`` is the engine's ``on_progress`` callback: it runs on the event loop after
    every page, so it only copies counters (rich redraws from its own thread). The bar
    counts listings (``unit="windows"``), or whole shards (``"shards"``: a Dask run, whose
    progress arrives a shard at a time).
    """

    def __init__(self, out: Console, err: Console, *, quiet: bool, unit: str = "windows") -> None:
        self._quiet = quiet
        self._unit = unit
        self._live = not quiet and out.is_terminal
        self._err = err
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._logged = 0
        if self._live:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    unit + " · {task.fields[pages]} pages · {task.fields[items]} items · "
                    "{task.fields[retries]} retries"
                ),
                TimeElapsedColumn(),
                console=out,
                transient=False,
            )

    @contextmanager
    def running(self, description: str) -> Iterator[Display]:
        """Show the bar (if any) for the duration of the block."""
        if self._bar is None:
            yield self
            return
        with self._bar:
            self._task = self._bar.add_task(description, total=None, pages=0, items=0, retries=0)
            yield self

    def update(self, progress: RunProgress) -> None:
        """Reflect the run's counters (called by the engine)."""
        if self._bar is not None and self._task is not None:
            shards = self._unit == "shards"
            self._bar.update(
                self._task,
                total=progress.shards_total if shards else progress.windows_total,
                completed=progress.shards_done if shards else progress.windows_done,
                pages=progress.pages,
                items=progress.items,
                retries=progress.retries,
            )
        elif not self._quiet and progress.windows_done > self._logged:
            # One line per finished listing: readable in CI logs and in a pipe.
            for listing, first, last in progress.completed[self._logged :]:
                span = str(first) if first == last else f"{first}..{last}"
                self._logged += 1
                self._err.print(
                    f"[{self._logged}/{progress.windows_total}] {listing} {span} listed "
                    f"(so far {plural(progress.pages, 'page')}, "
                    f"{plural(progress.items, 'item')}, "
                    f"{plural(progress.retries, 'retry', 'retries')})",
                    highlight=False,
                    markup=False,
                )

    def note(self, text: str) -> None:
        """An informational line (suppressed by --quiet)."""
        if self._quiet:
            return
        # While the live bar is drawn, print through it so the line lands above the bar.
        console = self._bar.console if self._bar is not None and self._task is not None else None
        (console or self._err).print(text, highlight=False, markup=False)


class _RetryCounter(logging.Handler):
    """Counts the client's retried attempts from its debug log ("... (attempt N, ...)")."""

    def __init__(self, progress: RunProgress) -> None:
        super().__init__(logging.DEBUG)
        self._progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        # The pipeline logs (method, path, outcome, ms, attempt, reference id) per attempt.
        attempt = args[4] if isinstance(args, tuple) and len(args) == 6 else None
        if isinstance(attempt, int) and attempt > 1:
            self._progress.retries += 1


@contextmanager
def verbose_logging(progress: RunProgress, *, verbose: bool) -> Iterator[None]:
    """Count retries; with ``verbose``, also print the client's DEBUG lines on stderr.

    The client redacts its own log lines (tokens, secrets, card numbers never appear), so
    they are printed as they are.
    """
    with count_retries(progress):
        if not verbose:
            yield
            return
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger = logging.getLogger("flexiti_async")
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)


@contextmanager
def count_retries(progress: RunProgress) -> Iterator[None]:
    """Count retried attempts into ``progress.retries`` while the block runs.

    The engine never sees a retry (the client hides them), so this listens to the
    ``flexiti_async`` logger's per-attempt debug records; an attempt numbered 2 or more is
    a retry (a 401 replay after a token expiry counts too).
    """
    logger = logging.getLogger("flexiti_async")
    handler = _RetryCounter(progress)
    level = logger.level
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    # Don't pass the per-request debug lines on to whatever the root logger prints.
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _money(value: Any) -> str:
    return "" if value is None else str(value)


def _note(item: Discrepancy) -> str:
    """What the amount columns don't say."""
    if item.kind is DiscrepancyKind.DUPLICATE_REFERENCE:
        where = item.side.value if item.side else ""
        lines = ",".join(str(n) for n in item.ledger_lines)
        return (
            f"more than once in {where}: {plural(len(item.authorization_ids), 'authorization')}, "
            f"ledger lines {lines or '-'}"
        )
    if item.kind is DiscrepancyKind.STALE_AUTHORIZATION:
        return f"open {plural(item.age_days or 0, 'day')} since {item.created}: release candidate"
    if item.kind is DiscrepancyKind.DATE_MISMATCH:
        return f"ledger {item.ledger_date}, Flexiti {item.flexiti_date}"
    if item.kind is DiscrepancyKind.AMOUNT_MISMATCH and item.difference is not None:
        return f"ledger {item.difference:+}"
    return ""


def _reference(item: Discrepancy) -> str:
    if item.reference is None:
        return "#" + " ".join(str(i) for i in item.authorization_ids)
    return safe(item.reference)


def _stats_line(report: Report, progress: RunProgress) -> str:
    stats = report.stats
    rows = stats.get("ledger_rows", 0)
    return (
        f"{plural(rows, 'ledger row')} ({stats.get('ledger_rows_outside_range', 0):,} outside "
        f"the range) · {plural(stats.get('authorizations', 0), 'authorization')} · "
        f"{plural(stats.get('captures', 0), 'capture')} · "
        f"{stats.get('voided_authorizations', 0):,} voided · "
        f"{plural(stats.get('windows', 0), 'window')} · {plural(progress.pages, 'page')} · "
        f"{plural(progress.retries, 'retry', 'retries')}"
    )


def _heading(report: Report) -> str:
    partial = "PARTIAL (interrupted) " if report.partial else ""
    return (
        f"{partial}Reconciliation {report.start} .. {report.end} in {report.tz} (as of "
        f"{report.as_of}; dates within {plural(report.tolerance_days, 'day')}; open "
        f"authorizations are stale after {plural(report.stale_days, 'day')})"
    )


def print_summary(out: Console, report: Report, progress: RunProgress, *, quiet: bool) -> None:
    """The result: counts, the discrepancies, and the run's figures.

    On a terminal: tables (the first discrepancies). Elsewhere (a pipe, a file, CI): plain
    lines, one per discrepancy and one per row outside the range, never wrapped, so that
    ``grep REFERENCE`` finds the whole line.
    """
    counts = report.counts()
    total = len(report.discrepancies)
    if quiet:
        parts = ", ".join(f"{n:,} {_LABELS[k]}" for k, n in counts.items() if n)
        out.print(
            f"{report.matched:,} matched, {plural(total, 'discrepancy', 'discrepancies')}"
            + (f" ({parts})" if parts else "")
            + (" [partial: interrupted]" if report.partial else ""),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return
    if not out.is_terminal:
        _print_plain(out, report, progress)
        return
    out.print(Text(_heading(report), style="bold"))
    table = Table()
    table.add_column("result")
    table.add_column("count", justify="right")
    table.add_row("matched", f"{report.matched:,}", style="green")
    for kind, n in counts.items():
        table.add_row(_LABELS[kind], f"{n:,}", style="red" if n else "dim")
    table.add_row("outside the range", f"{len(report.outside_range):,}", style="dim")
    if report.partial:
        table.add_row("not checked (interrupted)", f"{len(report.unchecked_lines):,}")
    out.print(table)
    out.print(_stats_line(report, progress), highlight=False, markup=False, soft_wrap=True)
    if not total:
        return
    details = Table(title="Discrepancies", title_justify="left")
    for name in ("kind", "reference", "store", "entry", "ledger", "Flexiti", "note"):
        right = name in ("ledger", "Flexiti")
        details.add_column(name, justify="right" if right else "left", overflow="fold")
    for item in report.discrepancies[:_SHOWN]:
        details.add_row(
            *(
                Text(cell)  # Text, not markup: a reference may contain "[bold]"
                for cell in (
                    _LABELS[item.kind],
                    _reference(item),
                    safe(item.store),
                    item.entry.value,
                    _money(item.ledger_amount),
                    _money(item.flexiti_amount),
                    _note(item),
                )
            )
        )
    out.print(details)
    if total > _SHOWN:
        out.print(f"... and {total - _SHOWN:,} more (write them all with --out report.csv)")


def _print_plain(out: Console, report: Report, progress: RunProgress) -> None:
    def line(text: str) -> None:
        # Straight to the stream: rich would expand the tabs that separate the fields.
        out.file.write(text + "\n")

    line(_heading(report))
    line(f"matched: {report.matched:,}")
    for kind, n in report.counts().items():
        line(f"{_LABELS[kind]}: {n:,}")
    line(f"outside the range: {len(report.outside_range):,}")
    if report.partial:
        line(f"not checked (interrupted): {len(report.unchecked_lines):,}")
    line(_stats_line(report, progress))
    for item in report.discrepancies:
        fields = [
            f"discrepancy {item.kind.value}",
            f"reference={_reference(item)}",
            f"store={safe(item.store)}",
            f"entry={item.entry.value}",
            f"ledger={_money(item.ledger_amount)}",
            f"flexiti={_money(item.flexiti_amount)}",
            f"lines={','.join(str(n) for n in item.ledger_lines)}",
        ]
        note = _note(item)
        line("\t".join(fields) + (f"\tnote={note}" if note else ""))
    for row in report.outside_range:
        line(
            f"outside_range line={row.line}\treference={safe(row.reference)}\t"
            f"store={safe(row.store)}\tentry={row.kind.value}\tdate={row.date}\t"
            f"reason={row.reason}"
        )
