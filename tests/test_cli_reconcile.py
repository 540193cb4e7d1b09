"""``flexiti reconcile`` as a merchant meets it: checks before any network work, reports safe
for spreadsheets, greppable output, verbose logs, signals with partial reports."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import click
import pytest
from click.testing import CliRunner

from flexiti_async.cli._app import cli
from flexiti_async.cli._sandbox_world import build_world
from flexiti_async.reconcile import ledger_csv

FAKE_CREDENTIALS = {"FLEXITI_CLIENT_ID": "cid", "FLEXITI_CLIENT_SECRET": "secret"}
HEADER = "reference,store,amount,date,kind\n"
# Nothing listens here: a run that got as far as the network would fail differently.
NOWHERE = ["--base-url", "http://127.0.0.1:9/flexiti/pos-api"]


def invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["reconcile", *args], env=env or FAKE_CREDENTIALS)


def ledger_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "ledger.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("missing/report.json", "does not exist"),
        ("report.txt", ".csv or .json"),
        (".", "directory"),
    ],
)
def test_out_is_checked_before_any_network_work(tmp_path: Path, out: str, message: str) -> None:
    ledger = ledger_file(tmp_path, "A,S1,1.00,2024-03-01,sale\n")
    result = invoke(["--ledger", ledger, "--out", str(tmp_path / out), *NOWHERE])
    assert result.exit_code == 2
    assert message in result.output
    assert "listed" not in result.output
    assert "connect" not in result.output.lower()


def test_out_may_not_overwrite_the_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(HEADER + "A,S1,1.00,2024-03-01,sale\n", encoding="utf-8")
    same = f"{tmp_path}/./ledger.csv"
    result = invoke(["--ledger", str(ledger), "--out", same, *NOWHERE])
    assert result.exit_code == 2
    assert "overwrite the ledger" in result.output


def test_a_date_after_as_of_is_an_input_error_with_its_line(tmp_path: Path) -> None:
    ledger = ledger_file(tmp_path, "A,S1,1.00,2026-12-06,sale\nB,S1,1.00,2062-12-06,sale\n")
    result = invoke(["--ledger", ledger, "--as-of", "2026-12-06", *NOWHERE])
    assert result.exit_code == 2
    assert (
        "line 3, column 'date': date 2062-12-06 is after the as-of day 2026-12-06" in result.output
    )


def test_a_derived_range_too_long_is_refused_naming_the_rows(tmp_path: Path) -> None:
    body = "".join(f"R{i},S1,1.00,2026-11-{i + 1:02d},sale\n" for i in range(20))
    ledger = ledger_file(tmp_path, body + "TYPO,S1,1.00,2062-12-06,sale\n")
    result = invoke(["--ledger", ledger, "--as-of", "2063-01-01", *NOWHERE])
    assert result.exit_code == 2
    assert "more than --max-range-days 400" in result.output
    assert "line 22 (2062-12-06)" in result.output
    assert "line 2 " not in result.output


def test_unknown_time_zone_is_a_usage_error(tmp_path: Path) -> None:
    ledger = ledger_file(tmp_path, "A,S1,1.00,2024-03-01,sale\n")
    result = invoke(["--ledger", ledger, "--tz", "Mars/Olympus_Mons", *NOWHERE])
    assert result.exit_code == 2
    assert "unknown time zone" in result.output


def test_a_bad_ledger_names_line_and_column(tmp_path: Path) -> None:
    ledger = ledger_file(tmp_path, "A\x00B,S1,1.00,2024-03-01,sale\n")
    result = invoke(["--ledger", ledger, *NOWHERE])
    assert result.exit_code == 2
    assert "line 2, column 'reference': control character U+0000" in result.output


def test_every_option_has_help_text() -> None:
    for name in ("reconcile",):
        command = cli.commands[name]
        assert isinstance(command, click.Command)
        missing = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
        assert missing == []
    serve = cli.commands["sandbox"].commands["serve"]  # type: ignore[attr-defined]
    assert [p.name for p in serve.params if isinstance(p, click.Option) and not p.help] == []
    text = invoke(["--help"]).output
    for flag in ("--window-days", "--page-size", "--tz", "--tolerance-days", "--verbose"):
        assert flag in text


def test_the_sandbox_run_leaves_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = invoke(
        ["--sandbox", "--quiet"], env={"FLEXITI_CLIENT_ID": "", "FLEXITI_CLIENT_SECRET": ""}
    )
    assert result.exit_code == 0, result.output
    assert "all agree" in result.output
    assert os.listdir(tmp_path) == []


async def _run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = await anyio.run_process(
        [sys.executable, "-m", "flexiti_async.cli", "reconcile", *args], env=env, check=False
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def _env(world: Any) -> dict[str, str]:
    env = {
        **os.environ,
        "FLEXITI_CLIENT_ID": world.sandbox.client_id,
        "FLEXITI_CLIENT_SECRET": world.sandbox.client_secret,
    }
    env.pop("FLEXITI_BASE_URL", None)
    return env


@pytest.mark.anyio
async def test_reports_are_safe_for_spreadsheets_and_stdout_is_greppable(tmp_path: Path) -> None:
    world = build_world(seed=11, stores=3, days=6, per_day=2)
    hostile = '=HYPERLINK("http://evil.example","click")'
    extra = f'"{hostile.replace(chr(34), chr(34) * 2)}",+S9,12.00,{world.start},sale\n'
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(ledger_csv(world.ledger) + extra, encoding="utf-8")
    out_csv, out_json = tmp_path / "report.csv", tmp_path / "report.json"
    async with world.sandbox.serve() as base_url:
        code, stdout, stderr = await _run_cli(
            [
                "--ledger", str(ledger), "--from", str(world.start), "--to", str(world.end),
                "--as-of", str(world.as_of), "--base-url", base_url, "-v",
                "--out", str(out_csv), "--out", str(out_json),
            ],
            _env(world),
        )  # fmt: skip
    assert code == 1, stderr
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    cell = next(r for r in rows if "HYPERLINK" in r["reference"])
    assert cell["reference"] == "'" + hostile
    assert cell["store"] == "'+S9"
    assert cell["ledger_amount"] == "12.00"
    mismatch = next(r for r in rows if r["kind"] == "amount_mismatch" and r["entry"] == "sale")
    assert mismatch["difference"].startswith(
        ("-", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
    )
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert any(d["reference"] == hostile for d in data["discrepancies"])
    # Off a terminal: one whole line per discrepancy, found by its reference.
    found = [line for line in stdout.splitlines() if "HYPERLINK" in line]
    assert len(found) == 1
    assert found[0].startswith("discrepancy missing_in_flexiti\treference=" + hostile)
    for key in world.planted:
        assert (
            sum(key[1] in line for line in stdout.splitlines() if line.startswith("discrepancy"))
            >= 1
        )
    # -v: the client's DEBUG lines, redacted.
    assert "DEBUG" in stderr
    assert world.sandbox.client_secret not in stderr + stdout
    assert "comma-separated" in stderr


async def _interrupt(tmp_path: Path, signum: int, backend: str) -> tuple[int, str, dict[str, Any]]:
    world = build_world(seed=5, stores=3, days=12, per_day=3)
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(ledger_csv(world.ledger), encoding="utf-8")
    out_json = tmp_path / "report.json"
    args = [
        sys.executable, "-m", "flexiti_async.cli", "reconcile", "--ledger", str(ledger),
        "--from", str(world.start), "--to", str(world.end), "--as-of", str(world.as_of),
        "--concurrency", "1", "--page-size", "5", "--out", str(out_json), "--backend", backend,
    ]  # fmt: skip
    async with world.sandbox.serve() as base_url:
        process = await anyio.open_process([*args, "--base-url", base_url], env=_env(world))
        assert process.stderr is not None
        seen = b""
        with anyio.fail_after(60):  # a guard against a hang, not a timing assertion
            while b"[3/" not in seen:
                seen += await process.stderr.receive()
        gate = world.sandbox.faults.hold("*")  # later requests wait: the run is mid-way
        await gate.wait_for(1)
        process.send_signal(signum)
        with anyio.fail_after(60):
            code = await process.wait()
            async for chunk in process.stderr:
                seen += chunk
        gate.release()
    return code, seen.decode(), json.loads(out_json.read_text(encoding="utf-8"))


@pytest.mark.anyio
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_signal_writes_the_partial_report(
    tmp_path: Path, signum: int, code: int, anyio_backend: tuple[str, object]
) -> None:
    # The command runs on the same event loop flavour as the test.
    got, stderr, report = await _interrupt(tmp_path, signum, anyio_backend[0])
    assert got == code, stderr
    assert "flexiti: interrupted; " in stderr
    assert "Partial report written to" in stderr
    assert report["partial"] is True
    assert report["clean"] is False
    assert report["windows_done"]
    assert report["windows_done"][0]["listing"] in ("authorizations", "captures")
    assert report["unchecked_lines"]


@pytest.mark.anyio
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_signal_while_the_ledger_is_read_exits_with_the_same_message(
    tmp_path: Path, signum: int, code: int
) -> None:
    # The ledger is a named pipe: the command is still reading it when the signal arrives, so
    # no listing can have started. The rows written after the signal unblock the read (the
    # signal may land on a thread other than the one reading) and give the interpreter the
    # moment to run the handler before the ledger ends.
    pipe = tmp_path / "ledger.csv"
    os.mkfifo(pipe)
    args = [sys.executable, "-m", "flexiti_async.cli", "reconcile", "--ledger", str(pipe), *NOWHERE]
    process = await anyio.open_process(args, env={**os.environ, **FAKE_CREDENTIALS})
    assert process.stderr is not None
    # Opening the pipe for writing returns once the command has opened it for reading.
    writer = await anyio.to_thread.run_sync(lambda: pipe.open("w", encoding="utf-8"))
    try:
        writer.write(HEADER)
        writer.flush()
        process.send_signal(signum)
        with contextlib.suppress(BrokenPipeError):  # the command may already have stopped
            writer.write("R-1,S-1,1.00,2024-03-01,sale\n" * 50_000)
            writer.close()
        with anyio.fail_after(60):  # a guard against a hang, not a timing assertion
            got = await process.wait()
            stderr = b"".join([chunk async for chunk in process.stderr]).decode()
    finally:
        with contextlib.suppress(BrokenPipeError):
            writer.close()
    assert got == code, stderr
    assert "flexiti: interrupted before any listing finished; no report was written." in stderr
    assert "Traceback" not in stderr
