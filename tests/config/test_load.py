"""Config loading: the original schema reads unchanged; mistakes name file, line, key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_code_mux.config.default import DEFAULT_CONFIG_TOML
from claude_code_mux.config.load import load_config, parse_config
from claude_code_mux.errors import ConfigError

ORIGINAL_EXAMPLE = """
[server]
host = "127.0.0.1"
port = 13456
api_key = "$CCM_TEST_ROUTER_KEY"
log_level = "info"
[server.timeouts]
api_timeout_ms = 600000
connect_timeout_ms = 10000
[router]
default = "glm-4.6"
think = "kimi-for-coding"
background = "glm-4.5-air"
websearch = "glm-4.6"
auto_map_regex = "^claude-"
background_regex = "(?i)claude.*haiku"
[[providers]]
name = "zai"
provider_type = "z.ai"
api_key = "$ZAI_API_KEY"
models = []
enabled = true
[[providers]]
name = "claude-max"
provider_type = "anthropic"
auth_type = "oauth"
oauth_provider = "claude-max"
models = []
[[providers]]
name = "openrouter"
provider_type = "openrouter"
api_key = "${OPENROUTER_KEY}"
[[models]]
name = "glm-4.6"
[[models.mappings]]
provider = "zai"
actual_model = "glm-4.6"
priority = 1
[[models.mappings]]
provider = "openrouter"
actual_model = "z-ai/glm-4.6"
priority = 2
[[models]]
name = "kimi-for-coding"
[[models.mappings]]
provider = "zai"
actual_model = "kimi"
[[models]]
name = "glm-4.5-air"
[[models.mappings]]
provider = "zai"
actual_model = "glm-4.5-air"
"""

ENV = {
    "ZAI_API_KEY": "zai-secret-123",
    "OPENROUTER_KEY": "or-secret-456",
    "CCM_TEST_ROUTER_KEY": "router-k-789",
}


def test_original_schema_reads_unchanged() -> None:
    cfg = parse_config(ORIGINAL_EXAMPLE, env=ENV)
    assert cfg.server.port == 13456
    assert cfg.router.default == "glm-4.6"
    zai = cfg.provider("zai")
    assert zai is not None and zai.api_key is not None
    assert zai.api_key.get_secret_value() == "zai-secret-123"
    orr = cfg.provider("openrouter")
    assert orr is not None and orr.api_key is not None and orr.api_key.get_secret_value() == "or-secret-456"
    assert cfg.server.api_key is not None and cfg.server.api_key.get_secret_value() == "router-k-789"
    assert [m.priority for m in cfg.models[0].mappings] == [1, 2]
    # Secrets never show in a repr.
    assert "zai-secret-123" not in repr(cfg)
    assert "router-k-789" not in repr(cfg)


def test_defaults_port_13456_and_models_optional() -> None:
    cfg = parse_config('[router]\ndefault = "x"\n[[providers]]\nname="p"\napi_key="k"\nmodels=["x"]\n')
    assert cfg.server.port == 13456
    assert cfg.server.host == "127.0.0.1"
    cfg2 = parse_config(
        '[router]\ndefault = "m"\n[[providers]]\nname="p"\napi_key="k"\n'
        '[[models]]\nname="m"\n[[models.mappings]]\nprovider="p"\nactual_model="a"\n'
    )
    assert cfg2.providers[0].models == ()


@pytest.mark.parametrize("alias", ["apikey", "api_key", "APIKEY"])
def test_auth_type_aliases(alias: str) -> None:
    cfg = parse_config(
        f'[router]\ndefault = "x"\n[[providers]]\nname="p"\nauth_type="{alias}"\napi_key="k"\nmodels=["x"]\n'
    )
    assert cfg.providers[0].auth_type == "apikey"


def test_oauth_provider_defaults_to_name() -> None:
    cfg = parse_config('[router]\ndefault = "x"\n[[providers]]\nname="max"\nauth_type="oauth"\nmodels=["x"]\n')
    assert cfg.providers[0].oauth_provider == "max"


def test_embedded_default_is_valid() -> None:
    cfg = parse_config(DEFAULT_CONFIG_TOML)
    assert cfg.providers[0].auth_type == "passthrough"
    assert cfg.server.port == 13456


BAD = [
    # (toml, expected line, expected key fragment, expected message fragment, expected fix fragment)
    (
        '[router]\ndefault = "x"\n[[providers]]\nname = "p"\napi_key = "k"\nmodels = ["x"]\nauth_type = "bearer"\n',
        7,
        "providers[0].auth_type",
        "Input should be",
        "apikey",
    ),
    (
        '[router]\ndefualt = "x"\n',
        2,
        "router.defualt",
        "unknown key",
        "did you mean 'default'",
    ),
    ('[server]\nport = "abc"\n[router]\ndefault="x"\n', 2, "server.port", "integer", ""),
    ('[server]\nport = 99999\n[router]\ndefault="x"\n', 2, "server.port", "less than or equal", ""),
    ("[server]\nport = 1\n", None, "router", "required key is missing", "add router"),
    (
        '[router]\ndefault = "x"\n[[providers]]\nname = "p"\nprovider_type = "openruoter"\napi_key = "k"\n',
        5,
        "providers[0].provider_type",
        "unknown provider_type",
        "did you mean 'openrouter'",
    ),
    (
        '[router]\ndefault = "x"\n[[providers]]\nname = "p"\napi_key = "$CCM_TEST_UNSET_VAR"\n',
        5,
        "providers[0].api_key",
        "not set",
        "export CCM_TEST_UNSET_VAR",
    ),
    (
        '[router]\ndefault = "nope"\n[[providers]]\nname = "p"\napi_key = "k"\n',
        2,
        "router.default",
        "names no [[models]] entry",
        "add a [[models]] entry",
    ),
    (
        '[router]\ndefault = "m"\n[[providers]]\nname = "p"\napi_key = "k"\n[[models]]\nname = "m"\n'
        '[[models.mappings]]\nprovider = "q"\nactual_model = "a"\n',
        9,
        "models[0].mappings[0].provider",
        "unknown provider 'q'",
        "known: p",
    ),
    (
        '[router]\ndefault = "m"\n[[providers]]\nname = "gw"\nprovider_type = "openai-compatible"\nmodels = ["m"]\n',
        5,
        "providers[0].base_url (gw)",
        "base_url is not set",
        'add base_url = "https://',
    ),
    (
        '[router]\ndefault = "m"\n[[providers]]\nname = "p"\napi_key = "k"\nmodels = ["m"]\n'
        '[[providers]]\nname = "p"\napi_key = "k"\n',
        8,
        "providers[1].name",
        "duplicate provider name 'p'",
        "its own name",
    ),
    (
        '[router]\ndefault = "m"\nbackground_regex = "(unclosed"\n',
        3,
        "router.background_regex",
        "invalid regular expression",
        "",
    ),
    (
        '[router]\ndefault = "m"\n[[providers]]\nname = "p"\n',
        3,
        "providers[0].api_key",
        "required",
        "api_key",
    ),
    ('[router\ndefault = "m"\n', 1, "", "invalid TOML", "check quotes"),
    (
        '[router]\ndefault = "m"\n[[providers]]\nname = "p"\napi_key="k"\nmodels=["m"]\nbase_url = "api.example.com"\n',
        7,
        "providers[0].base_url",
        "http://",
        "",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "msg", "fix"), BAD)
def test_bad_configs_name_file_line_key_and_fix(
    tmp_path: Path, text: str, line: int | None, key: str, msg: str, fix: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    # Every problem is reported (ConfigProblems); find the one this row is about.
    problems = getattr(info.value, "problems", [info.value])
    err = next((p for p in problems if key in p.key and msg in str(p)), problems[0])
    rendered = str(err)
    assert str(path) in rendered
    assert err.line == line, rendered
    assert key in err.key, rendered
    assert msg in rendered, rendered
    assert fix in err.fix, rendered


def test_missing_file_suggests_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert "ccm init" in str(info.value)


def test_disabled_provider_may_reference_unset_env() -> None:
    cfg = parse_config(
        '[router]\ndefault = "x"\n[[providers]]\nname="p"\napi_key="k"\nmodels=["x"]\n'
        '[[providers]]\nname="off"\napi_key="$CCM_TEST_UNSET"\nenabled=false\n',
        env={},
    )
    assert cfg.provider("off") is not None


@pytest.mark.parametrize("value", ["fast", "aiohttp"])
def test_upstream_client_still_loads_with_a_deprecation_warning(value: str, caplog: pytest.LogCaptureFixture) -> None:
    rest = '[router]\ndefault = "x"\n[[providers]]\nname="p"\napi_key="k"\nmodels=["x"]\n'
    cfg = parse_config(f'[server]\nupstream_client = "{value}"\n' + rest)
    assert cfg.server.upstream_client == value
    assert "server.upstream_client is deprecated and ignored" in caplog.text
    caplog.clear()
    parse_config("[server]\nport = 13456\n" + rest)
    assert "upstream_client" not in caplog.text
