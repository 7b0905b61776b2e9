"""prize claims indexed by campaign and consumer

Every scan and every claim counts a consumer's claims in the campaign (the
per-consumer limit). With an index on the campaign alone, that count visited
every claim of the campaign; (campaign, consumer) finds the consumer's own.
The new index serves queries by campaign alone too, so it replaces that one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 19:05:00
"""

from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_TABLES = ('prize_claims', 'prize_claim_records')


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_campaign_id')
            batch_op.create_index(f'ix_{table}_campaign_consumer', ['campaign_id', 'consumer'],
                                  unique=False)


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_campaign_consumer')
            batch_op.create_index(f'ix_{table}_campaign_id', ['campaign_id'], unique=False)
