"""When a session was last used: written at most once a minute per session.

A token is checked in a read transaction (no write lock: see soc.core.deps.auth_session), which
may not write, so the mark goes through a short write of its own on a connection of the same
engine. Inside a write transaction the mark joins it instead: a second connection would wait
for the lock that transaction holds (SQLite). The mark is bookkeeping: if it cannot be written
the request goes on and the next one tries again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from soc.core.db import READ_ONLY
from tenants.models import AuthToken

log = logging.getLogger(__name__)

# How stale `last_used_at` may get: fresh enough to tell a session in use from an old one,
# rare enough that reading pages does not become writing.
TOUCH_EVERY = timedelta(seconds=60)


def touch(session: Session, row: AuthToken, now: datetime) -> None:
    """Mark the session `row` as used `now` unless that was done in the last minute."""
    if row.last_used_at is not None and row.last_used_at > now - TOUCH_EVERY:
        return
    if not session.info.get(READ_ONLY):
        row.last_used_at = now
        return
    query = (
        update(AuthToken)
        .where(
            AuthToken.id == row.id,
            or_(AuthToken.last_used_at.is_(None), AuthToken.last_used_at <= now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
    )
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    try:
        writer: Engine = engine.execution_options(**{READ_ONLY: False})
        with writer.begin() as conn:
            conn.execute(query)
    except SQLAlchemyError:
        log.debug("could not mark session %s as used", row.id, exc_info=True)
