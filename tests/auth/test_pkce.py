"""PKCE verifier, S256 challenge and state."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from claude_code_mux.auth import pkce

B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def test_verifier_is_base64url_without_padding_and_long_enough() -> None:
    v = pkce.generate_verifier()
    assert B64URL.match(v) and "=" not in v
    assert 43 <= len(v) <= 128
    assert len(v) == 86  # 64 random bytes, like Claude Code
    assert len(pkce.generate_verifier(32)) == 43


def test_verifiers_and_states_are_random_and_independent() -> None:
    verifiers = {pkce.generate_verifier() for _ in range(100)}
    states = {pkce.generate_state() for _ in range(100)}
    assert len(verifiers) == 100 and len(states) == 100
    assert not verifiers & states
    assert B64URL.match(pkce.generate_state())


@pytest.mark.parametrize("nbytes", [31, 97])
def test_verifier_length_bounds(nbytes: int) -> None:
    with pytest.raises(ValueError):
        pkce.generate_verifier(nbytes)


def test_challenge_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_challenge_is_sha256_base64url() -> None:
    v = pkce.generate_verifier()
    expected = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
    assert pkce.challenge(v) == expected
