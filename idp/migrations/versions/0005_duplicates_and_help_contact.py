"""accounts marked as possible duplicates; a phone number and postal address in help requests

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DUPLICATE_KEY = "fk_users_possible_duplicate_of"
HELP_CONTACT = (("phone_number", 32), ("street_address", 200), ("postal_code", 16), ("locality", 100))


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("possible_duplicate_of", sa.Integer(), nullable=True))
        batch.create_foreign_key(DUPLICATE_KEY, "users", ["possible_duplicate_of"], ["id"], ondelete="SET NULL")
    for name, length in HELP_CONTACT:
        op.add_column("help_requests", sa.Column(name, sa.String(length=length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("help_requests") as batch:  # SQLite drops columns by copying the table
        for name, _length in reversed(HELP_CONTACT):
            batch.drop_column(name)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(DUPLICATE_KEY, type_="foreignkey")
        batch.drop_column("possible_duplicate_of")
