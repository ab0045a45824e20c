"""``[usage] database``: ``$VAR`` resolution, precise errors, and a password that never shows."""

from __future__ import annotations

import pytest

from claude_code_mux.config.load import parse_config
from claude_code_mux.config.usage_schema import display_url
from claude_code_mux.errors import ConfigError
from claude_code_mux.server.admin.view import config_view

BASE = '[router]\ndefault = "m"\n[[providers]]\nname = "p"\nprovider_type = "anthropic"\nauth_type = "passthrough"\n'
BASE += 'models = ["m"]\n'
URL = "postgresql://ccm:s3cret%2Fpass@db.example:5432/usage"


def test_absent_means_sqlite() -> None:
    cfg = parse_config(BASE, env={})
    assert cfg.usage.backend == "sqlite" and cfg.usage.database_url() is None


def test_env_reference_is_resolved_and_the_password_never_shows() -> None:
    cfg = parse_config(BASE + '[usage]\ndatabase = "$DATABASE_URL"\n', env={"DATABASE_URL": URL})
    assert cfg.usage.backend == "postgresql"
    assert cfg.usage.database_url() == URL
    assert cfg.usage.database_password() == "s3cret/pass"
    assert cfg.usage.display_database() == "postgresql://ccm:***@db.example:5432/usage"
    for shown in (repr(cfg), str(cfg.usage), str(config_view(cfg, None))):
        assert "s3cret" not in shown


def test_unset_env_reference_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + '[usage]\ndatabase = "${CCM_NO_SUCH_DB}"\n', path="c.toml", env={})
    assert err.value.key == "usage.database" and err.value.line == 9


def test_a_non_postgresql_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + '[usage]\ndatabase = "mysql://u:hunter22@h/db"\n', env={})
    assert err.value.key == "usage.database"
    assert "hunter22" not in str(err.value) and "postgresql://" in str(err.value)


def test_display_url_keeps_everything_but_the_password() -> None:
    assert display_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert display_url("postgres://u:p%40ss@h:6432/db?sslmode=require") == "postgres://u:***@h:6432/db?sslmode=require"
