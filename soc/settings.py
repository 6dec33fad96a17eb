"""Service settings from `SOC_*` environment variables (and an optional `.env` file).

The defaults give the embedded single-machine mode: SQLite files under `./var/`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

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

    # Production mode (issue 3): OpenSearch event store, Celery on Redis, PostgreSQL via
    # database_url. The event store follows the mode unless set explicitly.
    event_store: Literal["sqlite", "opensearch"] | None = None
    opensearch_url: str = "http://127.0.0.1:9200"
    opensearch_user: str | None = None
    opensearch_password: str | None = None
    opensearch_verify_certs: bool = True
    opensearch_ca_certs: Path | None = None
    opensearch_index_prefix: str = "soc-events"
    opensearch_bulk_chunk: int = 2000
    spool_dir: Path | None = Field(default=None, description="default data_dir/spool")
    redis_url: str = "redis://127.0.0.1:6379/0"
    detect_in_worker: bool | None = Field(
        default=None, description="run detection as Celery tasks (default: in production mode)"
    )

    # Billing (issue 6): the contract price table, as JSON or in a JSON file (see README, Billing).
    billing_prices: dict[str, Any] | None = Field(
        default=None, description="Price table JSON (SOC_BILLING_PRICES)"
    )
    billing_prices_file: Path | None = Field(
        default=None, description="Price table JSON file, used when billing_prices is not set"
    )

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'soc.db').as_posix()}"

    @property
    def store_kind(self) -> str:
        return self.event_store or ("opensearch" if self.mode == "production" else "sqlite")

    @property
    def spool_path(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

    @property
    def detection_async(self) -> bool:
        return (
            self.detect_in_worker
            if self.detect_in_worker is not None
            else (self.mode == "production")
        )

    @property
    def events_path(self) -> Path:
        return self.event_db_path or self.data_dir / "events.sqlite"


@lru_cache
def get_settings() -> Settings:
    return Settings()
