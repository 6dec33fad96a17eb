"""risk register: risks (tenants, providers, links, field history), acceptances, the action
registers with notes, evidence, deadline changes, non-conformities, notifications, the
monthly follow-up archive

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import soc.core.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("generated_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_risk_followups_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_followups")),
    )
    with op.batch_alter_table("risk_followups", schema=None) as batch_op:
        batch_op.create_index("ix_risk_followups_month_tenant", ["month", "tenant_id"], unique=True)
        batch_op.create_index(
            "ix_risk_followups_common_month",
            ["month"],
            unique=True,
            sqlite_where=sa.text("tenant_id IS NULL"),
            postgresql_where=sa.text("tenant_id IS NULL"),
        )

    op.create_table(
        "risk_nonconformities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("ci_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_risk_nonconformities_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_risk_nonconformities_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_nonconformities")),
    )
    with op.batch_alter_table("risk_nonconformities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_nonconformities_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_nonconformities_status"), ["status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_nonconformities_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "risk_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("party", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_risk_notifications_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_risk_notifications_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_risk_notifications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_notifications")),
    )
    with op.batch_alter_table("risk_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_risk_notifications_party", ["party", "tenant_id", "at"], unique=False
        )

    op.create_table(
        "risks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("owner_name", sa.String(length=200), nullable=False),
        sa.Column("owning_provider_id", sa.Integer(), nullable=True),
        sa.Column("likelihood", sa.Integer(), nullable=False),
        sa.Column("impact", sa.Integer(), nullable=False),
        sa.Column("residual_likelihood", sa.Integer(), nullable=False),
        sa.Column("residual_impact", sa.Integer(), nullable=False),
        sa.Column("treatment", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("review_cadence_days", sa.Integer(), nullable=True),
        sa.Column("review_reminded_on", sa.Date(), nullable=True),
        sa.Column("aligned_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("aligned_by", sa.String(length=200), nullable=True),
        sa.Column("advice", sa.Text(), nullable=False),
        sa.Column("acceptance_state", sa.String(length=16), nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_risks_owner_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["owning_provider_id"],
            ["providers.id"],
            name=op.f("fk_risks_owning_provider_id_providers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risks")),
    )
    with op.batch_alter_table("risks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risks_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_risks_external_ref"), ["external_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_risks_owner_user_id"), ["owner_user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_risks_owning_provider_id"), ["owning_provider_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risks_review_date"), ["review_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_risks_scope"), ["scope"], unique=False)
        batch_op.create_index(batch_op.f("ix_risks_status"), ["status"], unique=False)

    op.create_table(
        "risk_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("risk_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("request_note", sa.Text(), nullable=False),
        sa.Column("residual_score", sa.Integer(), nullable=False),
        sa.Column("scope_key", sa.String(length=400), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("authority_by", sa.String(length=200), nullable=True),
        sa.Column("authority_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("customer_by", sa.String(length=200), nullable=True),
        sa.Column("customer_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=32), nullable=True),
        sa.Column("ended_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["risk_id"], ["risks.id"], name=op.f("fk_risk_acceptances_risk_id_risks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_acceptances")),
    )
    with op.batch_alter_table("risk_acceptances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_acceptances_risk_id"), ["risk_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_acceptances_status"), ["status"], unique=False)

    op.create_table(
        "risk_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("register", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("risk_id", sa.Integer(), nullable=True),
        sa.Column("nc_id", sa.Integer(), nullable=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("owner_provider_id", sa.Integer(), nullable=True),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("owner_name", sa.String(length=200), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("proposed_mitigation", sa.Text(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress_pct", sa.Integer(), nullable=False),
        sa.Column("handled_on", sa.Date(), nullable=True),
        sa.Column("warned_on", sa.Date(), nullable=True),
        sa.Column("warning_late", sa.Boolean(), nullable=False),
        sa.Column("outside_ecosystem", sa.Boolean(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("ci_id", sa.Integer(), nullable=True),
        sa.Column("window_start", sa.Date(), nullable=True),
        sa.Column("window_end", sa.Date(), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["nc_id"],
            ["risk_nonconformities.id"],
            name=op.f("fk_risk_actions_nc_id_risk_nonconformities"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_provider_id"],
            ["providers.id"],
            name=op.f("fk_risk_actions_owner_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_risk_actions_owner_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["risk_id"], ["risks.id"], name=op.f("fk_risk_actions_risk_id_risks")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_risk_actions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_actions")),
    )
    with op.batch_alter_table("risk_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_actions_due"), ["due"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_risk_actions_external_ref"), ["external_ref"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risk_actions_nc_id"), ["nc_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_risk_actions_owner_provider_id"), ["owner_provider_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_actions_owner_user_id"), ["owner_user_id"], unique=False
        )
        batch_op.create_index(
            "ix_risk_actions_register_status", ["register", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risk_actions_risk_id"), ["risk_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_actions_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_actions_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "risk_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("risk_id", sa.Integer(), nullable=False),
        sa.Column("at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["risk_id"], ["risks.id"], name=op.f("fk_risk_changes_risk_id_risks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_changes")),
    )
    with op.batch_alter_table("risk_changes", schema=None) as batch_op:
        batch_op.create_index("ix_risk_changes_risk_at", ["risk_id", "at"], unique=False)

    op.create_table(
        "risk_links",
        sa.Column("risk_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["risk_id"], ["risks.id"], name=op.f("fk_risk_links_risk_id_risks")
        ),
        sa.PrimaryKeyConstraint("risk_id", "kind", "target_id", name=op.f("pk_risk_links")),
    )
    op.create_table(
        "risk_providers",
        sa.Column("risk_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_risk_providers_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["risk_id"], ["risks.id"], name=op.f("fk_risk_providers_risk_id_risks")
        ),
        sa.PrimaryKeyConstraint("risk_id", "provider_id", name=op.f("pk_risk_providers")),
    )
    with op.batch_alter_table("risk_providers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_providers_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "risk_tenants",
        sa.Column("risk_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["risk_id"], ["risks.id"], name=op.f("fk_risk_tenants_risk_id_risks")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_risk_tenants_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("risk_id", "tenant_id", name=op.f("pk_risk_tenants")),
    )
    with op.batch_alter_table("risk_tenants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_tenants_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "risk_action_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["risk_actions.id"],
            name=op.f("fk_risk_action_evidence_action_id_risk_actions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_action_evidence")),
    )
    with op.batch_alter_table("risk_action_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_action_evidence_action_id"), ["action_id"], unique=False
        )

    op.create_table(
        "risk_action_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("progress_pct", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["risk_actions.id"],
            name=op.f("fk_risk_action_notes_action_id_risk_actions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_action_notes")),
    )
    with op.batch_alter_table("risk_action_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_action_notes_action_id"), ["action_id"], unique=False
        )

    op.create_table(
        "risk_deadline_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("old_due", sa.Date(), nullable=False),
        sa.Column("new_due", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approver", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", soc.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", soc.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["risk_actions.id"],
            name=op.f("fk_risk_deadline_changes_action_id_risk_actions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_deadline_changes")),
    )
    with op.batch_alter_table("risk_deadline_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_deadline_changes_action_id"), ["action_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_deadline_changes_status"), ["status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("risk_deadline_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_deadline_changes_status"))
        batch_op.drop_index(batch_op.f("ix_risk_deadline_changes_action_id"))

    op.drop_table("risk_deadline_changes")
    with op.batch_alter_table("risk_action_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_action_notes_action_id"))

    op.drop_table("risk_action_notes")
    with op.batch_alter_table("risk_action_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_action_evidence_action_id"))

    op.drop_table("risk_action_evidence")
    with op.batch_alter_table("risk_tenants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_tenants_tenant_id"))

    op.drop_table("risk_tenants")
    with op.batch_alter_table("risk_providers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_providers_provider_id"))

    op.drop_table("risk_providers")
    op.drop_table("risk_links")
    with op.batch_alter_table("risk_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_changes_risk_at")

    op.drop_table("risk_changes")
    with op.batch_alter_table("risk_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_actions_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_risk_actions_status"))
        batch_op.drop_index(batch_op.f("ix_risk_actions_risk_id"))
        batch_op.drop_index("ix_risk_actions_register_status")
        batch_op.drop_index(batch_op.f("ix_risk_actions_owner_user_id"))
        batch_op.drop_index(batch_op.f("ix_risk_actions_owner_provider_id"))
        batch_op.drop_index(batch_op.f("ix_risk_actions_nc_id"))
        batch_op.drop_index(batch_op.f("ix_risk_actions_external_ref"))
        batch_op.drop_index(batch_op.f("ix_risk_actions_due"))

    op.drop_table("risk_actions")
    with op.batch_alter_table("risk_acceptances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_acceptances_status"))
        batch_op.drop_index(batch_op.f("ix_risk_acceptances_risk_id"))

    op.drop_table("risk_acceptances")
    with op.batch_alter_table("risks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risks_status"))
        batch_op.drop_index(batch_op.f("ix_risks_scope"))
        batch_op.drop_index(batch_op.f("ix_risks_review_date"))
        batch_op.drop_index(batch_op.f("ix_risks_owning_provider_id"))
        batch_op.drop_index(batch_op.f("ix_risks_owner_user_id"))
        batch_op.drop_index(batch_op.f("ix_risks_category"))
        batch_op.drop_index(batch_op.f("ix_risks_external_ref"))

    op.drop_table("risks")
    with op.batch_alter_table("risk_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_notifications_party")

    op.drop_table("risk_notifications")
    with op.batch_alter_table("risk_nonconformities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_nonconformities_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_risk_nonconformities_status"))
        batch_op.drop_index(batch_op.f("ix_risk_nonconformities_provider_id"))

    op.drop_table("risk_nonconformities")
    with op.batch_alter_table("risk_followups", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_followups_common_month")
        batch_op.drop_index("ix_risk_followups_month_tenant")

    op.drop_table("risk_followups")
