"""Developer tasks: ``nox -s tests``, ``lint``, ``typecheck``, ``docs``, ``bench``, ``chaos``."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.default_venv_backend = "venv"

LINT_PATHS = ["flexiti_async", "tests", "benchmarks", "examples", "noxfile.py"]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite under asyncio and trio (the long chaos run is `nox -s chaos`)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not slow", *session.posargs)


@nox.session
def chaos(session: nox.Session) -> None:
    """The full chaos suite (many seeds, thousands of operations)."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/chaos", "-m", "slow or not slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff==0.17.6")  # pinned: a new release may reformat
    session.run("ruff", "check", *LINT_PATHS)
    session.run("ruff", "format", "--check", *LINT_PATHS)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, and on every Python block of README.md.

    The README blocks marked to run are also executed by the test suite
    (tests/test_readme_examples.py).
    """
    session.install("-e", ".[test]", "mypy==2.4.1")  # pinned, like ruff
    session.run("mypy", "--strict", "flexiti_async")
    readme = Path(session.create_tmp()) / "readme-examples"
    shutil.rmtree(readme, ignore_errors=True)
    session.run("python", "-m", "tests.test_readme_examples", str(readme), silent=True)
    session.run("mypy", "--strict", str(readme))


@nox.session
def docs(session: nox.Session) -> None:
    """The docs site: type-check every Python example on it, then ``mkdocs build --strict``.

    The examples marked to run are executed by the test suite (tests/test_docs_examples.py).
    """
    session.install("-e", ".[docs,test]", "mypy==2.4.1")
    examples = Path(session.create_tmp()) / "docs-examples"
    shutil.rmtree(examples, ignore_errors=True)
    session.run("python", "-m", "tests.test_docs_examples", str(examples), silent=True)
    session.run("mypy", "--strict", str(examples))
    site = Path(session.create_tmp()) / "site"
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", str(site), env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against raw httpx, aiohttp and pydantic; writes benchmarks/results/.

    Without arguments this is the quick configuration (fewer calls and rounds, a few minutes
    on 2 cores); ``nox -s bench -- --full`` runs the full issue-sized set (about 15 minutes).
    """
    session.install("-e", ".[bench,sandbox,cli]")
    args = list(session.posargs)
    if "--full" in args:
        args.remove("--full")
    elif "--quick" not in args:
        args.append("--quick")
    session.run("python", "-m", "benchmarks", *args)
