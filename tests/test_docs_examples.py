"""Every Python example on the docs site is run against the sandbox or type-checked.

Each fenced ``python`` block in docs/ carries a marker on the line before it:

* ``<!-- example: run -->``: executed here against a sandbox served on 127.0.0.1, under
  asyncio and trio (and type-checked too);
* ``<!-- example: check -->``: type-checked only (``mypy --strict``), for code that needs
  credentials, a web server or a shell.

Blocks may use top-level ``await`` (as in ``python -m asyncio``) and these given names:
``flexiti`` (a merchant-scope client), ``sandbox`` (the sandbox it talks to),
``account_number``, ``authorization_id`` (an open authorization of 500.00 on it),
``store_id``, ``log`` and ``ask_customer_for_pin()``. ``test_*`` functions a block defines
are then called with the ``flexiti_sandbox`` / ``flexiti_client`` fixtures they name.

``python -m tests.test_docs_examples DIR`` writes every block as a module into DIR for
``mypy --strict DIR`` (the ``docs`` nox session does this).
"""

from __future__ import annotations

import ast
import logging
import re
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests._examples import Block, as_module, extract, open_authorization, run_block

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: Declarations of the given names, for the type checker.
PREAMBLE = """\
import logging as _logging

import flexiti_async as _flexiti_async
import flexiti_async.testing as _testing

flexiti: _flexiti_async.FlexitiClient
sandbox: _testing.FlexitiSandbox
account_number: int
authorization_id: int
store_id: str
log: _logging.Logger


async def ask_customer_for_pin() -> str:
    raise NotImplementedError


"""


def all_examples() -> list[Block]:
    return [
        example
        for page in sorted(DOCS.rglob("*.md"))
        for example in extract(page.read_text(encoding="utf-8"), page.relative_to(DOCS).as_posix())
    ]


def write_checks(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for example in all_examples():
        name = re.sub(r"\W", "_", example.id)
        path = folder / f"example_{name}.py"
        path.write_text(f"# {example.id}\n" + as_module(example, PREAMBLE), encoding="utf-8")
        written.append(path)
    return written


# -- tests -------------------------------------------------------------------------------


def test_docs_have_examples() -> None:
    examples = all_examples()
    assert len(examples) >= 15
    assert sum(example.mode == "run" for example in examples) >= 10


@pytest.mark.parametrize("example", all_examples(), ids=lambda example: example.id)
def test_every_example_is_marked_and_parses(example: Block) -> None:
    assert example.mode is not None, (
        f"{example.id}: put '<!-- example: run -->' or '<!-- example: check -->' before it"
    )
    ast.parse(example.code, filename=example.id)
    compile(as_module(example, PREAMBLE), example.id, "exec")


RUN = [example for example in all_examples() if example.mode == "run"]


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    """A seeded sandbox on 127.0.0.1, a client for it, and the given names."""
    pytest.importorskip("uvicorn")
    from flexiti_async import FlexitiClient
    from flexiti_async.testing import FlexitiSandbox, read_pin

    sandbox = FlexitiSandbox(seed=1)
    # January 2024: 10 days x 2 stores x 5 authorizations, for the paging examples.
    sandbox.seed_history(days=10, stores=2, per_day=5, start=date(2024, 1, 1), seed=1)
    account = sandbox.find_account(status="N")
    async with sandbox.serve() as base_url:
        monkeypatch.setenv("FLEXITI_CLIENT_ID", sandbox.client_id)
        monkeypatch.setenv("FLEXITI_CLIENT_SECRET", sandbox.client_secret)
        monkeypatch.setenv("FLEXITI_BASE_URL", base_url)
        monkeypatch.delenv("FLEXITI_ENVIRONMENT", raising=False)
        async with FlexitiClient(
            sandbox.client_id, sandbox.client_secret, base_url=base_url
        ) as client:

            async def ask_customer_for_pin() -> str:
                return str(await read_pin(client, account.account_number))

            yield {
                "flexiti": client,
                "sandbox": sandbox,
                "account_number": account.account_number,
                "store_id": sandbox.stores[0].external_location_id,
                "log": logging.getLogger("docs.example"),
                "ask_customer_for_pin": ask_customer_for_pin,
            }


@pytest.mark.anyio
@pytest.mark.needs_service("uvicorn")
@pytest.mark.parametrize("example", RUN, ids=lambda example: example.id)
async def test_run_example(example: Block, served: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_{example.source}", **served}
    if "authorization_id" in example.code:
        namespace["authorization_id"] = await open_authorization(
            served["flexiti"], served["account_number"], "DOCS-0001"
        )
    fixtures = {"flexiti_sandbox": served["sandbox"], "flexiti_client": served["flexiti"]}
    await run_block(example, namespace, fixtures)


if __name__ == "__main__":
    for written in write_checks(Path(sys.argv[1])):
        print(written)
