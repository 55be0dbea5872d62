"""chat places: the conversations a messenger told the bot it may post in (Teams channels, personal chats)

Revision ID: 0008_chat_places
Revises: 0007_post_refs
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_chat_places'
down_revision = '0007_post_refs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'chat_places',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('conversation', sa.String(length=512), nullable=False),
        sa.Column('service_url', sa.String(length=512), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=True),
        sa.Column('team', sa.String(length=512), nullable=True),
        sa.Column('team_name', sa.String(length=256), nullable=True),
        sa.Column('channel_name', sa.String(length=256), nullable=True),
        sa.Column('user', sa.String(length=128), nullable=True),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('platform', 'conversation', name='uq_chat_place'),
    )
    with op.batch_alter_table('chat_places', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_places_user'), ['user'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('chat_places', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_places_user'))
    op.drop_table('chat_places')
