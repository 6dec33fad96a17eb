"""billing (issue 6: usage months, plans, invoices)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Adds the case meter (usage_daily.cases) and an index on usage_daily.day (the monthly close
sums one month for every tenant), the per-host meter, and the billing tables. Money is integer
cents, quantities decimal text: exact on SQLite and PostgreSQL alike.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants")
    )


def upgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cases", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.create_index(batch_op.f("ix_usage_daily_day"), ["day"], unique=False)

    op.create_table(
        "usage_host_daily",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        _tenant_fk("usage_host_daily"),
        sa.PrimaryKeyConstraint("tenant_id", "day", "host", name=op.f("pk_usage_host_daily")),
    )
    op.create_table(
        "billing_accounts",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("service_start", sa.String(length=7), nullable=False),
        sa.Column("ceiling", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("billing_accounts"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_billing_accounts")),
    )
    op.create_table(
        "billing_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("effective_month", sa.String(length=7), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=160), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _tenant_fk("billing_plans"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_plans")),
        sa.UniqueConstraint(
            "tenant_id", "effective_month", name=op.f("uq_billing_plans_tenant_id")
        ),
    )
    op.create_index(op.f("ix_billing_plans_tenant_id"), "billing_plans", ["tenant_id"])
    op.create_table(
        "billing_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=160), nullable=False),
        sa.Column("prices", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_billing_months")),
    )
    op.create_table(
        "billing_invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("months_in_average", sa.Integer(), nullable=False),
        sa.Column("avg_gb_3m", sa.String(length=40), nullable=False),
        sa.Column("avg_cases_3m", sa.String(length=40), nullable=False),
        sa.Column("enterprise_eligible", sa.Boolean(), nullable=False),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("case_tier", sa.String(length=16), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("billing_invoices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoices")),
        sa.UniqueConstraint("tenant_id", "month", name=op.f("uq_billing_invoices_tenant_id")),
    )
    op.create_index(op.f("ix_billing_invoices_month"), "billing_invoices", ["month"])
    op.create_index(op.f("ix_billing_invoices_tenant_id"), "billing_invoices", ["tenant_id"])
    op.create_table(
        "billing_invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("quantity", sa.String(length=40), nullable=False),
        sa.Column("unit_price", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing_invoices.id"],
            name=op.f("fk_billing_invoice_lines_invoice_id_billing_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoice_lines")),
    )
    op.create_index(
        op.f("ix_billing_invoice_lines_invoice_id"), "billing_invoice_lines", ["invoice_id"]
    )
    op.create_table(
        "billing_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("refers_to", sa.String(length=7), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        _tenant_fk("billing_corrections"),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing_invoices.id"],
            name=op.f("fk_billing_corrections_invoice_id_billing_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_corrections")),
    )
    op.create_index(op.f("ix_billing_corrections_month"), "billing_corrections", ["month"])
    op.create_index(op.f("ix_billing_corrections_tenant_id"), "billing_corrections", ["tenant_id"])
    op.create_table(
        "billing_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("billing_notifications"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_notifications")),
        sa.UniqueConstraint(
            "tenant_id", "month", "kind", name=op.f("uq_billing_notifications_tenant_id")
        ),
    )
    op.create_index(
        op.f("ix_billing_notifications_tenant_id"), "billing_notifications", ["tenant_id"]
    )


def downgrade() -> None:
    for table in (
        "billing_notifications",
        "billing_corrections",
        "billing_invoice_lines",
        "billing_invoices",
        "billing_months",
        "billing_plans",
        "billing_accounts",
        "usage_host_daily",
    ):
        op.drop_table(table)
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_daily_day"))
        batch_op.drop_column("cases")
