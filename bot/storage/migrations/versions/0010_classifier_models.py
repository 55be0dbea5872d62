"""classifier models: the clinic's retrained classifier (`triage-bot model retrain`), and every decision about one

Revision ID: 0010_classifier_models
Revises: 0009_mail_threads_cursors_links
"""

import sqlalchemy as sa
from alembic import op

revision = '0010_classifier_models'
down_revision = '0009_mail_threads_cursors_links'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'classifier_models',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('meta', sa.JSON(), nullable=True),
        sa.Column('arrays', sa.LargeBinary(), nullable=True),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('classifier_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_classifier_models_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('classifier_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classifier_models_status'))
    op.drop_table('classifier_models')
