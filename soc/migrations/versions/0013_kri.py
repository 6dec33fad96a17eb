"""kri: the catalogue, values per KRI, period and subject, monthly reports (immutable
versions), data-warehouse exports

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import soc.core.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dwh_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("schema_version", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dwh_exports")),
    )
    with op.batch_alter_table("dwh_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dwh_exports_day"), ["day"], unique=True)

    op.create_table(
        "kri_definitions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_nl", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("norm", sa.String(length=32), nullable=False),
        sa.Column("green", sa.String(length=32), nullable=False),
        sa.Column("amber", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("computation", sa.String(length=64), nullable=False),
        sa.Column("owner_provider_id", sa.Integer(), nullable=True),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("due_working_days", sa.Integer(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.String(length=16), nullable=False),
        sa.Column("is_sla", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_provider_id"],
            ["providers.id"],
            name=op.f("fk_kri_definitions_owner_provider_id_providers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kri_definitions")),
    )
    op.create_table(
        "kri_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("generated_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf_path", sa.String(length=500), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["corrects_id"], ["kri_reports.id"], name=op.f("fk_kri_reports_corrects_id_kri_reports")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_kri_reports_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_kri_reports_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kri_reports")),
    )
    with op.batch_alter_table("kri_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kri_reports_period"), ["period"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_kri_reports_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_kri_reports_tenant_id"), ["tenant_id"], unique=False)
    # One row per subject and version (NULL subjects coalesced: NULLs are distinct in a unique
    # index).
    op.create_index(
        "uq_kri_reports_version",
        "kri_reports",
        [
            "kind",
            "period",
            sa.text("coalesce(tenant_id, 0)"),
            sa.text("coalesce(provider_id, 0)"),
            "version",
        ],
        unique=True,
    )

    op.create_table(
        "kri_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kri_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("value", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.Column("quality_ok", sa.Boolean(), nullable=False),
        sa.Column("quality_errors", sa.JSON(), nullable=False),
        sa.Column("rag", sa.String(length=8), nullable=True),
        sa.Column("achievement", sa.String(length=16), nullable=True),
        sa.Column("met", sa.Boolean(), nullable=True),
        sa.Column("repeated", sa.Boolean(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("nc_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["kri_id"], ["kri_definitions.id"], name=op.f("fk_kri_values_kri_id_kri_definitions")
        ),
        sa.ForeignKeyConstraint(
            ["nc_id"],
            ["risk_nonconformities.id"],
            name=op.f("fk_kri_values_nc_id_risk_nonconformities"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_kri_values_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_kri_values_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kri_values")),
    )
    with op.batch_alter_table("kri_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kri_values_lookup", ["kri_id", "period", "tenant_id", "provider_id"], unique=False
        )
        batch_op.create_index("ix_kri_values_period", ["period", "current"], unique=False)


def downgrade() -> None:
    op.drop_index("uq_kri_reports_version", table_name="kri_reports")
    with op.batch_alter_table("kri_values", schema=None) as batch_op:
        batch_op.drop_index("ix_kri_values_period")
        batch_op.drop_index("ix_kri_values_lookup")

    op.drop_table("kri_values")
    with op.batch_alter_table("kri_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kri_reports_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_kri_reports_provider_id"))
        batch_op.drop_index(batch_op.f("ix_kri_reports_period"))

    op.drop_table("kri_reports")
    op.drop_table("kri_definitions")
    with op.batch_alter_table("dwh_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dwh_exports_day"))

    op.drop_table("dwh_exports")
