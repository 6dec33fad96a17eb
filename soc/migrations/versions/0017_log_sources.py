"""declared log sources per tenant, first and last seen, silence alerts

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("host_pattern", sa.String(length=255), nullable=False),
        sa.Column("expected_daily_bytes", sa.BigInteger(), nullable=True),
        sa.Column("silent_after_hours", sa.Integer(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=True),
        sa.Column("last_seen", UTCDateTime(), nullable=True),
        sa.Column("last_alerted_at", UTCDateTime(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_log_sources_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_sources")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_log_sources_tenant_name"),
    )
    op.create_index(op.f("ix_log_sources_tenant_id"), "log_sources", ["tenant_id"])
    op.create_table(
        "observed_hosts",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_observed_hosts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "host", name=op.f("pk_observed_hosts")),
    )


def downgrade() -> None:
    op.drop_table("observed_hosts")
    op.drop_index(op.f("ix_log_sources_tenant_id"), table_name="log_sources")
    op.drop_table("log_sources")
