"""Signed audit checkpoints

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03

`audit_checkpoints` (the chain's head signed with the integrator's Ed25519 key) and
`audit_checkpoint_tenants` (per checkpoint, each tenant's signed statement of its entries).
Both are append-only, refused UPDATE and DELETE by triggers as the audit log is.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TABLES = ("audit_checkpoints", "audit_checkpoint_tenants")


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("head_id", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("taken_by", sa.String(160), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_checkpoint_tenants",
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("statement_sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["audit_checkpoints.id"],
            name=op.f("fk_audit_checkpoint_tenants_checkpoint_id_audit_checkpoints"),
        ),
        sa.PrimaryKeyConstraint(
            "checkpoint_id", "tenant_id", name=op.f("pk_audit_checkpoint_tenants")
        ),
    )
    with op.batch_alter_table("audit_checkpoint_tenants") as batch:
        batch.create_index(
            batch.f("ix_audit_checkpoint_tenants_tenant_id"), ["tenant_id"], unique=False
        )
    _append_only()


def _append_only() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
    for table in TABLES:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        elif dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only()"
            )


def downgrade() -> None:
    with op.batch_alter_table("audit_checkpoint_tenants") as batch:
        batch.drop_index(batch.f("ix_audit_checkpoint_tenants_tenant_id"))
    op.drop_table("audit_checkpoint_tenants")
    op.drop_table("audit_checkpoints")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_checkpoints_append_only()")
