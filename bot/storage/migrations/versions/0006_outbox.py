"""outbox leases, failure counts and per-destination pacing shared by every instance

Revision ID: 0006_outbox
Revises: 0005_booking
"""

import sqlalchemy as sa
from alembic import op

revision = '0006_outbox'
down_revision = '0006_triage'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('leased_until', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'outbox_pace',
        sa.Column('target', sa.String(length=320), nullable=False),
        sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('target'),
    )


def downgrade() -> None:
    op.drop_table('outbox_pace')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('leased_until')
        batch_op.drop_column('failures')
