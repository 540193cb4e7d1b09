"""The ``needs_service`` marker: a skipped service test is a failure when CI is set."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).resolve().parent / "conftest.py").read_text()
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
TESTS = """
import pytest

@pytest.mark.needs_service("redis")
def test_skips_in_the_test():
    pytest.skip("no redis-server")

@pytest.fixture
def service():
    pytest.skip("no uvicorn")

@pytest.mark.needs_service("uvicorn")
def test_skips_in_a_fixture(service):
    pass

def test_unmarked_skip():
    pytest.skip("fine anywhere")

@pytest.mark.needs_service("redis")
def test_runs():
    pass
"""


@pytest.mark.parametrize("ci", ["true"])
def test_under_ci_a_skipped_service_test_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*needs redis but was skipped under CI (Skipped: no redis-server)*"]
    )
    result.stdout.fnmatch_lines(["*needs uvicorn but was skipped under CI (Skipped: no uvicorn)*"])
    assert result.ret != 0


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_service_test_may_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3)
    assert result.ret == 0
