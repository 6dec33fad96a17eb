"""cmdb: CIs, relations, names, external ids, the CMDB map, change history; operational
events, share policies, maintenance, computed status and its history, incidents, outage
notices, status subscriptions; problem records may come from an operational incident

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = [
    "status_subscriptions",
    "cmdb_relations",
    "cmdb_maintenance",
    "cmdb_external_ids",
    "cmdb_ci_tenants",
    "cmdb_ci_names",
    "ops_share_policies",
    "ops_events",
    "cmdb_map",
    "cmdb_cis",
    "status_notifications",
    "ops_outage_notices",
    "ops_incidents",
    "ops_alerts",
    "cmdb_status_changes",
    "cmdb_revision",
    "cmdb_ci_status",
    "cmdb_changes",
]


def upgrade() -> None:
    op.create_table(
        "cmdb_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ci_id", sa.Integer(), nullable=True),
        sa.Column("relation_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=False),
    )
    op.create_index("ix_cmdb_changes_ci_id", "cmdb_changes", ["ci_id"])
    op.create_index("ix_cmdb_changes_relation_id", "cmdb_changes", ["relation_id"])
    op.create_table(
        "cmdb_ci_status",
        sa.Column("ci_id", sa.Integer(), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("own", sa.Boolean(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "cmdb_revision",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "cmdb_status_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ci_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_cmdb_status_changes_ci_at", "cmdb_status_changes", ["ci_id", "at"])
    op.create_table(
        "ops_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider_key", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("ci_id", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("provider_key", "fingerprint", name="uq_ops_alert"),
    )
    op.create_index("ix_ops_alerts_ci_id", "ops_alerts", ["ci_id"])
    op.create_table(
        "ops_incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("root_causes", sa.JSON(), nullable=False),
        sa.Column("applications", sa.JSON(), nullable=False),
        sa.Column("tenants", sa.JSON(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("problem_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_ops_incidents_status", "ops_incidents", ["status"])
    op.create_table(
        "ops_outage_notices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("applications", sa.JSON(), nullable=False),
        sa.Column("tenants", sa.JSON(), nullable=False),
        sa.Column("published_by", sa.String(160), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "status_notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint(
            "subscription_id", "change_id", "channel", name="uq_status_notification"
        ),
    )
    op.create_index("ix_status_notifications_state_id", "status_notifications", ["state", "id"])
    op.create_table(
        "cmdb_cis",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("ci_type", sa.String(32), nullable=False),
        sa.Column("provider_id", sa.Integer(), sa.ForeignKey("providers.id"), nullable=True),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("criticality", sa.String(16), nullable=False),
        sa.Column("always_on", sa.Boolean(), nullable=False),
        sa.Column("min_healthy", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_cmdb_cis_ci_type", "cmdb_cis", ["ci_type"])
    op.create_index("ix_cmdb_cis_name", "cmdb_cis", ["name"])
    op.create_index("ix_cmdb_cis_provider_id", "cmdb_cis", ["provider_id"])
    op.create_table(
        "cmdb_map",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ci_type", sa.String(32), nullable=False),
        sa.Column("provider_id", sa.Integer(), sa.ForeignKey("providers.id"), nullable=True),
        sa.Column("source_cmdb", sa.String(64), nullable=False),
        sa.Column("replicated_to", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.UniqueConstraint("ci_type", "provider_id", name="uq_cmdb_map"),
    )
    op.create_table(
        "ops_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider_id", sa.Integer(), sa.ForeignKey("providers.id"), nullable=True),
        sa.Column("ci_id", sa.Integer(), nullable=True),
        sa.Column("ci_ref", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_ops_events_ci_id", "ops_events", ["ci_id"])
    op.create_index("ix_ops_events_fingerprint", "ops_events", ["fingerprint"])
    op.create_index("ix_ops_events_outcome_id", "ops_events", ["outcome", "id"])
    op.create_index("ix_ops_events_provider_id", "ops_events", ["provider_id"])
    op.create_table(
        "ops_share_policies",
        sa.Column("provider_id", sa.Integer(), sa.ForeignKey("providers.id"), primary_key=True),
        sa.Column("min_severity", sa.String(16), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=True),
        sa.Column("updated_by", sa.String(160), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "cmdb_ci_names",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ci_id", sa.Integer(), sa.ForeignKey("cmdb_cis.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.UniqueConstraint("name", "ci_id", name="uq_cmdb_ci_name"),
    )
    op.create_index("ix_cmdb_ci_names_ci_id", "cmdb_ci_names", ["ci_id"])
    op.create_index("ix_cmdb_ci_names_name", "cmdb_ci_names", ["name"])
    op.create_table(
        "cmdb_ci_tenants",
        sa.Column("ci_id", sa.Integer(), sa.ForeignKey("cmdb_cis.id"), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), primary_key=True),
    )
    op.create_index("ix_cmdb_ci_tenants_tenant_id", "cmdb_ci_tenants", ["tenant_id"])
    op.create_table(
        "cmdb_external_ids",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ci_id", sa.Integer(), sa.ForeignKey("cmdb_cis.id"), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.UniqueConstraint("source", "external_id", name="uq_cmdb_external_id"),
    )
    op.create_index("ix_cmdb_external_ids_ci_id", "cmdb_external_ids", ["ci_id"])
    op.create_index("ix_cmdb_external_ids_external_id", "cmdb_external_ids", ["external_id"])
    op.create_table(
        "cmdb_maintenance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ci_id", sa.Integer(), sa.ForeignKey("cmdb_cis.id"), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("created_by", sa.String(160), nullable=False),
    )
    op.create_index("ix_cmdb_maintenance_ci_id", "cmdb_maintenance", ["ci_id"])
    op.create_table(
        "cmdb_relations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("from_ci_id", sa.Integer(), sa.ForeignKey("cmdb_cis.id"), nullable=False),
        sa.Column("to_ci_id", sa.Integer(), sa.ForeignKey("cmdb_cis.id"), nullable=False),
        sa.Column("rel_type", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(160), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("from_ci_id", "to_ci_id", "rel_type", name="uq_cmdb_relation"),
    )
    op.create_index("ix_cmdb_relations_from_ci_id", "cmdb_relations", ["from_ci_id"])
    op.create_index("ix_cmdb_relations_to_ci_id", "cmdb_relations", ["to_ci_id"])
    op.create_table(
        "status_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("ci_id", sa.Integer(), sa.ForeignKey("cmdb_cis.id"), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("webhook_url", sa.String(1000), nullable=True),
        sa.Column("webhook_secret", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "ci_id", name="uq_status_subscription"),
    )
    op.create_index("ix_status_subscriptions_ci_id", "status_subscriptions", ["ci_id"])
    op.create_index("ix_status_subscriptions_tenant_id", "status_subscriptions", ["tenant_id"])
    op.create_index("ix_status_subscriptions_user_id", "status_subscriptions", ["user_id"])
    with op.batch_alter_table("problems") as batch:
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("tenant_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("ops_incident_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tenants", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("root_cause", sa.Text(), nullable=True))
        batch.add_column(sa.Column("root_cause_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("root_cause_on_time", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("problems") as batch:
        for column in ("root_cause_on_time", "root_cause_at", "root_cause", "tenants"):
            batch.drop_column(column)
        batch.drop_column("ops_incident_id")
    for table in TABLES:
        op.drop_table(table)
