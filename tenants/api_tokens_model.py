"""The API token table: an integration's credential that acts as one user, cut to scopes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from soc.core.db import Base, UTCDateTime, utcnow


class ApiToken(Base):
    """Only a SHA-256 of the secret is kept (tokens are 256-bit random); `prefix` is the
    non-secret start shown in lists so its owner can tell tokens apart."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(400))  # space-separated TOKEN_SCOPES names
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Written at most once a minute per token (`tenants.api_tokens.TOUCH_EVERY`).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def scope_names(self) -> list[str]:
        return self.scopes.split()
