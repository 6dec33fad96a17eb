"""Service settings from `SOC_*` environment variables (and an optional `.env` file).

The defaults give the embedded single-machine mode: SQLite files under `./var/`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOC_", env_file=".env", extra="ignore")

    mode: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite file in data_dir"
    )
    event_db_path: Path | None = Field(
        default=None, description="Embedded event store file; default data_dir/events.sqlite"
    )
    rules_dirs: list[Path] = Field(
        default_factory=list, description="Extra Sigma rule directories besides detections/rules"
    )
    include_builtin_rules: bool = True

    max_event_bytes: int = 1 * MIB
    max_request_bytes: int = 64 * MIB
    case_group_window_minutes: int = 60
    session_ttl_minutes: int = 12 * 60
    totp_required_roles: list[str] = Field(default_factory=lambda: ["admin", "soc_analyst"])

    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'soc.db').as_posix()}"

    @property
    def events_path(self) -> Path:
        return self.event_db_path or self.data_dir / "events.sqlite"


@lru_cache
def get_settings() -> Settings:
    return Settings()
