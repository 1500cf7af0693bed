"""roles (the help desk's), TOTP second factors and their recovery codes

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _user_id(primary_key: bool = False) -> sa.Column:
    return sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                     primary_key=primary_key, nullable=False)


def upgrade() -> None:
    op.create_table("user_roles", _user_id(primary_key=True),
                    sa.Column("role", sa.String(length=32), primary_key=True),
                    sa.Column("granted_at", sa.DateTime(), nullable=False))
    op.create_table("second_factors", _user_id(primary_key=True),
                    sa.Column("totp_secret", sa.String(length=64), nullable=False),
                    sa.Column("last_step", sa.Integer(), nullable=True),
                    sa.Column("confirmed_at", sa.DateTime(), nullable=False))
    op.create_table("recovery_codes", sa.Column("id", sa.Integer(), primary_key=True), _user_id(),
                    sa.Column("code_hash", sa.String(length=100), nullable=False),
                    sa.Column("used_at", sa.DateTime(), nullable=True))
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_recovery_codes_user_id", table_name="recovery_codes")
    for table in ("recovery_codes", "second_factors", "user_roles"):
        op.drop_table(table)
