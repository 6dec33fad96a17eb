"""detection management (issue 4: rule state per tenant, exceptions, correlation state)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Correlation alerts carry the ids of their contributing events (JSON list).
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("related_event_ids", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("related_event_ids")
