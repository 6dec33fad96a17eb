"""SLA calendar chosen per tenant at onboarding

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03

Adds `tenants.sla_calendar` ('business_hours' by default, or '24x7'). The configuration that
used to carry the calendar (`SOC_CASE_24X7`, tenant slug -> priorities on 24/7) is carried
over where it meant the whole contract: a tenant whose slug lists every priority becomes
'24x7'. Partial lists (only P1, say) cannot be a tenant field and stay in the setting, which
keeps working as a per-priority override.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _all_day_slugs() -> list[str]:
    """Slugs whose configured 24/7 priorities cover every priority ('*' is left to the
    setting: it names no tenant)."""
    from soc.core.settings import get_settings

    settings = get_settings()
    every = set(settings.case_sla_minutes)
    return [
        slug
        for slug, priorities in settings.case_24x7.items()
        if slug != "*" and every <= set(priorities)
    ]


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column(
                "sla_calendar",
                sa.String(16),
                nullable=False,
                server_default="business_hours",
            )
        )
    slugs = _all_day_slugs()
    if slugs:
        tenants = sa.table("tenants", sa.column("slug", sa.String), sa.column("sla_calendar"))
        op.execute(tenants.update().where(tenants.c.slug.in_(slugs)).values(sla_calendar="24x7"))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("sla_calendar")
