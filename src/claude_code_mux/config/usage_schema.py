"""``[usage]``: where usage rows go — the local SQLite ``usage.db`` (default) or a team's PostgreSQL.

``database = "postgresql://user:pass@host:5432/db"`` (or ``"$DATABASE_URL"``, resolved at load) sends every
instance's rows to one PostgreSQL database; absent, each instance writes ``HOME/usage.db``. The URL is a
:class:`pydantic.SecretStr` (it holds a password): show it with :meth:`UsageConfig.display_database`.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_SCHEMES = ("postgresql", "postgres")


class UsageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database: SecretStr | None = None
    # Rows waiting for PostgreSQL are kept in memory up to this many; beyond it new rows are dropped (counted).
    buffer_rows: int = Field(default=100_000, ge=100)
    # A flush runs every flush_interval_s, or as soon as batch_rows rows are waiting.
    batch_rows: int = Field(default=1_000, ge=1)
    flush_interval_s: float = Field(default=1.0, gt=0, le=60)
    pool_size: int = Field(default=2, ge=1, le=20)

    @field_validator("database")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            scheme = urlsplit(value.get_secret_value().strip()).scheme
        except ValueError:
            scheme = ""
        if scheme not in _SCHEMES:
            # Never echo the value: it may hold a password.
            raise ValueError('must be a URL like "postgresql://user:password@host:5432/dbname" (or "$DATABASE_URL")')
        return SecretStr(value.get_secret_value().strip())

    @property
    def backend(self) -> str:
        return "sqlite" if self.database is None else "postgresql"

    def database_url(self) -> str | None:
        return None if self.database is None else self.database.get_secret_value()

    def database_password(self) -> str | None:
        """The password in the URL (decoded), for the log redactor."""
        url = self.database_url()
        if url is None:
            return None
        try:
            password = urlsplit(url).password
        except ValueError:
            return None
        return unquote(password) if password else None

    def display_database(self) -> str | None:
        """The URL without its password, for logs and messages."""
        return None if self.database is None else display_url(self.database.get_secret_value())


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (and nothing else changed)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    except ValueError:
        return "<unparseable database URL>"
