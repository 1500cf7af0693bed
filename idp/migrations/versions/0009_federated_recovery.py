"""lost mailboxes recovered through an upstream that verifies identities: the upstream's setting,
help requests that came with a verified identity, and the recoveries that wait before they apply

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("upstreams", sa.Column("verifies_identity", sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    op.execute("UPDATE upstreams SET verifies_identity = TRUE WHERE style = 'franceconnect'")
    op.add_column("help_requests", sa.Column("identity_verified_by", sa.String(length=40), nullable=True))
    op.create_table(
        "federated_recoveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("new_email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("upstream", sa.String(length=40), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("birthplace", sa.String(length=100), nullable=True),
        sa.Column("birthcountry", sa.String(length=100), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_federated_recoveries_user_id", "federated_recoveries", ["user_id"])
    op.create_index("ix_federated_recoveries_due", "federated_recoveries", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_federated_recoveries_due", table_name="federated_recoveries")
    op.drop_index("ix_federated_recoveries_user_id", table_name="federated_recoveries")
    op.drop_table("federated_recoveries")
    with op.batch_alter_table("help_requests") as batch:
        batch.drop_column("identity_verified_by")
    with op.batch_alter_table("upstreams") as batch:
        batch.drop_column("verifies_identity")
