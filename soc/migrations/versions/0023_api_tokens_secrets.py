"""Scoped API tokens, encrypted secrets and signed audit checkpoints

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03

Adds `api_tokens` (integrations' tokens: hashed, scoped, expiring, revocable). Encrypts the
secrets kept in the database (the status webhooks' signing keys) with the key ring of
`SOC_SECRET_KEYS` (soc.core.secrets), widening their column for the ciphertext; values already
encrypted stay as they are, so running it again changes nothing. The downgrade decrypts them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# (table, column, plaintext length, encrypted length) of the secrets kept in the database.
SECRET_COLUMNS = (("status_subscriptions", "webhook_secret", 128, 512),)


def _ring():  # type: ignore[no-untyped-def]
    from soc.core import secrets
    from soc.core.settings import get_settings

    return secrets.keyring(get_settings())


def _convert(table: str, column: str, encrypting: bool) -> None:
    from soc.core.secrets import is_encrypted

    rows = sa.table(table, sa.column("id", sa.Integer), sa.column(column, sa.String))
    bind = op.get_bind()
    found = bind.execute(sa.select(rows.c.id, rows.c[column]).where(rows.c[column].isnot(None)))
    todo = [(i, v) for i, v in found if is_encrypted(v) != encrypting]
    if not todo:
        return  # no key is needed (nor generated) for a database without such secrets
    ring = _ring()
    for row_id, value in todo:
        new = ring.encrypt(value) if encrypting else ring.decrypt(value)
        bind.execute(rows.update().where(rows.c.id == row_id).values({column: new}))


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.create_index(batch.f("ix_api_tokens_user_id"), ["user_id"], unique=False)
    for table, column, plain, encrypted in SECRET_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(encrypted), existing_type=sa.String(plain))
        _convert(table, column, encrypting=True)


def downgrade() -> None:
    for table, column, plain, encrypted in SECRET_COLUMNS:
        _convert(table, column, encrypting=False)
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(plain), existing_type=sa.String(encrypted))
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index(batch.f("ix_api_tokens_user_id"))
    op.drop_table("api_tokens")
