"""related tickets and other requests on a ticket

Revision ID: 0005_actions
Revises: 0005_cards
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_actions'
down_revision = '0005_cards'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('related_ticket_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('also_asks', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.create_foreign_key('fk_tickets_related_ticket_id', 'tickets', ['related_ticket_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tickets_related_ticket_id', type_='foreignkey')
        batch_op.drop_column('also_asks')
        batch_op.drop_column('related_ticket_id')
