"""Every Python block in README.md is type-checked; the ones marked to run are run.

A block preceded by ``<!-- example: run -->`` is executed here against a sandbox served on
127.0.0.1 (the strict default sandbox), under asyncio and trio. Every block, marked or not,
is written as a module by ``python -m tests.test_readme_examples DIR`` for
``mypy --strict DIR`` (the ``typecheck`` nox session does both).

Blocks may use top-level ``await`` and these given names: ``flexiti`` (a merchant-scope
client), ``sandbox``, ``account_number``, ``authorization_id``, ``n``, ``order_id``,
``store_id``, ``account_numbers``, ``log`` and ``lookup_one()``. ``test_*`` functions a block
defines are called with the ``flexiti_sandbox`` / ``flexiti_client`` fixtures they name.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from tests._examples import Block, as_module, extract, open_authorization, run_block

README = Path(__file__).resolve().parent.parent / "README.md"

#: Declarations of the given names, for the type checker.
PREAMBLE = """\
import logging as _logging

import flexiti_async as _flexiti_async
import flexiti_async.models as _models
import flexiti_async.testing as _testing

flexiti: _flexiti_async.FlexitiClient
sandbox: _testing.FlexitiSandbox
account_number: int
authorization_id: int
n: int
order_id: str
store_id: str
account_numbers: list[int]
log: _logging.Logger


async def lookup_one(account_number: int) -> _models.CustomerProfile:
    raise NotImplementedError


"""


def all_blocks() -> list[Block]:
    """Every Python block; an unmarked one is type-checked."""
    return extract(README.read_text(encoding="utf-8"), "README.md", default_mode="check")


def write_checks(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for block in all_blocks():
        path = folder / f"readme_{block.line:04d}.py"
        path.write_text(f"# {block.id}\n" + as_module(block, PREAMBLE), encoding="utf-8")
        written.append(path)
    return written


# -- tests -------------------------------------------------------------------------------


def test_readme_has_runnable_flows() -> None:
    blocks = all_blocks()
    assert len(blocks) >= 10
    runnable = [block.code for block in blocks if block.mode == "run"]
    assert any("read_pin" in code and "verification_code=pin" in code for code in runnable)
    assert any("widget.init" in code for code in runnable)


@pytest.mark.parametrize("block", all_blocks(), ids=lambda block: block.id)
def test_every_block_parses(block: Block) -> None:
    compile(as_module(block, PREAMBLE), block.id, "exec")


RUN = [block for block in all_blocks() if block.mode == "run"]


@pytest.fixture
async def given(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    """A strict sandbox on 127.0.0.1, a client for it, and the given names."""
    pytest.importorskip("uvicorn")
    from flexiti_async import FlexitiClient
    from flexiti_async.testing import FlexitiSandbox

    sandbox = FlexitiSandbox(seed=1)
    account = sandbox.add_account(status="N", province="ON", credit_limit="5000.00")
    async with sandbox.serve() as base_url:
        monkeypatch.setenv("FLEXITI_CLIENT_ID", sandbox.client_id)
        monkeypatch.setenv("FLEXITI_CLIENT_SECRET", sandbox.client_secret)
        monkeypatch.setenv("FLEXITI_BASE_URL", base_url)
        monkeypatch.delenv("FLEXITI_ENVIRONMENT", raising=False)
        async with FlexitiClient(
            sandbox.client_id, sandbox.client_secret, base_url=base_url
        ) as client:
            yield {
                "flexiti": client,
                "sandbox": sandbox,
                "account_number": account.account_number,
                "n": account.account_number,
                "order_id": "ORDER-README",
                "store_id": sandbox.stores[0].external_location_id,
                "log": logging.getLogger("readme.example"),
            }


@pytest.mark.anyio
@pytest.mark.needs_service("uvicorn")
@pytest.mark.parametrize("block", RUN, ids=lambda block: block.id)
async def test_run_block(block: Block, given: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_example", **given}
    if "authorization_id" in block.code:
        namespace["authorization_id"] = await open_authorization(
            given["flexiti"], given["account_number"], "README-0001"
        )
    sandbox = given["sandbox"]
    before = len(sandbox.ledger)
    fixtures = {"flexiti_sandbox": sandbox, "flexiti_client": given["flexiti"]}
    await run_block(block, namespace, fixtures)
    if "authorizations.create" in block.code:  # a flow block moved money, for real
        assert len(sandbox.ledger) > before


def _instore_block() -> Block:
    return next(block for block in RUN if "read_pin" in block.code)


async def _read_until_ready(process: subprocess.Popen[str]) -> dict[str, str]:
    """The variables `flexiti sandbox serve` prints, read from its stdout (bounded)."""
    assert process.stdout is not None
    found: dict[str, str] = {}
    with anyio.fail_after(60):
        for _ in range(50):  # a handful of lines, then the account line
            line = await anyio.to_thread.run_sync(process.stdout.readline)
            if not line:
                break
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                found[name] = value
            elif line.startswith("# an account"):
                found["ACCOUNT"] = line.rsplit(":", 1)[1].strip()
                break
    return found


@pytest.mark.anyio
@pytest.mark.needs_service("uvicorn")
async def test_instore_flow_against_flexiti_sandbox_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's in-store block, as written, against the sandbox in another process."""
    command = [sys.executable, "-m", "flexiti_async.cli", "sandbox", "serve", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = await _read_until_ready(process)
        assert {"FLEXITI_BASE_URL", "FLEXITI_CLIENT_ID", "FLEXITI_CLIENT_SECRET"} <= set(ready)
        for name in ("FLEXITI_BASE_URL", "FLEXITI_CLIENT_ID", "FLEXITI_CLIENT_SECRET"):
            monkeypatch.setenv(name, ready[name])
        monkeypatch.delenv("FLEXITI_ENVIRONMENT", raising=False)
        block = _instore_block()
        namespace: dict[str, Any] = {"account_number": int(ready["ACCOUNT"])}
        await run_block(block, namespace, {})
        # The flow ran to its end: the hold was partly captured, returned, then released.
        assert namespace["auth"].amount == Decimal("1200.00")
        assert namespace["capture"].amount == Decimal("900.00")
    finally:
        process.terminate()  # the process this test started, by its handle
        await anyio.to_thread.run_sync(process.wait, 30)


if __name__ == "__main__":
    for written in write_checks(Path(sys.argv[1])):
        print(written)
