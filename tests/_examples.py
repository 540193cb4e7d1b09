"""Fenced Python examples in Markdown: extracted, made checkable by mypy, and run.

Shared by the README and docs-site example tests. A block may carry a marker on the line
before it (``<!-- example: run -->`` or ``<!-- example: check -->``), may use top-level
``await``, and may define ``test_*`` functions that are then called with the
``flexiti_sandbox`` / ``flexiti_client`` fixtures they name.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MARKER = re.compile(r"^<!-- example: (run|check) -->$")
FENCE = re.compile(r"^```(\w*)")
PYTHON = ("python", "py", "python3", "pycon")


@dataclass(frozen=True)
class Block:
    """One fenced Python block: where it stands, its marker (if any) and its code."""

    source: str
    line: int
    mode: str | None
    code: str

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}"


def extract(text: str, source: str, *, default_mode: str | None = None) -> list[Block]:
    """The fenced Python blocks of a Markdown text, with their markers."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start = index
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
        if fence.group(1) in PYTHON:
            previous = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
            marker = MARKER.match(previous.strip())
            code = "\n".join(lines[start + 1 : end]) + "\n"
            mode = marker.group(1) if marker else default_mode
            blocks.append(Block(source, start + 1, mode, code))
        index = end + 1
    return blocks


def _awaits_at_top(tree: ast.Module) -> bool:
    """Whether the module awaits outside any function (so it must be wrapped to check)."""

    def visit(node: ast.AST) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        if isinstance(node, (ast.Await, ast.AsyncWith, ast.AsyncFor)):
            return True
        return any(visit(child) for child in ast.iter_child_nodes(node))

    return visit(tree)


def as_module(block: Block, preamble: str) -> str:
    """The block as a module mypy can check: the preamble declaring the given names, then
    the code (inside an ``async def`` when it awaits at top level)."""
    if _awaits_at_top(ast.parse(block.code)):
        body = "async def _example() -> None:\n" + textwrap.indent(block.code, "    ")
    else:
        body = block.code
    return preamble + body


async def run_block(block: Block, namespace: dict[str, Any], fixtures: dict[str, Any]) -> None:
    """Execute the block in ``namespace``, then call the ``test_*`` functions it defines."""
    code = compile(block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        await result
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    for test in tests:
        parameters = inspect.signature(test).parameters
        await test(**{name: fixtures[name] for name in parameters})


async def open_authorization(flexiti: Any, account_number: int, reference: str) -> int:
    """An open 500.00 authorization on the account, made as an online purchase."""
    from flexiti_async.models import FinancingOption, TransactionType

    shopper = flexiti.with_options(scope="customer")
    await shopper.widget.init(flow="purchase", account_number=account_number)
    auth = await shopper.authorizations.create(
        account_number=account_number,
        amount=Decimal("500.00"),
        financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
        reference=reference,
    )
    authorization_id: int = auth.authorization_id
    return authorization_id
