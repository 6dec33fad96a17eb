"""remote ITSM tickets (ServiceNow, 4me) per case

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A table rather than columns on cases: a case reopened after its remote ticket closed
    # gets a second ticket, linked to the first through previous_id.
    op.create_table(
        "itsm_remote_tickets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("system", sa.String(12), nullable=False),
        sa.Column("table_name", sa.String(40), nullable=False),
        sa.Column("sys_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("state", sa.String(24), nullable=False, server_default=""),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("remote_updated", sa.String(32), nullable=True),
        sa.Column(
            "previous_id", sa.Integer(), sa.ForeignKey("itsm_remote_tickets.id"), nullable=True
        ),
        sa.UniqueConstraint("system", "sys_id", name="uq_itsm_remote_tickets_sys_id"),
    )
    op.create_index("ix_itsm_remote_tickets_case", "itsm_remote_tickets", ["case_id", "id"])
    op.create_index("ix_itsm_remote_tickets_tenant", "itsm_remote_tickets", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_itsm_remote_tickets_tenant", table_name="itsm_remote_tickets")
    op.drop_index("ix_itsm_remote_tickets_case", table_name="itsm_remote_tickets")
    op.drop_table("itsm_remote_tickets")
