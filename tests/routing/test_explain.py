"""``explain()`` and ``ccm route explain``: the full trace, candidates or the error, nothing sent."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from claude_code_mux.cli.main import main
from claude_code_mux.routing.explain import explain
from claude_code_mux.routing.health import Health
from tests.routing.conftest import ALL_TARGETS, FIXTURES, MAIN_TURN1, TITLE, fixture, make_cfg

CONFIG = (
    '[router]\ndefault = "main"\nauto_map = true\nlong_context = "long"\nlong_context_threshold = 20000\n'
    + """
[[providers]]
name = "anthropic"
provider_type = "anthropic"
auth_type = "passthrough"
models = ["claude-*"]

[[providers]]
name = "or"
provider_type = "openrouter"
api_key = "sk-test"

[[models]]
name = "main"
[[models.mappings]]
provider = "anthropic"
actual_model = "claude-sonnet-4-5"
[[models.mappings]]
provider = "or"
actual_model = "anthropic/claude-sonnet-4.5"
priority = 2

[[models]]
name = "long"
[[models.mappings]]
provider = "or"
actual_model = "google/gemini-2.5-pro"
"""
)


def test_explain_lists_rules_decision_and_candidates() -> None:
    out = explain(fixture(MAIN_TURN1), {}, make_cfg(ALL_TARGETS))
    assert "request model: 'claude-opus-4-8'" in out
    for rule in (
        "explicit",
        "subagent",
        "websearch",
        "image",
        "long_context",
        "think",
        "background",
        "default",
    ):
        assert f"  {rule}: " in out
    assert "default: FIRED -> 'main'" in out
    assert "decision: x-ccm-route: default:auto_map" in out
    assert "1. anthropic -> claude-sonnet-4-5 (priority 1)" in out
    assert "2. or -> anthropic/claude-sonnet-4.5 (priority 2)" in out


def test_explain_shows_cooldowns() -> None:
    health = Health(clock=lambda: 0.0)
    health.record_failure("anthropic", "claude-sonnet-4-5")
    out = explain(fixture(MAIN_TURN1), {}, make_cfg(ALL_TARGETS), health)
    assert "1. or -> anthropic/claude-sonnet-4.5" in out
    assert "2. anthropic -> claude-sonnet-4-5 (priority 1, cooling down 5.0s)" in out


def test_explain_reports_errors_instead_of_raising() -> None:
    body = fixture(MAIN_TURN1)
    body["system"][2]["text"] += "<CCM-SUBAGENT-MODEL>ghost</CCM-SUBAGENT-MODEL>"
    out = explain(body, {}, make_cfg(ALL_TARGETS))
    assert "error 400 invalid_request_error" in out and "ghost" in out
    out = explain(fixture(TITLE), {}, make_cfg("auto_map = false"))
    assert "candidates: error 404 not_found_error" in out
    out = explain(fixture(MAIN_TURN1), {"x-provider": "nope"}, make_cfg(ALL_TARGETS))
    assert "candidates: error 400" in out and "'nope'" in out


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def test_cli_route_explain_fixture_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["-c", str(_config(tmp_path)), "route", "explain", str(FIXTURES / f"{MAIN_TURN1}.json")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "decision: x-ccm-route: long_context:" in out
    assert "1. or -> google/gemini-2.5-pro" in out


def test_cli_route_explain_raw_body_and_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = tmp_path / "req.json"
    req.write_bytes(orjson.dumps(fixture(TITLE) | {"model": "claude-haiku-4-5"}))
    cfg = str(_config(tmp_path))
    assert main(["route", "explain", str(req), "-c", cfg, "--header", "X-Provider: or"]) == 0
    out = capsys.readouterr().out
    assert "x-provider:    or" in out
    assert "1. or -> anthropic/claude-sonnet-4.5" in out
    assert main(["route", "explain", str(req), "-c", cfg, "-H", "x-provider:ghost"]) == 1
    assert "'ghost' is not a configured provider" in capsys.readouterr().out


def test_cli_route_explain_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = tmp_path / "req.json"
    req.write_text("{not json")
    assert main(["-c", str(tmp_path / "missing.toml"), "route", "explain", str(req)]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["-c", str(_config(tmp_path)), "route", "explain", str(req)]) == 2
    assert "req.json" in capsys.readouterr().err
    assert main(["-c", str(_config(tmp_path)), "route", "explain", str(tmp_path / "nope.json")]) == 2
