"""Tenant-local administrators and user sessions

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03

A session (`auth_tokens` row) now keeps when it was last used and the browser (user agent)
and address it was opened from, so its user can recognise it and end it. The `tenant_admin`
role needs no schema: roles are strings.
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_tokens") as batch:
        batch.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("user_agent", sa.String(300), nullable=True))
        batch.add_column(sa.Column("ip", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_tokens") as batch:
        batch.drop_column("ip")
        batch.drop_column("user_agent")
        batch.drop_column("last_used_at")
