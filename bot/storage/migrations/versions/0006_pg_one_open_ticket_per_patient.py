"""one open ticket per patient, enforced by the database (a partial unique index on tickets.open_key)

Revision ID: 0006_pg
Revises: 0005_booking
"""

import sqlalchemy as sa
from alembic import op

revision = '0006_pg'
down_revision = '0005_booking'
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('open', 'claimed')")


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_key', sa.String(length=330), nullable=True))
    # A database from before may hold two open conversations for one patient (the race this index closes):
    # the newest keeps the key, the others stay open as they are, without it.
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, patient_key, sender FROM tickets WHERE status IN ('open', 'claimed') "
        "AND related_ticket_id IS NULL ORDER BY id DESC"))
    seen: set[str] = set()
    for ticket_id, patient_key, sender in rows.fetchall():
        key = f"p:{patient_key}" if patient_key else f"s:{sender}"
        if key in seen:
            continue
        seen.add(key)
        bind.execute(sa.text("UPDATE tickets SET open_key = :key WHERE id = :id"), {"key": key, "id": ticket_id})
    op.create_index('uq_tickets_one_open_per_patient', 'tickets', ['open_key'], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)


def downgrade() -> None:
    op.drop_index('uq_tickets_one_open_per_patient', table_name='tickets')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('open_key')
