"""correlation windows: Sigma correlation state shared by every worker, kept across restarts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "correlation_windows",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("group_values", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "rule_id", "group_key", name="uq_correlation_window"),
    )
    op.create_index("ix_correlation_windows_expires_at", "correlation_windows", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_correlation_windows_expires_at", "correlation_windows")
    op.drop_table("correlation_windows")
