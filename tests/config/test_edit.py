"""config/edit.py: comment-preserving edits, validation before writing, atomic writes that keep the mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import tomlkit

from claude_code_mux.config import edit
from claude_code_mux.config.load import parse_config
from claude_code_mux.errors import ConfigError, InvalidRequest, NotFound

BASE = """\
# top comment
[server]
host = "127.0.0.1"  # bind address

[router]
default = "main"  # the default route
think = "main"

# providers below
[[providers]]
name = "up"  # first provider
provider_type = "anthropic"
base_url = "http://127.0.0.1:9"
api_key = "sk-literal-key-1"

# the second provider
[[providers]]
name = "two"
provider_type = "openai-compatible"
base_url = "http://127.0.0.1:8/v1"
api_key = "$CCM_EDIT_TEST_KEY"
headers = { Authorization = "Bearer hdr-secret", X-Title = "t" }

# models section
[[models]]
name = "main"  # the main model
[[models.mappings]]
provider = "up"  # first choice
actual_model = "m1"
priority = 1
# fallback mapping
[[models.mappings]]
provider = "two"
actual_model = "m2"
priority = 2

# end of file
"""


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCM_EDIT_TEST_KEY", "from-env")


def doc() -> tomlkit.TOMLDocument:
    return tomlkit.parse(BASE)


def text_of(d: tomlkit.TOMLDocument) -> str:
    out = tomlkit.dumps(d)
    parse_config(out)  # every result below is a valid config
    return out


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line and "$" not in line]


def test_add_provider_and_model_keeps_every_comment_in_place() -> None:
    d = doc()
    edit.upsert_provider(
        d,
        "new",
        {"provider_type": "openrouter", "api_key": "$CCM_EDIT_TEST_KEY", "headers": {"X": "y"}},
        create=True,
    )
    edit.upsert_model(d, "other", {"context_window": 1000}, [{"provider": "new", "actual_model": "z", "priority": 1}])
    edit.set_table(d, "router", {"background": "other", "think": None})
    out = text_of(d)
    assert comments(out) == comments(BASE)
    # The section comment still introduces the models, after the new provider.
    assert out.index('name = "new"') < out.index("# models section") < out.index('name = "main"')
    # The end-of-file comment stays at the end; the new key sits before the router's trailing comment.
    assert out.rstrip().endswith("# end of file")
    assert out.index('background = "other"') < out.index("# providers below")
    assert "think =" not in out
    assert 'default = "main"  # the default route' in out
    cfg = parse_config(out)
    assert cfg.provider("new") is not None and cfg.model("other") is not None


def test_update_in_place_keeps_trailing_comments() -> None:
    d = doc()
    edit.upsert_provider(d, "up", {"base_url": "http://127.0.0.1:10", "enabled": False}, create=False)
    edit.upsert_model(d, "main", {}, [{"provider": "two", "actual_model": "m9", "priority": 3}])
    out = text_of(d)
    assert 'name = "up"  # first provider' in out and 'base_url = "http://127.0.0.1:10"' in out
    assert 'provider = "two"  # first choice' in out and 'actual_model = "m9"' in out
    assert 'actual_model = "m2"' not in out
    assert "# fallback mapping" in out and "# end of file" in out


def test_masked_secrets_keep_the_stored_value() -> None:
    d = doc()
    edit.upsert_provider(d, "up", {"api_key": edit.MASK}, create=False)
    edit.upsert_provider(d, "two", {"headers": {"Authorization": edit.MASK, "X-Title": "new"}}, create=False)
    out = text_of(d)
    assert 'api_key = "sk-literal-key-1"' in out
    assert 'Authorization = "Bearer hdr-secret"' in out and 'X-Title = "new"' in out
    with pytest.raises(InvalidRequest, match="api_key"):
        edit.upsert_provider(doc(), "fresh", {"api_key": edit.MASK}, create=True)
    with pytest.raises(InvalidRequest, match=r"headers\.Cookie"):
        edit.upsert_provider(doc(), "two", {"headers": {"Cookie": edit.MASK}}, create=False)


def test_rename_delete_and_conflicts() -> None:
    d = doc()
    edit.upsert_provider(d, "two", {"name": "second"}, create=False)
    out = text_of(d)
    assert 'provider = "second"' in out and 'provider = "two"' not in out
    with pytest.raises(edit.Conflict, match="still used by model"):
        edit.delete_provider(d, "second")
    with pytest.raises(edit.Conflict, match="already exists"):
        edit.upsert_provider(d, "up", {}, create=True)
    with pytest.raises(edit.Conflict, match="already exists"):
        edit.upsert_provider(d, "up", {"name": "second"}, create=False)
    with pytest.raises(NotFound):
        edit.delete_model(d, "nope")
    edit.upsert_model(d, "main", {}, [{"provider": "up", "actual_model": "m1", "priority": 1}])
    edit.delete_provider(d, "second")
    out = text_of(d)
    assert 'name = "second"' not in out and "# the second provider" in out and "# models section" in out
    edit.set_table(d, "router", {"default": "x"})
    edit.upsert_model(d, "x", {}, [{"provider": "up", "actual_model": "q"}], create=True)
    edit.delete_model(d, "main")
    edit.set_table(d, "router", {"think": None})
    out = text_of(d)
    assert "# the main model" not in out and "# end of file" in out and "# models section" in out


def test_first_provider_and_model_in_an_empty_file() -> None:
    d = tomlkit.parse('# mine\n[router]\ndefault = "m"\n\n[[providers]]\nname = "p"\nprovider_type = "ollama"\n')
    edit.upsert_model(d, "m", {}, [{"provider": "p", "actual_model": "llama"}], create=True)
    out = text_of(d)
    assert out.startswith("# mine\n") and parse_config(out).model("m") is not None
    d = tomlkit.parse('providers = []\n[router]\ndefault = "claude-x"\n')
    edit.upsert_provider(d, "p", {"provider_type": "ollama", "models": ["claude-*"]}, create=True)
    assert parse_config(text_of(d)).provider("p") is not None


def test_apply_edit_validates_before_writing_and_keeps_it_private(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(BASE)
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError) as info:
        edit.apply_edit(path, lambda d: edit.set_table(d, "router", {"default": "missing"}))
    assert info.value.key == "router.default" and info.value.line == 6
    assert path.read_text() == BASE
    cfg = edit.apply_edit(path, lambda d: edit.set_table(d, "router", {"think": None}))
    assert cfg.router.think is None
    # The file may now hold literal keys: owner bits kept, group/other access dropped.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "think" not in path.read_text() and "# top comment" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temp file left behind


def test_write_through_a_symlink_replaces_the_target(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "config.toml"
    real.parent.mkdir()
    real.write_text(BASE)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    edit.apply_edit(link, lambda d: edit.set_table(d, "router", {"think": None}))
    assert link.is_symlink() and "think" not in real.read_text()
