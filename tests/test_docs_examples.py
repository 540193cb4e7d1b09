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
import inspect
import logging
import re
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
MARKER = re.compile(r"^<!-- example: (run|check) -->$")
FENCE = re.compile(r"^```(\w*)")

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


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    mode: str | None
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def extract(path: Path) -> list[Example]:
    """The fenced code blocks of one page whose language is Python."""
    examples = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start = index
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
        if fence.group(1) in ("python", "py", "python3", "pycon"):
            previous = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
            marker = MARKER.match(previous.strip())
            examples.append(
                Example(
                    page=path.relative_to(DOCS).as_posix(),
                    line=start + 1,
                    mode=marker.group(1) if marker else None,
                    code="\n".join(lines[start + 1 : end]) + "\n",
                )
            )
        index = end + 1
    return examples


def all_examples() -> list[Example]:
    return [example for page in sorted(DOCS.rglob("*.md")) for example in extract(page)]


def has_top_level_await(tree: ast.Module) -> bool:
    """Whether the module awaits outside any function (so it must be wrapped to check)."""

    def visit(node: ast.AST) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        if isinstance(node, (ast.Await, ast.AsyncWith, ast.AsyncFor)):
            return True
        return any(visit(child) for child in ast.iter_child_nodes(node))

    return visit(tree)


def as_module(example: Example) -> str:
    """The block as a module mypy can check: the preamble, and the code (inside an
    ``async def`` when it uses top-level ``await``)."""
    if has_top_level_await(ast.parse(example.code)):
        body = "async def _example() -> None:\n" + textwrap.indent(example.code, "    ")
    else:
        body = example.code
    return PREAMBLE + body


def write_checks(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for example in all_examples():
        name = re.sub(r"\W", "_", example.id)
        path = folder / f"example_{name}.py"
        path.write_text(f"# {example.id}\n" + as_module(example), encoding="utf-8")
        written.append(path)
    return written


# -- tests -------------------------------------------------------------------------------


def test_docs_have_examples() -> None:
    examples = all_examples()
    assert len(examples) >= 15
    assert sum(example.mode == "run" for example in examples) >= 10


@pytest.mark.parametrize("example", all_examples(), ids=lambda example: example.id)
def test_every_example_is_marked_and_parses(example: Example) -> None:
    assert example.mode is not None, (
        f"{example.id}: put '<!-- example: run -->' or '<!-- example: check -->' before it"
    )
    ast.parse(example.code, filename=example.id)
    compile(as_module(example), example.id, "exec")


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


async def open_authorization(given: dict[str, Any]) -> int:
    """An open 500.00 authorization on the given account, made as an online purchase."""
    from flexiti_async.models import FinancingOption, TransactionType

    shopper = given["flexiti"].with_options(scope="customer")
    await shopper.widget.init(flow="purchase", account_number=given["account_number"])
    auth = await shopper.authorizations.create(
        account_number=given["account_number"],
        amount=Decimal("500.00"),
        financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
        reference="DOCS-0001",
    )
    authorization_id: int = auth.authorization_id
    return authorization_id


@pytest.mark.anyio
@pytest.mark.needs_service("uvicorn")
@pytest.mark.parametrize("example", RUN, ids=lambda example: example.id)
async def test_run_example(example: Example, served: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_{example.page}", **served}
    if "authorization_id" in example.code:
        namespace["authorization_id"] = await open_authorization(served)
    code = compile(example.code, f"docs/{example.id}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        await result
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    fixtures = {"flexiti_sandbox": served["sandbox"], "flexiti_client": served["flexiti"]}
    for test in tests:
        parameters = inspect.signature(test).parameters
        await test(**{name: fixtures[name] for name in parameters})


if __name__ == "__main__":
    for written in write_checks(Path(sys.argv[1])):
        print(written)
