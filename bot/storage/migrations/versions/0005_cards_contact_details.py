"""contact details a web form gave besides its reply address (phone and email both kept)

Revision ID: 0005_cards
Revises: 0005_paging
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_cards'
down_revision = '0005_paging'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_phone', sa.String(length=40), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('sender_email', sa.String(length=320), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_column('sender_email')
        batch_op.drop_column('sender_phone')
