"""folded names for finding the same person; help-desk requests

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from idp.identity import name_key

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("given_name_key", sa.String(length=100), nullable=False, server_default=""))
        batch.add_column(sa.Column("family_name_key", sa.String(length=100), nullable=False, server_default=""))
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("given_name", sa.String),
                     sa.column("family_name", sa.String), sa.column("given_name_key", sa.String),
                     sa.column("family_name_key", sa.String))
    connection = op.get_bind()
    for row in connection.execute(sa.select(users.c.id, users.c.given_name, users.c.family_name)).all():
        connection.execute(users.update().where(users.c.id == row.id).values(
            given_name_key=name_key(row.given_name), family_name_key=name_key(row.family_name)))
    op.create_index("ix_users_identity", "users", ["family_name_key", "given_name_key", "birthdate"])
    op.create_table(
        "help_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("birthdate", sa.Date(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("new_email", sa.String(length=254), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_help_requests_state", "help_requests", ["state", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_help_requests_state", table_name="help_requests")
    op.drop_table("help_requests")
    op.drop_index("ix_users_identity", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("family_name_key")
        batch.drop_column("given_name_key")
