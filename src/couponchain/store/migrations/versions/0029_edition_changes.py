"""edition changes: pause, resume and extend an edition (issue 25)

`edition_records.paused` and `edition_changes` are read models (the editions
contract's EditionPaused, EditionResumed and EditionExtended events);
`edition_change_reasons` keeps the reasons' text by hash (kept, never rebuilt).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 22:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('edition_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.create_table('edition_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('edition_id', sa.BigInteger(), nullable=False),
    sa.Column('action', sa.String(length=12), nullable=False),
    sa.Column('actor', sa.String(length=42), nullable=False),
    sa.Column('old_valid_until', sa.BigInteger(), nullable=True),
    sa.Column('valid_until', sa.BigInteger(), nullable=True),
    sa.Column('reason_hash', sa.String(length=66), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('block_hash', sa.String(length=66), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('block_hash', 'log_index')
    )
    with op.batch_alter_table('edition_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_edition_changes_edition_id'), ['edition_id'],
                              unique=False)
    op.create_table('edition_change_reasons',
    sa.Column('reason_hash', sa.String(length=66), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('reason_hash')
    )


def downgrade() -> None:
    op.drop_table('edition_change_reasons')
    with op.batch_alter_table('edition_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_edition_changes_edition_id'))
    op.drop_table('edition_changes')
    with op.batch_alter_table('edition_records', schema=None) as batch_op:
        batch_op.drop_column('paused')
