"""the algorithm of each client's access tokens (RS256, or ES256: twenty times cheaper to sign)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("access_token_alg", sa.String(length=8), nullable=False,
                                       server_default="RS256"))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("access_token_alg")
