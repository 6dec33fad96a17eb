"""indexes for the case queue and console at 100,000 cases

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

The queue's orders (soc.cases.queries.sort_keys) read straight off an index, so a page is a
short index walk instead of a sort of every case; the expression must be the one the query
writes, COALESCE(resolution_due, <far future>) with the constant inline (queries.far_due).
The console counts its open cases from a partial covering index. On PostgreSQL the text
filters (`q`, `host`: LIKE '%…%') get pg_trgm GIN indexes, when the extension can be had.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

FAR = {
    "postgresql": "'9999-01-01 00:00:00+00'::timestamptz",
    "sqlite": "'9999-01-01 00:00:00.000000'",  # how SQLite stores a DateTime
}
OPEN = "status IN ('new', 'triage', 'in_progress', 'waiting_on_customer')"
TRGM = (("ix_cases_title_trgm", "title"), ("ix_cases_host_trgm", "host"))


def _indexes(dialect: str) -> list[tuple[str, str]]:
    due = f"COALESCE(resolution_due, {FAR.get(dialect, FAR['sqlite'])})"
    return [
        # The default order (priority, due, newest, id), overall and within one tenant (a
        # customer's queue, the tenant filter).
        ("ix_cases_queue_order", f"cases (priority, {due}, created_at DESC, id DESC)"),
        (
            "ix_cases_tenant_queue_order",
            f"cases (tenant_id, priority, {due}, created_at DESC, id DESC)",
        ),
        # sort=-sla_due reads it backwards; sort=sla_due sorts only the ties of one due time.
        ("ix_cases_sla_due_order", f"cases ({due}, created_at, id)"),
        # The console's counts per priority, tenant and SLA state read only this.
        (
            "ix_cases_open_counts",
            "cases (priority, tenant_id, resolution_due, resolution_seconds, paused_since)"
            f" WHERE {OPEN}",
        ),
        # Alerts of the last day / week (alerts per hour, noisiest rules).
        ("ix_alerts_created_at", "alerts (created_at)"),
    ]


def _trigram(bind: sa.engine.Connection) -> bool:
    """pg_trgm, created if it is not there yet; False (and the text filters stay scans) when
    this server has no such extension or this user may not create it."""
    available = bind.scalar(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")
    )
    if not available:
        log.warning("pg_trgm is not available: the queue's text filter stays a scan")
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm not created (%s): the queue's text filter stays a scan", exc.orig)
        return False
    return True


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    for name, target in _indexes(dialect):
        op.execute(f"CREATE INDEX {name} ON {target}")
    if dialect == "postgresql" and _trigram(bind):
        for name, column in TRGM:
            op.execute(f"CREATE INDEX {name} ON cases USING gin (lower({column}) gin_trgm_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for name, _ in TRGM:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    for name, _ in reversed(_indexes(dialect)):
        op.execute(f"DROP INDEX {name}")
