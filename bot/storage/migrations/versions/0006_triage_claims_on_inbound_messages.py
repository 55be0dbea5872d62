"""triage claims on stored messages: a lease, the next attempt time and the last failure's class

Revision ID: 0006_triage
Revises: 0005_booking
"""

import sqlalchemy as sa
from alembic import op

revision = '0006_triage'
down_revision = '0006_pg'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error_class', sa.String(length=100), nullable=True))
        batch_op.create_index('ix_inbound_pending', ['processed_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_pending')
        batch_op.drop_column('last_error_class')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('claimed_until')
