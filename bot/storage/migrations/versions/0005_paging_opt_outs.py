"""opt-outs (STOP / START) per channel and address

Revision ID: 0005_paging
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_paging'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'opt_outs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('opted_back_in_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('keyword', sa.String(length=32), nullable=False, server_default=''),
        sa.Column('back_in_keyword', sa.String(length=32), nullable=False, server_default=''),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('back_in_message_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_opt_outs_address', 'opt_outs', ['channel', 'address'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_opt_outs_address', table_name='opt_outs')
    op.drop_table('opt_outs')
