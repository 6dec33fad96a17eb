"""access scope: the tenants each provider serves

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No rows are filled in: before this table a provider user saw every tenant (the defect);
    # an operator now states which tenants each provider serves (`soc providers serve`).
    op.create_table(
        "provider_tenants",
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="fk_provider_tenants_provider_id_providers"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_provider_tenants_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("provider_id", "tenant_id", name="pk_provider_tenants"),
    )
    op.create_index("ix_provider_tenants_tenant_id", "provider_tenants", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_provider_tenants_tenant_id", table_name="provider_tenants")
    op.drop_table("provider_tenants")
