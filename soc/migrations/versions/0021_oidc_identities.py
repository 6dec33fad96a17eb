"""OpenID Connect identities and users' sign-in source

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03

`users.auth_source` says how a user signs in ('local': password and TOTP, 'oidc': at an
identity provider). `oidc_identities` ties an issuer's subject to a user; `oidc_sessions`
keeps the ID token of a session opened through OIDC, for the logout at the provider.
"""

import sqlalchemy as sa
from alembic import op

from soc.core.db import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("auth_source", sa.String(8), nullable=False, server_default="local")
        )
    op.create_table(
        "oidc_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("issuer", "subject"),
    )
    op.create_index("ix_oidc_identities_user_id", "oidc_identities", ["user_id"])
    op.create_table(
        "oidc_sessions",
        sa.Column("token_id", sa.Integer(), sa.ForeignKey("auth_tokens.id"), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("id_token", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("oidc_sessions")
    op.drop_index("ix_oidc_identities_user_id", "oidc_identities")
    op.drop_table("oidc_identities")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("auth_source")
