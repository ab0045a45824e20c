"""Suite-wide checks: no secret a test used may appear in anything the run printed or logged.

Every test's captured stdout, stderr and log output is scanned at the end of the run for the credentials the
tests use (provider keys, router keys, client keys, OAuth tokens of the mock). One hit fails the run, naming the
test and the stream (never the secret).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property and fuzz tests with a fixed seed so a landing never depends on luck; locally they explore.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# Literal secrets used across the suite, and shapes of secrets minted by the mock OAuth server.
SECRETS = (
    "sk-up-test",
    "router-secret-key",
    "client-secret-xyz",
    "sk-client-secret-1",
    "user-own-token",
    "zai-secret-123",
    "or-secret-456",
    "router-k-789",
    "gm-secret-key-1",
    "pg-secret-pass-4321",  # tests/pgcluster.py: the PostgreSQL password in every usage database URL
)
# Tokens minted by the mock OAuth server (real Anthropic prefixes + 64 random characters).
SECRET_PATTERNS = (
    re.compile(r"sk-ant-o(?:at|rt)01-[A-Za-z0-9_\-]{20,}"),
    # Google tokens minted by the Gemini mock (access and refresh).
    re.compile(r"ya29\.mock-[A-Za-z0-9_\-]{20,}|1//mock-[A-Za-z0-9_\-]{20,}"),
)

_leaks: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        return  # a failing assertion may print a secret on purpose; the failure is already reported
    for name, text in report.sections:
        for secret in SECRETS:
            if secret in text:
                _leaks.append(f"{report.nodeid} [{name}]: contains test secret #{SECRETS.index(secret)}")
        for pat in SECRET_PATTERNS:
            if pat.search(text):
                _leaks.append(f"{report.nodeid} [{name}]: contains a minted OAuth secret")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _leaks:
        print("\nSECRET LEAK CHECK FAILED:", file=sys.stderr)
        for line in _leaks:
            print("  " + line, file=sys.stderr)
        session.exitstatus = 1
