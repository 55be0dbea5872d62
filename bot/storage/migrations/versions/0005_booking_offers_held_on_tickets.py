"""booking reading and offered slots held on tickets

Revision ID: 0005_booking
Revises: 0005_actions
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_booking'
down_revision = '0005_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('booking', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('booking')
