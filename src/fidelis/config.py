"""Process settings, read from `FIDELIS_*` environment variables (and a `.env` file).

Per-tenant business settings are not here: they live in the program (`fidelis.program`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./fidelis.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIDELIS_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    admin_password: str | None = None
    # Connections per server process to PostgreSQL; SQLite serializes writers anyway.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    # Of those, how many the hot paths keep (at most half the pool): each runs one statement
    # at a time, so a few per process keep a small database server busy; more only make
    # requests wait on its CPUs instead of in line here (docs/DECISIONS.md).
    db_hot_connections: int = Field(default=3, ge=1, le=100)
    # PostgreSQL: hot-path writes of one kind (points adds, locks, commits) a process has in
    # flight at once, each a batch of the requests that waited for it, in one transaction
    # (`db.batches`). One batch at a time per kind made the most of two cores: while it runs,
    # the requests behind it gather into the next (docs/DECISIONS.md).
    db_batches_in_flight: int = Field(default=1, ge=1, le=100)
    # A statement that cannot get its connection or lock within this many seconds fails fast.
    db_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # Failed API authentications one client address may make per minute before it gets 429.
    auth_failures_per_minute: int = Field(default=30, ge=1, le=1_000_000)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "sqlite+aiosqlite:", "postgresql:", "postgresql+")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("admin_password")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # An empty FIDELIS_ADMIN_PASSWORD keeps the console off rather than opening it.
        return value if value and value.strip() else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
