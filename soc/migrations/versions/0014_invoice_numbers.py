"""billing: invoice numbers (gap-free per issuer and year), dates, VAT, the parties; the
customer's invoicing identity on the billing account

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_invoice_counters",
        sa.Column("issuer", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "year", name=op.f("pk_billing_invoice_counters")),
    )
    with op.batch_alter_table("billing_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("legal_name", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("address", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("vat_number", sa.String(length=40), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("language", sa.String(length=2), nullable=False, server_default="nl")
        )
        batch_op.add_column(
            sa.Column("vat_regime", sa.String(length=16), nullable=False, server_default="standard")
        )
        batch_op.add_column(sa.Column("vat_rate", sa.String(length=40), nullable=True))
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("issued_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("vat_regime", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("vat_rate", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("vat_amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("total_due", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("parties", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_billing_invoices_number"), ["number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_invoices_number"))
        for column in (
            "parties",
            "total_due",
            "vat_amount",
            "vat_rate",
            "vat_regime",
            "due_on",
            "issued_on",
            "number",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("billing_accounts", schema=None) as batch_op:
        for column in ("vat_rate", "vat_regime", "language", "vat_number", "address", "legal_name"):
            batch_op.drop_column(column)
    op.drop_table("billing_invoice_counters")
