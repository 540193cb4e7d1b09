"""``flexiti reconcile`` end to end over the loopback sandbox, its outputs and exit codes."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from flexiti_async.cli._app import cli
from flexiti_async.cli._sandbox_world import build_world
from flexiti_async.reconcile import Progress, ledger_csv

NO_CREDENTIALS = {"FLEXITI_CLIENT_ID": "", "FLEXITI_CLIENT_SECRET": ""}
FAKE_CREDENTIALS = {"FLEXITI_CLIENT_ID": "cid", "FLEXITI_CLIENT_SECRET": "secret"}


@pytest.fixture(scope="module")
def planted() -> frozenset[tuple[str, str, str]]:
    """What the default --sandbox world plants (the CLI uses seed 2024)."""
    return build_world(seed=2024).planted


def invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    runner = CliRunner()
    return runner.invoke(cli, args, env=env if env is not None else NO_CREDENTIALS)


def keys_of_json(path: Path) -> set[tuple[str, str, str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {(d["kind"], d["reference"], d["entry"]) for d in data["discrepancies"]}


def test_sandbox_run_reports_exactly_the_planted_set(
    tmp_path: Path, planted: frozenset[tuple[str, str, str]]
) -> None:
    out_json, out_csv = tmp_path / "report.json", tmp_path / "report.csv"
    result = invoke(["reconcile", "--out", str(out_json), "--out", str(out_csv)])
    assert result.exit_code == 0, result.output
    assert f"Planted {len(planted)} discrepancies, found {len(planted)}: all agree" in result.output
    assert "running the sandbox demo" in result.output  # no credentials: sandbox by default
    assert keys_of_json(out_json) == planted
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["counts"]["stale_authorization"] == 3
    assert data["matched"] > 2500
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert {(r["kind"], r["reference"], r["entry"]) for r in rows} == planted
    mismatch = next(r for r in rows if r["kind"] == "amount_mismatch" and r["entry"] == "sale")
    assert re.fullmatch(r"-?\d+\.\d\d", mismatch["difference"])


def test_sandbox_run_with_faults_still_reports_the_planted_set(
    tmp_path: Path, planted: frozenset[tuple[str, str, str]]
) -> None:
    out_json = tmp_path / "report.json"
    result = invoke(
        [
            "reconcile",
            "--sandbox",
            "--faults",
            "--concurrency",
            "16",
            "--backend",
            "trio",
            "--out",
            str(out_json),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "all agree" in result.output
    fired = re.search(r"(\d+) faults injected", result.output)
    assert fired is not None
    assert int(fired.group(1)) > 0
    retries = re.findall(r"(\d+) retries", result.output)
    assert retries
    assert max(int(n) for n in retries) >= int(fired.group(1))
    assert keys_of_json(out_json) == planted


def test_quiet_sandbox_run_prints_one_summary_line() -> None:
    result = invoke(["reconcile", "--sandbox", "--quiet"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    assert "matched" in lines[0]
    assert "all agree" in lines[1]


def test_malformed_ledger_is_a_clear_error_with_exit_2(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        "reference,store,amount,date,kind\nA,S1,12.345,2024-01-02,sale\n"
        "B,S1,10.00,2024-13-01,sale\nC,S1,10.00,2024-01-02\n",
        encoding="utf-8",
    )
    result = invoke(["reconcile", "--ledger", str(ledger)], env=FAKE_CREDENTIALS)
    assert result.exit_code == 2
    assert "3 problems in the ledger" in result.output
    assert "line 2, column 'amount'" in result.output
    assert "line 3, column 'date'" in result.output
    assert "line 4: missing column(s) kind" in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["reconcile", "--faults"], FAKE_CREDENTIALS, "--faults works with --sandbox only"),
        (["reconcile", "--sandbox", "--from", "2024-01-01"], NO_CREDENTIALS, "--from cannot"),
        (["reconcile", "--sandbox", "--out", "r.txt"], NO_CREDENTIALS, ".csv or .json"),
        (["reconcile", "--sandbox", "--from", "2024-02-30"], NO_CREDENTIALS, "not a date"),
        (["reconcile"], FAKE_CREDENTIALS, "--ledger is required"),
    ],
)
def test_bad_options_exit_2(args: list[str], env: dict[str, str], message: str) -> None:
    result = invoke(args, env=env)
    assert result.exit_code == 2
    assert message in result.output


def test_ledger_without_credentials_exits_2(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text("reference,store,amount,date,kind\n", encoding="utf-8")
    result = invoke(["reconcile", "--ledger", str(ledger)])
    assert result.exit_code == 2
    assert "set FLEXITI_CLIENT_ID and FLEXITI_CLIENT_SECRET" in result.output


def test_ctrl_c_says_what_was_completed(monkeypatch: pytest.MonkeyPatch) -> None:
    import flexiti_async.cli._job as job

    async def interrupted(prepared: Any, *, progress: Progress, **kwargs: Any) -> Any:
        progress.windows_total = 60
        progress.windows_done = 1
        progress.completed.append(("authorizations", prepared.world.start, prepared.world.start))
        raise KeyboardInterrupt

    monkeypatch.setattr(job, "run_sandbox", interrupted)
    result = invoke(["reconcile", "--sandbox", "--quiet"])
    assert result.exit_code == 130
    assert "interrupted; 1 of 60 listings had finished" in result.output
    assert "No report was written" in result.output


def test_help_version_and_sandbox_serve_help() -> None:
    assert "--stale-days" in invoke(["reconcile", "--help"]).output
    assert invoke(["--version"]).exit_code == 0
    result = invoke(["sandbox", "serve", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output


def test_sandbox_serve_refuses_non_loopback() -> None:
    result = invoke(["sandbox", "serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_importing_the_library_or_the_cli_package_loads_neither_click_nor_rich() -> None:
    # httpx itself imports click and rich when they are installed (httpx/_main.py, its own
    # CLI), so the baseline is what `import httpx` loads; we must add none of them.
    code = (
        "import sys; import httpx; "
        "heavy = ('click', 'rich', 'uvicorn', 'starlette'); "
        "before = {m for m in heavy if m in sys.modules}; "
        "import flexiti_async, flexiti_async.cli, flexiti_async.reconcile; "
        "added = {m for m in heavy if m in sys.modules} - before; "
        "assert not added, added"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.anyio
async def test_real_credentials_path_over_loopback_subprocess(tmp_path: Path) -> None:
    """``--ledger`` + env credentials + ``--base-url`` against a served sandbox: exit 1."""
    world = build_world(seed=11, stores=3, days=9, per_day=3)
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(ledger_csv(world.ledger), encoding="utf-8")
    out_json = tmp_path / "report.json"
    async with world.sandbox.serve() as base_url:
        env = {
            **os.environ,
            "FLEXITI_CLIENT_ID": world.sandbox.client_id,
            "FLEXITI_CLIENT_SECRET": world.sandbox.client_secret,
        }
        env.pop("FLEXITI_BASE_URL", None)
        result = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "flexiti_async.cli",
                "reconcile",
                "--ledger",
                str(ledger),
                "--from",
                str(world.start),
                "--to",
                str(world.end),
                "--as-of",
                str(world.as_of),
                "--base-url",
                base_url,
                "--concurrency",
                "4",
                "--out",
                str(out_json),
            ],
            env=env,
            check=False,
        )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 1, output
    assert keys_of_json(out_json) == world.planted
    assert "listed" in output  # plain progress lines when not a terminal
    assert world.sandbox.client_secret not in output
