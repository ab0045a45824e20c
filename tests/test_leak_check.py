"""The leak check itself: it would catch a secret in captured output (so it is not a check that cannot fail)."""

from __future__ import annotations

import pytest

from tests import conftest


def test_leak_check_detects_a_printed_secret() -> None:
    before = list(conftest._leaks)
    report = pytest.TestReport(
        nodeid="fake::test",
        location=("fake", 0, "test"),
        keywords={},
        outcome="passed",
        longrepr=None,
        when="call",
        sections=[("Captured stderr call", "INFO upstream key sk-up-test used")],
    )
    conftest.pytest_runtest_logreport(report)
    try:
        assert len(conftest._leaks) == len(before) + 1
        assert "sk-up-test" not in conftest._leaks[-1]
    finally:
        conftest._leaks[:] = before
