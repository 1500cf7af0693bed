"""upstream OpenID Connect providers that citizens may sign in with (FranceConnect), and the
identities there tied to accounts; on an account, the provider that verified its identity; on a
client, the userinfo signed as a JWT

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstreams",
        sa.Column("name", sa.String(length=40), primary_key=True),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret", sa.String(length=500), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("acr_values", sa.String(length=255), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("style", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "upstream_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("upstream", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("issuer", "subject", name="uq_upstream_identities_issuer_subject"),
    )
    op.create_index("ix_upstream_identities_user_id", "upstream_identities", ["user_id"])
    op.add_column("clients", sa.Column("userinfo_signed_response_alg", sa.String(length=8), nullable=True))
    op.add_column("users", sa.Column("identity_verified_by", sa.String(length=40), nullable=True))
    op.add_column("users", sa.Column("birthplace", sa.String(length=100), nullable=True))
    op.add_column("users", sa.Column("birthcountry", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("userinfo_signed_response_alg")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("birthcountry")
        batch.drop_column("birthplace")
        batch.drop_column("identity_verified_by")
    op.drop_index("ix_upstream_identities_user_id", table_name="upstream_identities")
    op.drop_table("upstream_identities")
    op.drop_table("upstreams")
