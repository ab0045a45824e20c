"""The project header: ``ccm code`` sets ``x-ccm-project`` through ``ANTHROPIC_CUSTOM_HEADERS``, and the real
Claude Code CLI sends it on its requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_code_mux.cli.project import project_name, with_project
from tests.cli.test_code import ROUTED_CONFIG, ccm, ccm_env, fake_bin, write_config
from tests.e2e.claude_cli import run_claude
from tests.mocks.anthropic import MockAnthropic


def test_project_name(tmp_path: Path) -> None:
    repo = tmp_path / "my-repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src" / "deep").mkdir(parents=True)
    assert project_name(repo / "src" / "deep", {}) == "my-repo"
    worktree = tmp_path / "wt"
    (worktree / "pkg").mkdir(parents=True)
    (worktree / ".git").write_text("gitdir: /elsewhere\n")  # a linked worktree has a .git file
    assert project_name(worktree / "pkg", {}) == "wt"
    plain = tmp_path / "no-git-here"
    plain.mkdir()
    assert project_name(plain, {}) in ("no-git-here", tmp_path.name, "tmp")  # no git above: this directory
    assert project_name(plain, {"CCM_PROJECT": "client-x"}) == "client-x"
    assert project_name(plain, {"CCM_PROJECT": "evil\r\nx-api-key: 1"}) == "evil__x-api-key: 1"
    assert project_name(plain, {"CCM_PROJECT": "  "}) is None


def test_with_project_keeps_the_users_headers() -> None:
    assert with_project(None, "p") == "x-ccm-project: p"
    assert with_project("X-Team: a\n", "p") == "X-Team: a\nx-ccm-project: p"
    assert with_project("X-CCM-Project: mine", "p") == "X-CCM-Project: mine"  # the user's own wins
    assert with_project("X-Team: a", None) == "X-Team: a"


def test_ccm_code_sends_the_git_root_as_project(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, ROUTED_CONFIG)
    repo = tmp_path / "shop-backend"
    (repo / ".git").mkdir(parents=True)
    (repo / "api").mkdir()
    out = tmp_path / "claude.json"
    env = ccm_env(home, fake_bin(tmp_path), {"FAKE_CLAUDE_OUT": str(out), "ANTHROPIC_CUSTOM_HEADERS": "X-Team: a"})
    r = ccm("code", "-p", "hi", env=env, cwd=repo / "api")
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["env"]["ANTHROPIC_CUSTOM_HEADERS"] == "X-Team: a\nx-ccm-project: shop-backend"


@pytest.mark.e2e
async def test_claude_code_sends_the_custom_project_header() -> None:
    async with MockAnthropic(name="up") as mock:
        res = await run_claude(
            mock.url,
            "Reply with exactly: HDR-OK",
            extra_env={"ANTHROPIC_CUSTOM_HEADERS": with_project(None, "shop-backend") or ""},
        )
        assert res.ok, res.stdout + res.stderr
        reqs = mock.messages_requests()
    assert reqs
    assert all(r.header("x-ccm-project") == "shop-backend" for r in reqs)
