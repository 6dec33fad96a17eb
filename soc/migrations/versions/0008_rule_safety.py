"""rule safety: runaway tenant rules, unconfirmed cases not billed

A case opened by a runaway rule (more alerts per tenant per hour than the setting) is not
billable until an analyst confirms it; the runaway check counts a rule's recent alerts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CASE_COLUMNS = [
    sa.Column("billable", sa.Boolean(), nullable=False, server_default="1"),
    sa.Column("confirmed_by", sa.String(160), nullable=True),
    sa.Column("confirmed_at", UTCDateTime(), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for column in CASE_COLUMNS:
            batch.add_column(column)
    op.create_index(
        "ix_alerts_tenant_rule_created", "alerts", ["tenant_id", "rule_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_tenant_rule_created", "alerts")
    with op.batch_alter_table("cases") as batch:
        for column in reversed(CASE_COLUMNS):
            batch.drop_column(column.name)
