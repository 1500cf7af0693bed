"""resource servers (RFC 8707): their identifiers, scopes and introspection clients; the resources
an authorization named, kept with its refresh tokens

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("identifier", sa.String(length=500), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("scope_descriptions", sa.JSON(), nullable=False),
        sa.Column("access_token_alg", sa.String(length=8), nullable=False),
        sa.Column("access_token_ttl", sa.Integer(), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("client_id", sa.String(length=64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.add_column("refresh_tokens", sa.Column("resources", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("resources")
    op.drop_table("resources")
