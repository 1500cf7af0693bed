"""what a client shows the citizen: its home page, logo and privacy policy

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("client_uri", "logo_uri", "policy_uri")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("clients", sa.Column(name, sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:  # SQLite drops columns by copying the table
        for name in reversed(COLUMNS):
            batch.drop_column(name)
