"""detection management (issue 4: rule state per tenant, exceptions, correlation state)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Adds alerts.related_event_ids (correlation alerts) and the per-tenant rule management tables:
rule_settings (enable/disable by rule, level, status, tag, product), tenant_rules (Sigma YAML
per tenant), rule_exceptions (suppression filters with expiry), field_mappings (a tenant's own
field name -> Sigma field) and detection_revisions (bumped on each change so detectors know
when to rebuild their cached view of a tenant).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants")
    )


def _tenant_index(table: str) -> None:
    op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"], unique=False)


def upgrade() -> None:
    # Correlation alerts carry the ids of their contributing events (JSON list).
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("related_event_ids", sa.Text(), nullable=True))

    op.create_table(
        "rule_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("selector", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=160), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("rule_settings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_settings")),
        sa.UniqueConstraint("tenant_id", "selector", "value", name="uq_rule_setting"),
    )
    _tenant_index("rule_settings")
    op.create_table(
        "tenant_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("changed_by", sa.String(length=160), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("tenant_rules"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_rules")),
        sa.UniqueConstraint("tenant_id", "rule_id", name="uq_tenant_rule"),
    )
    _tenant_index("tenant_rules")
    op.create_table(
        "rule_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=160), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("rule_exceptions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_exceptions")),
    )
    _tenant_index("rule_exceptions")
    op.create_table(
        "field_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("source_field", sa.String(length=200), nullable=False),
        sa.Column("sigma_field", sa.String(length=200), nullable=False),
        sa.Column("author", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("field_mappings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_mappings")),
        sa.UniqueConstraint("tenant_id", "source_field", name="uq_field_mapping"),
    )
    _tenant_index("field_mappings")
    op.create_table(
        "detection_revisions",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        _tenant_fk("detection_revisions"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_detection_revisions")),
    )


def downgrade() -> None:
    op.drop_table("detection_revisions")
    for table in ("field_mappings", "rule_exceptions", "tenant_rules", "rule_settings"):
        op.drop_index(op.f(f"ix_{table}_tenant_id"), table_name=table)
        op.drop_table(table)
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("related_event_ids")
