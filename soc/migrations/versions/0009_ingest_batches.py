"""ingest batches: durable marker for stored-but-unrecorded events

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
    )
    op.create_index("ix_ingest_batches_tenant_id", "ingest_batches", ["tenant_id"])
    op.create_index("ix_ingest_batches_state_created", "ingest_batches", ["state", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_ingest_batches_state_created", "ingest_batches")
    op.drop_index("ix_ingest_batches_tenant_id", "ingest_batches")
    op.drop_table("ingest_batches")
