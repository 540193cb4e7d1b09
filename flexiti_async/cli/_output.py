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

from ..reconcile import Discrepancy, DiscrepancyKind, Report
from ..reconcile import Progress as RunProgress

__all__ = ["Display", "count_retries", "make_consoles", "print_summary"]

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
    """(stdout, stderr) consoles; wide when not a terminal so tables don't wrap in logs."""
    out = Console(width=None if sys.stdout.isatty() else 120)
    err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    return out, err


class Display:
    """Progress while the run goes: a rich bar on a terminal, plain lines otherwise.

    ``update`` is the engine's ``on_progress`` callback: it runs on the event loop after
    every page, so it only copies counters (rich redraws from its own thread).
    """

    def __init__(self, out: Console, err: Console, *, quiet: bool) -> None:
        self._quiet = quiet
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
                    "windows · {task.fields[pages]} pages · {task.fields[items]} items · "
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
            self._bar.update(
                self._task,
                total=progress.windows_total,
                completed=progress.windows_done,
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
                    f"(total: {progress.pages} pages, {progress.items} items, "
                    f"{progress.retries} retries)",
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
        ids = len(item.authorization_ids)
        lines = ",".join(str(n) for n in item.ledger_lines)
        return f"twice in {where}: {ids} authorizations, ledger lines {lines or '-'}"
    if item.kind is DiscrepancyKind.STALE_AUTHORIZATION:
        return f"open {item.age_days} days since {item.created}: release candidate"
    if item.kind is DiscrepancyKind.AMOUNT_MISMATCH and item.difference is not None:
        return f"ledger {item.difference:+}"
    return ""


def print_summary(out: Console, report: Report, progress: RunProgress, *, quiet: bool) -> None:
    """The result: a counts table, the first discrepancies, and the run's figures."""
    counts = report.counts()
    total = len(report.discrepancies)
    if quiet:
        parts = ", ".join(f"{n} {_LABELS[k]}" for k, n in counts.items() if n)
        out.print(
            f"{report.matched} matched, {total} discrepancies" + (f" ({parts})" if parts else ""),
            highlight=False,
            soft_wrap=True,
        )
        return
    stats = report.stats
    out.print(
        f"[bold]Reconciliation {report.start} .. {report.end}[/bold] "
        f"(as of {report.as_of}; open authorizations are stale after {report.stale_days} days)"
    )
    table = Table()
    table.add_column("result")
    table.add_column("count", justify="right")
    table.add_row("matched", str(report.matched), style="green")
    for kind, n in counts.items():
        table.add_row(_LABELS[kind], str(n), style="red" if n else "dim")
    out.print(table)
    out.print(
        f"ledger rows {stats.get('ledger_rows', 0)} "
        f"(outside the range {stats.get('ledger_rows_outside_range', 0)}) · "
        f"authorizations {stats.get('authorizations', 0)} · captures {stats.get('captures', 0)} "
        f"· voided {stats.get('voided_authorizations', 0)} · windows {stats.get('windows', 0)} "
        f"· pages {progress.pages} · retries {progress.retries}",
        highlight=False,
        soft_wrap=True,
    )
    if not total:
        return
    details = Table(title="Discrepancies", title_justify="left")
    details.add_column("kind")
    details.add_column("reference", overflow="fold")
    details.add_column("store")
    details.add_column("entry")
    details.add_column("ledger", justify="right")
    details.add_column("Flexiti", justify="right")
    details.add_column("note")
    for item in report.discrepancies[:_SHOWN]:
        details.add_row(
            _LABELS[item.kind],
            item.reference or "#" + " ".join(str(i) for i in item.authorization_ids),
            item.store or "",
            item.entry.value,
            _money(item.ledger_amount),
            _money(item.flexiti_amount),
            _note(item),
        )
    out.print(details)
    if total > _SHOWN:
        out.print(f"... and {total - _SHOWN} more (write them all with --out report.csv)")
