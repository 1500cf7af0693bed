"""clients with keys (private_key_jwt, RFC 7523) and a profile (FAPI 2.0)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("jwks_uri", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("profile", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("profile")
        batch.drop_column("jwks_uri")
        batch.drop_column("jwks")
