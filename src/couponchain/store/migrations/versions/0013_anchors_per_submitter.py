"""access-log anchors keyed per submitter (issue 23)

The marketing contract keys anchors by (submitter, batch id), so one caller
can no longer take or block another's ids. The read model follows: its key
becomes (submitter, batch_id), or a rogue terminal anchoring an id the
platform's service uses would stop the indexer on a duplicate key.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 04:10:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

COLUMNS = ('submitter, batch_id, merchant, merkle_root, record_count, first_time, '
           'last_time, block_number, tx_hash, timestamp')


def _rebuild(key: list[str]) -> None:
    """Copy the table into one with primary key `key` (a copy, not an ALTER: the
    first key was unnamed, and SQLite cannot change a primary key in place)."""
    op.create_table('marketing_anchors_next',
    sa.Column('submitter', sa.String(length=42), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('merchant', sa.String(length=42), nullable=True),
    sa.Column('merkle_root', sa.String(length=66), nullable=False),
    sa.Column('record_count', sa.BigInteger(), nullable=False),
    sa.Column('first_time', sa.BigInteger(), nullable=False),
    sa.Column('last_time', sa.BigInteger(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint(*key)
    )
    op.execute(f'INSERT INTO marketing_anchors_next ({COLUMNS}) '
               f'SELECT {COLUMNS} FROM marketing_anchors')
    with op.batch_alter_table('marketing_anchors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marketing_anchors_merchant'))
    op.drop_table('marketing_anchors')
    op.rename_table('marketing_anchors_next', 'marketing_anchors')
    with op.batch_alter_table('marketing_anchors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marketing_anchors_merchant'), ['merchant'],
                              unique=False)


def upgrade() -> None:
    _rebuild(['submitter', 'batch_id'])


def downgrade() -> None:
    # Only sound while no two submitters used the same id (the old contract's rule).
    _rebuild(['batch_id'])
