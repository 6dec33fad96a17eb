"""case workflow (issue 5: priority, SLA clocks, providers, ITSM connector)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CASE_COLUMNS = [
    sa.Column("impact", sa.String(8), nullable=False, server_default="medium"),
    sa.Column("urgency", sa.String(8), nullable=False, server_default="medium"),
    sa.Column("priority", sa.String(2), nullable=False, server_default="P3"),
    sa.Column("impact_overridden", sa.Boolean(), nullable=False, server_default="0"),
    sa.Column("urgency_overridden", sa.Boolean(), nullable=False, server_default="0"),
    sa.Column("clock_24x7", sa.Boolean(), nullable=False, server_default="0"),
    sa.Column("response_due", UTCDateTime(), nullable=True),
    sa.Column("resolution_due", UTCDateTime(), nullable=True),
    sa.Column("responded_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.Column("paused_since", UTCDateTime(), nullable=True),
    sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("response_seconds", sa.Integer(), nullable=True),
    sa.Column("resolution_seconds", sa.Integer(), nullable=True),
    sa.Column("response_warned", sa.Boolean(), nullable=False, server_default="0"),
    sa.Column("resolution_warned", sa.Boolean(), nullable=False, server_default="0"),
    sa.Column("reassignment_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("bouncing", sa.Boolean(), nullable=False, server_default="0"),
    sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("merged_into_id", sa.Integer(), nullable=True),
    sa.Column("root_cause", sa.Text(), nullable=True),
]
CASE_INDEXES = {
    "ix_cases_last_seen_id": ["last_seen", "id"],
    "ix_cases_tenant_last_seen": ["tenant_id", "last_seen", "id"],
    "ix_cases_provider_last_seen": ["provider_id", "last_seen", "id"],
    "ix_cases_status_last_seen": ["status", "last_seen", "id"],
    "ix_cases_priority_last_seen": ["priority", "last_seen", "id"],
    "ix_cases_response_due": ["response_due"],
    "ix_cases_resolution_due": ["resolution_due"],
    "ix_cases_tenant_created": ["tenant_id", "created_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for column in CASE_COLUMNS:
            batch.add_column(column)
    for name, columns in CASE_INDEXES.items():
        op.create_index(name, "cases", columns)

    op.create_table(
        "case_assets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("criticality", sa.String(8), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.UniqueConstraint("tenant_id", "host", name="uq_case_assets_host"),
    )
    op.create_index("ix_case_assets_tenant_id", "case_assets", ["tenant_id"])
    op.create_table(
        "case_evidence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(160), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_case_evidence_case_id", "case_evidence", ["case_id"])
    op.create_index("ix_case_evidence_tenant_id", "case_evidence", ["tenant_id"])
    op.create_table(
        "problems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("root_cause_due", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_problems_tenant_id", "problems", ["tenant_id"])
    op.create_index("ix_problems_case_id", "problems", ["case_id"])
    op.create_table(
        "itsm_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_itsm_outbox_state_id", "itsm_outbox", ["state", "id"])
    op.create_index("ix_itsm_outbox_case_id", "itsm_outbox", ["case_id"])
    op.create_index("ix_itsm_outbox_tenant_id", "itsm_outbox", ["tenant_id"])
    op.create_table(
        "itsm_inbound_nonces",
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("itsm_inbound_nonces", "itsm_outbox", "problems", "case_evidence"):
        op.drop_table(table)
    op.drop_table("case_assets")
    for name in CASE_INDEXES:
        op.drop_index(name, "cases")
    with op.batch_alter_table("cases") as batch:
        for column in reversed(CASE_COLUMNS):
            batch.drop_column(column.name)
