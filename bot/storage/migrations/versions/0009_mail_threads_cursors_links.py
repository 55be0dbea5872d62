"""mail threads, channel cursors and patient links

- `inbound_messages.reply_ref`: how to answer this message in its own thread (an email's Message-ID, subject and
  References; Graph's id of it in the shared mailbox).
- `channel_cursors`: where a polled channel left off (an IMAP folder's UIDVALIDITY and last UID, a Graph delta
  link), so a restart neither reads twice nor skips.
- `patient_links`: a sender address a staff member linked to a patient ("Link patient" on a card).

Revision ID: 0009_mail_threads_cursors_links
Revises: 0008_chat_places
"""

import sqlalchemy as sa
from alembic import op

revision = '0009_mail_threads_cursors_links'
down_revision = '0008_chat_places'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_ref', sa.JSON(), nullable=True))
    op.create_table(
        'channel_cursors',
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('state', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'patient_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('patient_key', sa.String(length=64), nullable=False),
        sa.Column('linked_by', sa.String(length=64), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('address', name='uq_patient_link_address'),
    )


def downgrade() -> None:
    op.drop_table('patient_links')
    op.drop_table('channel_cursors')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_column('reply_ref')
