"""chat posts are identified by an opaque reference: platform, conversation, message id (Teams ids are long)

Revision ID: 0007_post_refs
Revises: 0006_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = '0007_post_refs'
down_revision = '0006_outbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chat_posts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_chat_post', type_='unique')
        batch_op.add_column(sa.Column('platform', sa.String(length=16), nullable=False, server_default='slack'))
        batch_op.alter_column('channel', new_column_name='conversation', existing_type=sa.String(length=64),
                              type_=sa.String(length=512), existing_nullable=False)
        batch_op.alter_column('ts', new_column_name='message_id', existing_type=sa.String(length=64),
                              type_=sa.String(length=512), existing_nullable=False)
    # Its own batch: on SQLite a constraint dropped and created under one name in one batch is left out.
    with op.batch_alter_table('chat_posts', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_chat_post', ['platform', 'conversation', 'message_id'])


def downgrade() -> None:
    with op.batch_alter_table('chat_posts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_chat_post', type_='unique')
        batch_op.alter_column('message_id', new_column_name='ts', existing_type=sa.String(length=512),
                              type_=sa.String(length=64), existing_nullable=False)
        batch_op.alter_column('conversation', new_column_name='channel', existing_type=sa.String(length=512),
                              type_=sa.String(length=64), existing_nullable=False)
        batch_op.drop_column('platform')
    with op.batch_alter_table('chat_posts', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_chat_post', ['channel', 'ts'])
