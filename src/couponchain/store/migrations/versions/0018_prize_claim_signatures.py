"""prize claims carry the winner's signature (issue 23); campaign changes (issue 27)

A prize code now carries the winner's EIP-712 claim signature, which the prizes
contract checks when the claim is recorded: the scan keeps it from the code and
the claim row carries it to the recorder (`claim_expiry`, `claim_signature`).

A merchant may adjust a running campaign (window end, stock, terminals); the
contract's events carry only the hash of the reason, so its text is kept off
chain in `prize_campaign_changes`, one row per change, written before the chain
call.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('prize_scans', 'prize_claims'):
        op.add_column(table, sa.Column('claim_expiry', sa.BigInteger(), nullable=True))
        op.add_column(table, sa.Column('claim_signature', sa.LargeBinary(), nullable=True))
    op.create_table('prize_campaign_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('campaign_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reason_hash', sa.String(length=66), nullable=False),
    sa.Column('changed_by', sa.String(length=32), nullable=False),
    sa.Column('requested_at', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_prize_campaign_changes_campaign_id'), 'prize_campaign_changes',
                    ['campaign_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_prize_campaign_changes_campaign_id'),
                  table_name='prize_campaign_changes')
    op.drop_table('prize_campaign_changes')
    for table in ('prize_claims', 'prize_scans'):
        op.drop_column(table, 'claim_signature')
        op.drop_column(table, 'claim_expiry')
